// Hostile arguments: a static C program (fixtures/hostile.c) inside a vNode container calls the
// intercepted syscalls with bad pointers, over-long strings, bad flags and dirfds, ".." escape
// attempts, and races (the path string, a symlink and a directory swapped under umount2; the
// parent directory, the last component and the new node swapped under mknod). Every answer must
// be the kernel's errno, no emulated file may disappear, nothing may land on the host (mknod,
// whose node host root makes, makes one only where the caller could create a file: never in a
// hostPath the vNode may not write), and the manager must keep serving.
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { e2eSkipReason } from '../../e2e/lib/e2eGate.js';
import { buildStatic } from './testing/SeccompTestBed.js';
import { assertErrnos, counters, fixtureBed, reportLines } from './testing/fixtureRun.js';
import { readMountInfo } from '../common/mountinfo.js';

/** Host mounts that name the fixture's escape target: none may appear. */
const escapeMounts = (): number => readMountInfo().filter((m) => [m.root, m.mountPoint, m.source].some((f) => f.includes('vnode-sec-escape'))).length;

const skip = e2eSkipReason(['/usr/sbin/runc', '/bin/busybox', '/dev/fuse']);
const t0 = fixtureBed('/tmp/vnode-sec-hostile-', skip);

const EFAULT = 14;
const EINVAL = 22;
const EPERM = 1;
const ENOENT = 2;
const EACCES = 13;
const EEXIST = 17;
const EROFS = 30;
const expected: Record<string, number> = {
  mount_null_target: EFAULT,
  mount_low_target: EFAULT,
  mount_unmapped_target: EFAULT,
  mount_target_into_hole: EFAULT,
  mount_bad_fstype: EFAULT,
  mount_bad_source: EFAULT,
  mount_bad_data: EFAULT,
  mount_long_target: 36, // ENAMETOOLONG
  mount_long_fstype: EINVAL,
  mount_proc_bad_option: EINVAL,
  bind_missing_source: 2,
  move_emulated: EPERM,
  umount_bad_ptr: EFAULT,
  umount_bad_flags: EINVAL,
  umount_emulated: EPERM,
  umount_emulated_detach: EPERM,
  umount_emulated_dotdot: EPERM,
  mknod_bad_ptr: EFAULT,
  mknodat_bad_dirfd: 9, // EBADF
  mknod_block: EPERM,
  mknod_mem: EPERM,
  mknod_symlink_last: EEXIST,
  mknod_symlink_dangling: EEXIST,
  mknod_dangling_target_made: ENOENT, // access(): the symlink's target was not created
  mknod_existing: EEXIST,
  mknod_trailing_slash: ENOENT,
  mknod_dot: EEXIST,
  mknod_hostpath_ro: EACCES,
  mknod_hostpath_rdonly: EROFS,
  mknod_hostpath_victim: EEXIST,
  mknod_hostpath: 0,
  mknodat_dirfd: 0,
  mknod_node_write: 0,
  mknod_node_unlink: 0,
  sysinfo_null: EFAULT,
  sysinfo_unmapped: EFAULT,
  sysinfo_readonly: EFAULT,
  affinity_bad_ptr: EFAULT,
  affinity_len3: EINVAL,
  reboot_bad_magic: EINVAL,
  reboot_cad_off: 0,
  reboot_kexec: EINVAL,
  swapoff_bad_ptr: EFAULT,
  swapon: EPERM,
  fsopen: 38, // ENOSYS: never a proc context (callers fall back to mount(2)); fdMount.e2e has the rest
  open_tree_bad_flags: EINVAL,
  escape_proc: 0,
  escape_bind: 0,
  race_proc_mount: 0,
};

