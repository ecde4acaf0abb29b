/** Jest global teardown: removes the run's temporary directory made by global-setup.js. */
const { rmSync } = require('node:fs');

module.exports = async () => {
  const dir = process.env.ROAMGATE_TEST_TMPDIR;
  if (dir) rmSync(dir, { recursive: true, force: true });
};
