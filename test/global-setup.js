/**
 * Jest global setup: every temporary file or directory the tests (and the
 * processes they start) make goes under one fresh directory for this run,
 * by pointing TMPDIR (which os.tmpdir() reads) at it; global-teardown.js
 * removes it. Test workers and their children inherit the variable.
 */
const { chmodSync, mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

module.exports = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-test-run-'));
  // As /tmp lets them: the Debian servers of the interop suite run as their own users and must reach their files.
  chmodSync(dir, 0o755);
  process.env.ROAMGATE_TEST_TMPDIR = dir;
  process.env.TMPDIR = dir;
};
