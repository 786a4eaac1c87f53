import assert from 'node:assert/strict';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { NamespaceFlags as F, spawnHolder } from './holder.js';
import { bindIdmapped, idmapOverlay, mount, MOUNT_DATA_MAX, MountConstants as M, mountSetattr, openTree, umount2 } from './mount.js';
import { isSyscallError } from './native.js';
import { mountPointsUnder } from '../agent/common/mountinfo.js';
import { pidfdSendSignal, waitForExit } from './pidfd.js';

const bin = fileURLToPath(new URL('../../build/opt/vnode/bin/vnode', import.meta.url));

/** Runs `fn` with an fd of a vNode-like user namespace mapping 0 to `uidStart` (a holder's,
 * rooted at `<d>/root`); the holder and the fd are gone afterwards. */
async function withUserns<T>(d: string, uidStart: number, fn: (userns: number) => Promise<T>): Promise<T> {
  mkdirSync(join(d, 'root'), { mode: 0o555 });
  const h = await spawnHolder({
    path: bin,
    argv: ['vnode-holder', '--root', join(d, 'root'), '--commit'],
    env: [],
    uidMap: `0 ${uidStart} 65536\n`,
    gidMap: `0 ${uidStart} 65536\n`,
    nsFlags: F.CLONE_NEWUSER | F.CLONE_NEWNS | F.CLONE_NEWPID,
  });
  writeSync(h.controlFd, 'C');
  closeSync(h.controlFd);
  const userns = openSync(`/proc/${h.pid}/ns/user`, 'r');
  try {
    return await fn(userns);
  } finally {
    closeSync(userns);
    pidfdSendSignal(h.pidfd, 'SIGKILL');
    await waitForExit(h.pidfd);
    closeSync(h.pidfd);
  }
}

test('bind, remount read-only, unmount; errors keep errno', async () => {
  const d = mkdtempSync(join(tmpdir(), 'vnode-core-mount-'));
  mkdirSync(join(d, 'src'));
  mkdirSync(join(d, 'dst'));
  writeFileSync(join(d, 'src', 'f'), 'x');
  try {
    await mount(join(d, 'src'), join(d, 'dst'), null, M.MS_BIND, null);
    assert.equal(readFileSync(join(d, 'dst', 'f'), 'utf8'), 'x');
    await mount(null, join(d, 'dst'), null, M.MS_BIND | M.MS_REMOUNT | M.MS_RDONLY, null);
    assert.throws(() => writeFileSync(join(d, 'dst', 'g'), 'y'), /EROFS/);
    await umount2(join(d, 'dst'), M.MNT_DETACH);
    assert.deepEqual(mountPointsUnder(d), []);
    await assert.rejects(umount2(join(d, 'dst'), 0), (e: unknown) => isSyscallError(e, 'EINVAL') && e.syscall === 'umount2');
    await assert.rejects(mount(join(d, 'nope'), join(d, 'dst'), null, M.MS_BIND, null), (e: unknown) => isSyscallError(e, 'ENOENT'));
  } finally {
    await umount2(join(d, 'dst'), M.MNT_DETACH).catch(() => undefined);
    rmSync(d, { recursive: true });
  }
});

test('open_tree + mount_setattr(MOUNT_ATTR_IDMAP) + move_mount shift owners by a vNode range', async () => {
  const d = mkdtempSync(join(tmpdir(), 'vnode-core-idmap-'));
  chmodSync(d, 0o711);
  mkdirSync(join(d, 'src'));
  mkdirSync(join(d, 'dst'));
  writeFileSync(join(d, 'src', 'owned-by-root'), 'x');
  try {
    await withUserns(d, 500000, async (userns) => {
      await bindIdmapped(join(d, 'src'), join(d, 'dst'), userns);
      const st = statSync(join(d, 'dst', 'owned-by-root'));
      assert.equal(st.uid, 500000, 'host root appears as the vNode root uid');
      assert.equal(st.gid, 500000);
      assert.equal(statSync(join(d, 'src', 'owned-by-root')).uid, 0, 'the source is untouched');
      // IDMAP needs a detached (cloned) tree: on an attached mount the kernel says EINVAL.
      const attached = await openTree(M.AT_FDCWD, join(d, 'dst'), M.OPEN_TREE_CLOEXEC);
      await assert.rejects(mountSetattr(attached, '', M.AT_EMPTY_PATH, { attrSet: M.MOUNT_ATTR_IDMAP, usernsFd: userns }), (e: unknown) =>
        isSyscallError(e) && e.syscall === 'mount_setattr',
      );
      closeSync(attached);
    });
  } finally {
    await umount2(join(d, 'dst'), M.MNT_DETACH).catch(() => undefined);
    rmSync(d, { recursive: true });
  }
});

