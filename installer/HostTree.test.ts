import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostRoot } from './HostRoot.js';
import { HostTree } from './HostTree.js';

function fixture(t: { after: (fn: () => void) => void }) {
  const base = mkdtempSync(join(tmpdir(), 'vnode-inst-tree-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const staged = join(base, 'staged');
  mkdirSync(join(staged, 'bin'), { recursive: true });
  mkdirSync(join(staged, 'lib/app'), { recursive: true });
  writeFileSync(join(staged, 'bin/vnode'), '#!/bin/sh\necho v1\n');
  chmodSync(join(staged, 'bin/vnode'), 0o755);
  for (const l of ['containerd-shim-vnode-v2', 'vnode-cni']) symlinkSync('vnode', join(staged, 'bin', l));
  writeFileSync(join(staged, 'lib/app/main.js'), 'export {}\n');
  writeFileSync(join(staged, 'VERSION'), '0.1.0\n');
  mkdirSync(join(base, 'host'));
  return { staged, hostDir: join(base, 'host'), tree: new HostTree(new HostRoot(join(base, 'host')), '/opt/vnode') };
}

test('install copies a complete version dir, keeps modes and links, and points current at it', (t) => {
  const { staged, hostDir, tree } = fixture(t);
  const r = tree.install(staged);
  assert.match(r.version, /^0\.1\.0-[0-9a-f]{12}$/);
  assert.equal(r.copied, true);
  assert.equal(r.switched, true);
  assert.equal(readlinkSync(join(hostDir, 'opt/vnode/current')), `versions/${r.version}`, 'relative link: valid from the host and from the pod');
  const shim = join(hostDir, 'opt/vnode/current/bin/containerd-shim-vnode-v2');
  assert.equal(readlinkSync(shim), 'vnode');
  assert.equal(statSync(join(hostDir, 'opt/vnode/current/bin/vnode')).mode & 0o777, 0o755);
  assert.equal(readFileSync(shim, 'utf8'), '#!/bin/sh\necho v1\n');
  assert.equal(tree.isComplete(r.version), true);
  const again = tree.install(staged);
  assert.deepEqual([again.copied, again.switched], [false, false], 'second install changes nothing');
});

test('an upgrade stages beside the old version and switches with one rename; gc keeps the previous one', (t) => {
  const { staged, hostDir, tree } = fixture(t);
  const v1 = tree.install(staged).version;
  writeFileSync(join(staged, 'bin/vnode'), '#!/bin/sh\necho v2\n');
  const r2 = tree.install(staged);
  assert.notEqual(r2.version, v1, 'same VERSION, different content: a different dir');
  assert.equal(r2.previous, v1);
  assert.equal(readFileSync(join(hostDir, 'opt/vnode/current/bin/vnode'), 'utf8'), '#!/bin/sh\necho v2\n');
  assert.deepEqual(tree.gc(1), []);
  writeFileSync(join(staged, 'bin/vnode'), '#!/bin/sh\necho v3\n');
  const r3 = tree.install(staged);
  assert.deepEqual(tree.gc(1), [v1], 'only the oldest goes');
  assert.deepEqual(tree.versions().sort(), [r2.version, r3.version].sort());
});

test('an interrupted copy never becomes current, is cleaned by gc, and a damaged version is recopied', (t) => {
  const { staged, hostDir, tree } = fixture(t);
  const v = tree.install(staged).version;
  mkdirSync(join(hostDir, 'opt/vnode/versions/.tmp-0.1.0-abc-999/bin'), { recursive: true });
  assert.deepEqual(tree.gc(1), ['.tmp-0.1.0-abc-999']);
  writeFileSync(join(hostDir, 'opt/vnode/versions', v, 'bin/vnode'), 'truncated');
  assert.equal(tree.isComplete(v), false);
  assert.equal(tree.install(staged).copied, true);
  assert.equal(readFileSync(join(hostDir, 'opt/vnode/current/bin/vnode'), 'utf8'), '#!/bin/sh\necho v1\n');
});

test('removeAll takes current, every version and the empty install dir', (t) => {
  const { staged, hostDir, tree } = fixture(t);
  tree.install(staged);
  assert.equal(tree.removeAll(), true);
  assert.equal(existsSync(join(hostDir, 'opt/vnode')), false);
  assert.equal(existsSync(join(hostDir, 'opt')), true, 'only what the installer made goes');
  assert.equal(tree.removeAll(), false);
  assert.equal(realpathSync(hostDir), realpathSync(hostDir));
});