test('hostile arguments get the kernel\'s errno, races remove no emulated file, and the manager keeps serving', { skip, timeout: 300_000 }, async (t) => {
  const bin = join(t0.tmp, 'hostile');
  const b = await buildStatic(fileURLToPath(new URL('../../../agent/seccomp/fixtures/hostile.c', import.meta.url)), bin);
  assert.equal(b.code, 0, b.stderr);
  // hostPath volumes: a root-owned directory the vNode may not write, a read-only bind of a
  // world-writable one, and a world-writable sticky one (like the host's /tmp) with a host file.
  const host = (d: string) => join(t0.tmp, d);
  for (const [d, mode] of [['hostro', 0o755], ['hostrdonly', 0o777], ['hoststicky', 0o1777]] as const) {
    mkdirSync(host(d));
    chmodSync(host(d), mode);
  }
  writeFileSync(host('hoststicky/victim'), 'host file\n', { mode: 0o644 });
  const c = await t0.bed.container('hostile', {
    vnode: 'shared:sec-hostile',
    memoryBytes: 256 << 20,
    files: { '/bin/hostile': bin },
    binds: [
      { source: host('hostro'), destination: '/hostro' },
      { source: host('hostrdonly'), destination: '/hostrdonly', readonly: true },
      { source: host('hoststicky'), destination: '/hoststicky' },
    ],
  });
  const vnodeRoot = c.vnode.idRange.uidStart;
  const hostMountsBefore = escapeMounts();
  const r = await c.exec(['/bin/hostile'], 280_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^done$/m, 'the fixture ran to the end (no call hung)');
  const lines = reportLines(r.stdout);
  for (const [name, l] of lines) if (name.startsWith('race_')) t.diagnostic(l);
  assertErrnos(lines, expected, r.stdout);
  for (const race of ['race_string', 'race_symlink', 'race_rename']) {
    const l = lines.get(race)!;
    const before = /emulated_before=(\d+)/.exec(l)![1];
    const afterN = /emulated_after=(\d+)/.exec(l)![1];
    assert.ok(Number(before) > 0, l);
    assert.equal(afterN, before, `no emulated file was unmounted by the race: ${l}`);
    assert.ok(Number(/ok=(\d+)/.exec(l)![1]) > 0, `the race really unmounted decoys: ${l}`);
  }
  // mknod: the node made through a hostPath belongs to the vNode's root, is a real node (not a
  // mount) of 1:3; the host file of the same name, and the directories the vNode may not write,
  // are untouched, also after the races.
  const made = lstatSync(host('hoststicky/null'));
  assert.ok(made.isCharacterDevice(), 'a device node on the host filesystem');
  assert.deepEqual([made.rdev, made.uid, made.gid, made.mode & 0o7777], [(1 << 8) | 3, vnodeRoot, c.vnode.idRange.gidStart, 0o644]);
  assert.equal(readFileSync(host('hoststicky/victim'), 'utf8'), 'host file\n');
  assert.equal(lstatSync(host('hoststicky/victim')).uid, 0);
  assert.deepEqual(readdirSync(host('hostro')), [], 'nothing made in a hostPath the vNode may not write');
  assert.deepEqual(readdirSync(host('hostrdonly')), []);
  assert.match(lines.get('mknod_node') ?? '', /^mknod_node type=chr rdev=1:3 uid=0 gid=0 mode=644$/, 'owned by the vNode\'s root, with the caller\'s umask');
  const counts = (name: string): Record<string, number> => counters(lines.get(name));
  const dir = counts('race_mknod_dir');
  assert.ok(dir.ok! > 0 && dir.eacces! > 0, `the race reached both the writable directory and /hostro: ${lines.get('race_mknod_dir')}`);
  assert.deepEqual([dir.err, dir.nodes, dir.other, dir.wrongdev], [0, dir.ok, 0, 0], `every node made is in the writable directory: ${lines.get('race_mknod_dir')}`);
  const last = counts('race_mknod_last');
  assert.equal(last.err, 0, lines.get('race_mknod_last'));
  assert.ok(last.ok! + last.eexist! === 1500, lines.get('race_mknod_last'));
  const swap = counts('race_mknod_swap');
  assert.ok(swap.ok! > 0, lines.get('race_mknod_swap'));
  assert.equal(swap.wrongdev, 0, lines.get('race_mknod_swap'));
  assert.deepEqual(readdirSync(host('hostro')), [], 'no race put a node in /hostro');
  // ".." never climbed out of the container's root: nothing was mounted on the host.
  const hostMountsAfter = escapeMounts();
  assert.equal(hostMountsAfter, hostMountsBefore);
  // Still serving, with the emulated view intact.
  const f = await c.exec(['sh', '-c', 'free | grep Mem; head -1 /proc/meminfo']);
  assert.match(f.stdout, /^Mem:\s+262144 /m);
  assert.match(f.stdout, /^MemTotal:\s+262144 kB/m);
  const stats = await t0.bed.agent.stats();
  assert.equal(stats.reduce((a, s) => a + s.internalErrors, 0), 0, 'no handler failed on its own');
});
