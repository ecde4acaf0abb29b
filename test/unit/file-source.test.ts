import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RoamgateError } from '../../errors';
import { FileSource, readTableFile } from '../../sources/file-source';
import { idle } from '../helpers/until';

let dir: string;
let path: string;
const sources: FileSource[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'roamgate-file-source-'));
  path = join(dir, 'servers.yaml');
});
afterEach(() => {
  for (const source of sources.splice(0)) source.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Opens a FileSource on `path` (closed after the test) and records what it reports. */
function open(pollIntervalMs = 60_000) {
  const errors: RoamgateError[] = [];
  const reloads: number[] = [];
  const source = new FileSource({ path, pollIntervalMs, onError: (error) => errors.push(error), onReload: (count) => reloads.push(count) });
  sources.push(source);
  return { source, errors, reloads };
}

const hostsOf = (source: FileSource, service: string) =>
  source.resolve(service).map((server) => `${server.host}:${server.port}/${server.priority}`);

const FIRST = 'smtp:\n  - host: mx1.example.org\n    port: 25\n    priority: 10\n';
const SECOND = 'smtp:\n  - host: mx2.example.org\n    port: 2525\npop3:\n  - { host: 10.0.0.3, port: 110, priority: 1 }\n';

describe('FileSource: reading', () => {
  test('reads a YAML table', () => {
    writeFileSync(path, FIRST);
    const { source } = open();
    expect(hostsOf(source, 'smtp')).toEqual(['mx1.example.org:25/10']);
    expect(source.list()).toEqual([
      { id: 'file:smtp:mx1.example.org:25', service: 'smtp', origin: 'file', host: 'mx1.example.org', port: 25, priority: 10 },
    ]);
  });

  test('reads a JSON table', () => {
    writeFileSync(path, JSON.stringify({ nntp: [{ host: 'news.example.org', port: 119 }] }));
    expect(hostsOf(open().source, 'nntp')).toEqual(['news.example.org:119/10']);
  });

  test('an empty file is an empty table', () => {
    writeFileSync(path, '');
    expect(open().source.list()).toEqual([]);
  });

  test('an edit applies after reload(), which reports the change to watchers and onReload', () => {
    writeFileSync(path, FIRST);
    const { source, errors, reloads } = open();
    const onChange = jest.fn();
    source.watch(onChange);
    writeFileSync(path, SECOND);
    expect(source.reload()).toBe(true);
    expect(hostsOf(source, 'smtp')).toEqual(['mx2.example.org:2525/10']);
    expect(hostsOf(source, 'pop3')).toEqual(['10.0.0.3:110/1']);
    expect(onChange).toHaveBeenCalledTimes(1);
    expect(reloads).toEqual([2]);
    expect(errors).toEqual([]);
  });

  test('reload() of an unchanged file changes nothing', () => {
    writeFileSync(path, FIRST);
    const { source, reloads } = open();
    const onChange = jest.fn();
    source.watch(onChange);
    expect(source.reload()).toBe(false);
    expect(onChange).not.toHaveBeenCalled();
    expect(reloads).toEqual([]);
  });

  test('an edit to JSON is read as well', () => {
    writeFileSync(path, FIRST);
    const { source } = open();
    writeFileSync(path, '{"smtp": [{"host": "10.9.9.9", "port": 587, "priority": 3}]}');
    expect(source.reload()).toBe(true);
    expect(hostsOf(source, 'smtp')).toEqual(['10.9.9.9:587/3']);
  });
});

describe('FileSource: a broken edit keeps the last good table and is reported', () => {
  test.each<[string, string, RegExp]>([
    ['broken YAML', 'smtp: [ { host: a, port: 25 ', /is not valid YAML\/JSON/],
    ['broken JSON', '{"smtp": [', /is not valid YAML\/JSON/],
    ['a port out of range', 'smtp:\n  - host: mx\n    port: 70000\n', /: smtp\.0\.port: /],
    ['a port that is not a number', 'smtp:\n  - host: mx\n    port: twenty-five\n', /: smtp\.0\.port: /],
    ['a bad host in the second entry', 'pop3:\n  - { host: a, port: 110 }\n  - { host: "b c", port: 110 }\n', /: pop3\.1\.host: /],
    ['an unknown field', 'smtp:\n  - { host: a, port: 25, weight: 3 }\n', /: smtp\.0\.weight: .*"weight"/],
    ['a list instead of a table', '- host: a\n  port: 25\n', /: \(root\): /],
    ['a link-local server', 'smtp:\n  - { host: 169.254.169.254, port: 80 }\n', /: smtp\.0\.host: .*link-local/],
    [
      'a link-local server spelled in hex',
      'smtp:\n  - { host: "0XA9FEA9FE", port: 80 }\n',
      /: smtp\.0\.host: .*169\.254\.169\.254.*link-local/,
    ],
    ['an IPv4-mapped link-local server', 'smtp:\n  - { host: "::ffff:169.254.169.254", port: 80 }\n', /: smtp\.0\.host: .*link-local/],
    ['the unspecified address', 'smtp:\n  - { host: 0.0.0.0, port: 25 }\n', /: smtp\.0\.host: .*unspecified/],
    ['a multicast address', 'smtp:\n  - { host: 224.0.0.1, port: 25 }\n', /: smtp\.0\.host: .*multicast/],
    ['a name that ends in a number', 'smtp:\n  - { host: 1.2.3.256, port: 25 }\n', /: smtp\.0\.host: must be a hostname or an IP address/],
  ])('%s', (_name, text, message) => {
    writeFileSync(path, FIRST);
    const { source, errors, reloads } = open();
    const onChange = jest.fn();
    source.watch(onChange);
    writeFileSync(path, text);
    expect(source.reload()).toBe(false);
    expect(hostsOf(source, 'smtp')).toEqual(['mx1.example.org:25/10']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(RoamgateError);
    expect(errors[0].code).toBe('ROAMGATE_SOURCE_FAILED');
    expect(errors[0].message).toContain(path);
    expect(errors[0].message).toMatch(message);
    expect(errors[0].message).toMatch(/keeping the last good table$/);
    expect(onChange).not.toHaveBeenCalled();
    expect(reloads).toEqual([]);
  });

  test('the same broken text is reported once, and a later good edit applies', () => {
    writeFileSync(path, FIRST);
    const { source, errors } = open();
    writeFileSync(path, 'smtp: [');
    source.reload();
    expect(source.reload()).toBe(false);
    expect(errors).toHaveLength(1);
    writeFileSync(path, SECOND);
    expect(source.reload()).toBe(true);
    expect(hostsOf(source, 'smtp')).toEqual(['mx2.example.org:2525/10']);
  });

  test('a deleted file is reported and the last good table kept', () => {
    writeFileSync(path, FIRST);
    const { source, errors } = open();
    rmSync(path);
    expect(source.reload()).toBe(false);
    expect(errors[0].message).toMatch(/^cannot read server file .*keeping the last good table$/);
    expect(hostsOf(source, 'smtp')).toEqual(['mx1.example.org:25/10']);
  });
});

describe('FileSource: watching', () => {
  /** Resolves on the source's next change notification; rejects after `timeoutMs`. */
  function nextChange(source: FileSource, timeoutMs = 4000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no change seen within ${timeoutMs} ms`)), timeoutMs);
      const stop = source.watch(() => {
        clearTimeout(timer);
        stop();
        resolve();
      });
    });
  }

  // open() polls only once a minute, so these see the directory watch at work.
  test('the watcher picks up an edit by itself', async () => {
    writeFileSync(path, FIRST);
    const { source } = open();
    const changed = nextChange(source);
    writeFileSync(path, SECOND);
    await changed;
    expect(hostsOf(source, 'smtp')).toEqual(['mx2.example.org:2525/10']);
  });

  test('the watcher picks up a file replaced by rename, as editors save', async () => {
    writeFileSync(path, FIRST);
    const { source } = open();
    const changed = nextChange(source);
    writeFileSync(join(dir, 'servers.yaml.tmp'), SECOND);
    renameSync(join(dir, 'servers.yaml.tmp'), path);
    await changed;
    expect(hostsOf(source, 'pop3')).toEqual(['10.0.0.3:110/1']);
  });

  test('a closed source no longer reloads or notifies', async () => {
    writeFileSync(path, FIRST);
    const { source } = open(20);
    const onChange = jest.fn();
    source.watch(onChange);
    source.close();
    writeFileSync(path, SECOND);
    await idle(150, 'nothing may happen: a closed source has no watcher and no poll (every 20 ms) left to fire');
    expect(onChange).not.toHaveBeenCalled();
    expect(hostsOf(source, 'smtp')).toEqual(['mx1.example.org:25/10']);
  });
});

describe('FileSource: construction fails with a RoamgateError', () => {
  test.each<[string, string | null, RegExp]>([
    ['a missing file', null, /^cannot read server file .*servers\.yaml/],
    ['broken YAML', 'smtp: [', /is not valid YAML\/JSON/],
    ['a bad port', 'smtp:\n  - { host: a, port: 0 }\n', /servers\.yaml: smtp\.0\.port: /],
  ])('%s', (_name, text, message) => {
    if (text !== null) writeFileSync(path, text);
    let thrown: unknown;
    try {
      sources.push(new FileSource({ path }));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(RoamgateError);
    expect((thrown as RoamgateError).code).toBe('ROAMGATE_SOURCE_FAILED');
    expect((thrown as RoamgateError).message).toMatch(message);
  });
});

describe('readTableFile', () => {
  test('reads a file once into entries', () => {
    writeFileSync(path, SECOND);
    expect(readTableFile(path).map((entry) => entry.id)).toEqual(['file:smtp:mx2.example.org:2525', 'file:pop3:10.0.0.3:110']);
  });
});
