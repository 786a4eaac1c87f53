import assert from 'node:assert/strict';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { NamespaceFlags as F, spawnHolder } from './holder.js';
import { bindIdmapped, mount, MountConstants as M, mountSetattr, openTree, umount2 } from './mount.js';
import { isSyscallError } from './native.js';
import { mountPointsUnder } from '../agent/common/mountinfo.js';
import { pidfdSendSignal, waitForExit } from './pidfd.js';

const bin = fileURLToPath(new URL('../../build/opt/vnode/bin/vnode', import.meta.url));

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
  mkdirSync(join(d, 'root'), { mode: 0o555 });
  mkdirSync(join(d, 'src'));
  mkdirSync(join(d, 'dst'));
  writeFileSync(join(d, 'src', 'owned-by-root'), 'x');
  const h = await spawnHolder({
    path: bin,
    argv: ['vnode-holder', '--root', join(d, 'root'), '--commit'],
    env: [],
    uidMap: '0 500000 65536\n',
    gidMap: '0 500000 65536\n',
    nsFlags: F.CLONE_NEWUSER | F.CLONE_NEWNS | F.CLONE_NEWPID,
  });
  writeSync(h.controlFd, 'C');
  closeSync(h.controlFd);
  const userns = openSync(`/proc/${h.pid}/ns/user`, 'r');
  try {
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
  } finally {
    closeSync(userns);
    await umount2(join(d, 'dst'), M.MNT_DETACH).catch(() => undefined);
    pidfdSendSignal(h.pidfd, 'SIGKILL');
    await waitForExit(h.pidfd);
    closeSync(h.pidfd);
    rmSync(d, { recursive: true });
  }
});