test('idmapOverlay: idmapped layer binds and the overlay in one call; a failure names the call and path', async () => {
  const d = mkdtempSync(join(tmpdir(), 'vnode-core-idovl-'));
  chmodSync(d, 0o711);
  for (const x of ['l0', 'l1', 'b0', 'b1', 'upper', 'work', 'merged']) mkdirSync(join(d, x));
  writeFileSync(join(d, 'l0', 'bottom'), 'b');
  writeFileSync(join(d, 'l1', 'top'), 't');
  const binds = [join(d, 'b0'), join(d, 'b1')];
  const data = `lowerdir=${binds[1]}:${binds[0]},upperdir=${join(d, 'upper')},workdir=${join(d, 'work')}`;
  try {
    await withUserns(d, 510000, async (userns) => {
      await idmapOverlay([join(d, 'l0'), join(d, 'l1')], binds, userns, join(d, 'merged'), false, 0, data);
      assert.equal(readFileSync(join(d, 'merged', 'bottom'), 'utf8'), 'b');
      assert.equal(statSync(join(d, 'merged', 'top')).uid, 510000, 'the layers show host root as the vNode root');
      assert.equal(statSync(join(d, 'l1', 'top')).uid, 0, 'the layer itself is untouched');
      assert.deepEqual(mountPointsUnder(d).sort(), [...binds, join(d, 'merged')].sort());
      // unmountFirst: the overlay is replaced (binds again, at fresh paths).
      for (const b of binds) await umount2(b, M.MNT_DETACH);
      await idmapOverlay([join(d, 'l0'), join(d, 'l1')], binds, userns, join(d, 'merged'), true, 0, data);
      assert.equal(mountPointsUnder(d).filter((m) => m === join(d, 'merged')).length, 1, 'the old overlay went first');
      for (const m of mountPointsUnder(d).reverse()) await umount2(m, M.MNT_DETACH);
      // A missing second layer: the first bind is made and stays for the caller; nothing is mounted at the target.
      await assert.rejects(idmapOverlay([join(d, 'l0'), join(d, 'nope')], binds, userns, join(d, 'merged'), false, 0, data), (e: unknown) =>
        isSyscallError(e, 'ENOENT') && e.syscall === 'open_tree' && (e as Error).message.includes(join(d, 'nope')),
      );
      assert.deepEqual(mountPointsUnder(d), [binds[0]]);
      assert.throws(() => idmapOverlay(['a'], [], userns, join(d, 'merged'), false, 0, data), /differ in length/);
    });
  } finally {
    for (const m of mountPointsUnder(d).reverse()) await umount2(m, M.MNT_DETACH).catch(() => undefined);
    rmSync(d, { recursive: true });
  }
});

test("idmapOverlay with dataCwd: an overlay of more layers than mount(2)'s one page of options takes by path, named relative to the binds' directory", async () => {
  // Paths as long as a vNode's layer binds (<run dir>/vnodes/<name>/rootfs/<64-hex id>/l<i>).
  const d = mkdtempSync(join(tmpdir(), 'vnode-core-manyl-'));
  chmodSync(d, 0o711);
  const N = 60;
  const bindDir = join(d, 'vnodes', 'vn-0123456789ab', 'rootfs', 'c'.repeat(64));
  const lowers = Array.from({ length: N }, (_, i) => join(d, 'snapshots', String(1000 + i), 'fs'));
  const binds = lowers.map((_l, i) => join(bindDir, `l${i}`));
  for (const x of [...lowers, ...binds, join(d, 'upper'), join(d, 'work'), join(d, 'merged')]) mkdirSync(x, { recursive: true });
  lowers.forEach((l, i) => {
    writeFileSync(join(l, `only-${i}`), String(i));
    writeFileSync(join(l, 'shared'), String(i));
  });
  // Top layer first, as containerd lists them.
  const order = [...binds].reverse();
  const tail = `,upperdir=${join(d, 'upper')},workdir=${join(d, 'work')}`;
  const absolute = `lowerdir=${order.join(':')}${tail}`;
  const relative = `lowerdir=${order.map((b) => b.slice(bindDir.length + 1)).join(':')}${tail}`;
  assert.ok(absolute.length > MOUNT_DATA_MAX && relative.length < MOUNT_DATA_MAX, `${absolute.length} bytes by path, ${relative.length} relative`);
  const cwd = process.cwd();
  try {
    await withUserns(d, 520000, async (userns) => {
      // By path the options are cut at a page: the kernel refuses them.
      await assert.rejects(idmapOverlay(lowers, binds, userns, join(d, 'merged'), false, 0, absolute), (e: unknown) => isSyscallError(e) && e.syscall === 'mount');
      for (const b of binds) await umount2(b, M.MNT_DETACH);
      await idmapOverlay(lowers, binds, userns, join(d, 'merged'), false, 0, relative, bindDir);
      for (let i = 0; i < N; i++) assert.equal(readFileSync(join(d, 'merged', `only-${i}`), 'utf8'), String(i), `layer ${i}`);
      assert.equal(readFileSync(join(d, 'merged', 'shared'), 'utf8'), String(N - 1), 'the top layer wins');
      assert.equal(statSync(join(d, 'merged', 'shared')).uid, 520000, 'idmapped');
      assert.equal(process.cwd(), cwd, "the process's working directory is not the mount thread's");
      assert.equal(readFileSync('package.json', 'utf8').length > 0, true, 'relative paths of the process still resolve against its own');
      await umount2(join(d, 'merged'), M.MNT_DETACH);
      for (const b of binds) await umount2(b, M.MNT_DETACH);
      // A directory that is not there: the chdir fails and says which.
      await assert.rejects(idmapOverlay(lowers.slice(0, 1), binds.slice(0, 1), userns, join(d, 'merged'), false, 0, 'lowerdir=l0', join(d, 'nope')), (e: unknown) =>
        isSyscallError(e, 'ENOENT') && e.syscall === 'chdir' && (e as Error).message.includes(join(d, 'nope')),
      );
    });
  } finally {
    for (const m of mountPointsUnder(d).reverse()) await umount2(m, M.MNT_DETACH).catch(() => undefined);
    rmSync(d, { recursive: true });
  }
});
