import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OLD_SPACE_FLOOR_MB, withOldSpaceFloor } from '../../bin/heap-tuning';
import { DEFAULT_SHUTDOWN_GRACE_MS } from '../../plugin/defaults';

const UNIT = join(__dirname, '..', '..', 'examples', 'systemd', 'roamgate.service');
const text = readFileSync(UNIT, 'utf8');

/** The unit's settings: section -> key -> values (a key may be given more than once). */
function parseUnit(unit: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  for (const raw of unit.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = new Map();
      sections.set(header[1], section);
      continue;
    }
    const at = line.indexOf('=');
    if (!section || at < 1) throw new Error(`not a unit line: ${raw}`);
    const key = line.slice(0, at);
    section.set(key, [...(section.get(key) ?? []), line.slice(at + 1)]);
  }
  return sections;
}

describe('examples/systemd/roamgate.service', () => {
  const unit = parseUnit(text);
  const service = unit.get('Service')!;
  const one = (key: string) => service.get(key)?.join(' ');

  test('keeps freed memory up to 64 MiB instead of returning it at once (glibc), and Node starts with that setting', () => {
    const environment = service.get('Environment') ?? [];
    expect(environment).toEqual(['NODE_ENV=production', 'GLIBC_TUNABLES=glibc.malloc.trim_threshold=67108864']);
    const tunables = environment[1]!.slice('GLIBC_TUNABLES='.length);
    const started = spawnSync(process.execPath, ['-e', 'console.log(Buffer.alloc(1 << 20).length)'], {
      env: { ...process.env, GLIBC_TUNABLES: tunables },
      encoding: 'utf8',
    });
    expect([started.status, started.stdout.trim(), started.stderr]).toEqual([0, '1048576', '']);
  });

  test("runs node with the old-space floor roamgate's workers get, which this Node accepts", () => {
    const flag = `--initial-old-space-size=${OLD_SPACE_FLOOR_MB}`;
    expect(one('ExecStart')!.split(' ').slice(0, 3)).toEqual(['/usr/bin/env', 'node', flag]);
    expect(withOldSpaceFloor([])).toEqual([flag]);
    const started = spawnSync(process.execPath, [flag, '-e', 'console.log(require("v8").getHeapStatistics().heap_size_limit > 0)'], {
      encoding: 'utf8',
    });
    expect([started.status, started.stdout.trim(), started.stderr]).toEqual([0, 'true', '']);
  });

  test('has the three sections', () => {
    expect([...unit.keys()]).toEqual(['Unit', 'Service', 'Install']);
    expect(unit.get('Install')!.get('WantedBy')).toEqual(['multi-user.target']);
  });

  test.each([
    ['ExecStart', '/usr/bin/env node --initial-old-space-size=64 /usr/local/bin/roamgate serve --config /etc/roamgate/gateway.yaml'],
    ['ExecReload', '/bin/kill -HUP $MAINPID'],
    ['Restart', 'on-failure'],
    ['RestartPreventExitStatus', '2'],
    ['DynamicUser', 'yes'],
    ['StateDirectory', 'roamgate'],
    ['NoNewPrivileges', 'yes'],
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'yes'],
    ['PrivateTmp', 'yes'],
    ['PrivateDevices', 'yes'],
    ['CapabilityBoundingSet', 'CAP_NET_BIND_SERVICE'],
    ['AmbientCapabilities', 'CAP_NET_BIND_SERVICE'],
    ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX AF_NETLINK'],
    ['SystemCallFilter', '@system-service'],
    ['LimitNOFILE', '65536'],
  ])('%s=%s', (key, value) => {
    expect(one(key)).toBe(value);
  });

  test('MemoryDenyWriteExecute is off (V8 JIT), and the file says why', () => {
    expect(service.has('MemoryDenyWriteExecute')).toBe(false);
    expect(text).toMatch(/# MemoryDenyWriteExecute=yes is left out on purpose: Node's V8 JIT/);
  });

  test('the stop timeout covers the default shutdown grace period', () => {
    expect(Number(one('TimeoutStopSec')) * 1000).toBeGreaterThan(DEFAULT_SHUTDOWN_GRACE_MS);
  });

  const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
  (analyze ? test : test.skip)(
    'systemd-analyze verify accepts it without a word (with ExecStart pointing at a program that exists here)',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'roamgate-unit-'));
      const copy = join(dir, 'roamgate.service');
      writeFileSync(copy, text.replace(/^ExecStart=\/usr\/local\/bin\/roamgate /m, `ExecStart=${process.execPath} `));
      // It exits 0 on an unknown or misspelt key, only saying so: nothing said is the pass.
      const verify = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
      expect({ status: verify.status, said: `${verify.stdout}${verify.stderr}` }).toEqual({ status: 0, said: '' });
    },
  );
});
