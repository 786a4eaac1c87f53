import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, parseConfig } from './config.js';

test('defaults are complete and valid', () => {
  const c = parseConfig({});
  assert.equal(c.runDir, '/run/vnode');
  assert.equal(c.idPool.start, 1 << 28);
  assert.equal(c.vnodeMode, 'namespace');
});

test('a bad field is named in the error', () => {
  assert.throws(() => parseConfig({ idPool: { start: 1000, count: 4 } }, 'x.yaml'), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /x\.yaml/);
    assert.match(e.message, /idPool\.start: must be >= 65536/);
    return true;
  });
  assert.throws(() => parseConfig({ runDir: 'relative' }), /runDir: must be an absolute path/);
  assert.throws(() => parseConfig({ bogus: 1 }), /Unrecognized key/);
});

test('a file is read as YAML and env overrides apply', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-cfg-'));
  const f = join(dir, 'c.yaml');
  writeFileSync(f, 'vnodeMode: pod\nidPool:\n  start: 131072\n  count: 2\n');
  const c = loadConfig(f, { VNODE_RUN_DIR: '/run/x' });
  assert.equal(c.vnodeMode, 'pod');
  assert.equal(c.idPool.count, 2);
  assert.equal(c.runDir, '/run/x');
  writeFileSync(f, 'vnodeMode: [\n');
  assert.throws(() => loadConfig(f, {}), /not valid YAML/);
  assert.throws(() => loadConfig(join(dir, 'missing.yaml'), {}), /cannot read/);
  rmSync(dir, { recursive: true, force: true });
});

test('the device allow-list: built-in default, replaced by VNODE_DEVICE_ALLOW, entries checked', () => {
  assert.ok(parseConfig({}).devices.allow.some((e) => e.name === 'fuse'));
  const c = loadConfig(undefined, { VNODE_DEVICE_ALLOW: '[{"name":"fuse"},{"name":"loop7","type":"b"}]' });
  assert.deepEqual(c.devices.allow, [{ name: 'fuse' }, { name: 'loop7', type: 'b' }]);
  assert.throws(() => loadConfig(undefined, { VNODE_DEVICE_ALLOW: '[{"name":"fuse","driver":"misc"}]' }), /devices\.allow\.0: an entry names either name or driver/);
  assert.throws(() => loadConfig(undefined, { VNODE_DEVICE_ALLOW: '[{"path":"/dev/fuse"}]' }), /Unrecognized key/);
  assert.throws(() => loadConfig(undefined, { VNODE_DEVICE_ALLOW: '[' }), /VNODE_DEVICE_ALLOW.*not JSON/);
});
