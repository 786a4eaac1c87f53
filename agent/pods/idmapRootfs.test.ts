// What the tree's runc shim leaves to the manager (shim/vnode-rootfs-mounts.patch): read back as
// containerd gave it, refused when it is anything else, and layer paths the manager cannot use
// refused before anything is mounted.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { VNode } from '../vnode/VNodeRecord.js';
import { idmapRootfs, leftRootfsMount, ROOTFS_MOUNTS_FILE } from './idmapRootfs.js';

function bundle(t: { after(fn: () => void): void }, content?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-left-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  if (content !== undefined) writeFileSync(join(dir, ROOTFS_MOUNTS_FILE), content);
  return dir;
}

const OPTIONS = ['index=off', 'workdir=/var/lib/c/snapshots/9/work', 'upperdir=/var/lib/c/snapshots/9/fs', 'lowerdir=/var/lib/c/snapshots/2/fs:/var/lib/c/snapshots/1/fs'];

test("the shim's overlay is read back as containerd gave it; none when the shim mounted it itself", (t) => {
  assert.equal(leftRootfsMount(bundle(t)), undefined);
  assert.deepEqual(leftRootfsMount(bundle(t, JSON.stringify([{ type: 'overlay', source: 'overlay', options: OPTIONS }]))), { options: OPTIONS });
});

test('anything but the single overlay the shim leaves is refused with the file named', (t) => {
  for (const bad of [
    JSON.stringify([]),
    JSON.stringify([{ type: 'bind', source: '/x', options: ['rbind', 'ro'] }]),
    JSON.stringify([{ type: 'overlay', source: 'overlay', options: OPTIONS }, { type: 'overlay', source: 'overlay', options: OPTIONS }]),
    JSON.stringify([{ type: 'overlay', source: 'overlay', options: 'lowerdir=/a' }]),
  ]) {
    assert.throws(() => leftRootfsMount(bundle(t, bad)), /rootfs\.mounts\.json in .* is not the single overlay the runc shim leaves/, bad);
  }
  assert.throws(() => leftRootfsMount(bundle(t, '{')), SyntaxError);
});

test('layer paths the manager cannot use are refused before anything is mounted', async () => {
  // No user namespace file is opened: the options are checked first.
  const vnode = { namespaces: { user: '/nonexistent' }, dir: '/nonexistent', idRange: { uidStart: 1, gidStart: 1, size: 1 } } as unknown as VNode;
  await assert.rejects(idmapRootfs(vnode, 'c1', '/nonexistent/rootfs', undefined, [], { options: ['upperdir=/u', 'workdir=/w'] }), /task c1: overlay rootfs without lowerdir/);
  await assert.rejects(idmapRootfs(vnode, 'c1', '/nonexistent/rootfs', undefined, [], { options: ['upperdir=/u', 'workdir=/w', 'lowerdir=1/fs:2/fs'] }), /relative layer paths/);
});
