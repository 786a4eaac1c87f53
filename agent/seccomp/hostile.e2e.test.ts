// Hostile arguments: a static C program (fixtures/hostile.c) inside a vNode container calls the
// intercepted syscalls with bad pointers, over-long strings, bad flags and dirfds, ".." escape
// attempts, and races (the path string, a symlink and a directory swapped under umount2). Every
// answer must be the kernel's errno, no emulated file may disappear, nothing may land on the
// host, and the manager must keep serving.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { e2eSkipReason } from '../../e2e/lib/e2eGate.js';
import { buildStatic, SeccompTestBed } from './testing/SeccompTestBed.js';

const skip = e2eSkipReason(['/usr/sbin/runc', '/bin/busybox', '/dev/fuse']);
let bed: SeccompTestBed;
let tmp: string;

before(async () => {
  if (skip) return;
  tmp = mkdtempSync('/tmp/vnode-sec-hostile-');
  bed = await SeccompTestBed.start();
});
after(async () => {
  if (bed) await bed.teardown();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const EFAULT = 14;
const EINVAL = 22;
const EPERM = 1;
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
  fsopen: 38, // ENOSYS: the profile refuses the fd mount API
  open_tree: 38,
  escape_proc: 0,
  escape_bind: 0,
  race_proc_mount: 0,
};

test('hostile arguments get the kernel\'s errno, races remove no emulated file, and the manager keeps serving', { skip, timeout: 300_000 }, async () => {
  const bin = join(tmp, 'hostile');
  const b = await buildStatic(fileURLToPath(new URL('../../../agent/seccomp/fixtures/hostile.c', import.meta.url)), bin);
  assert.equal(b.code, 0, b.stderr);
  const c = await bed.container('hostile', { vnode: 'shared:sec-hostile', memoryBytes: 256 << 20, files: { '/bin/hostile': bin } });
  const hostMountsBefore = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('vnode-sec-escape')).length;
  const r = await c.exec(['/bin/hostile'], 280_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^done$/m, 'the fixture ran to the end (no call hung)');
  const lines = new Map(r.stdout.trim().split('\n').map((l) => [l.split(' ')[0]!, l] as const));
  for (const [name, errno] of Object.entries(expected)) {
    const l = lines.get(name);
    assert.ok(l, `missing ${name} in:\n${r.stdout}`);
    const m = /ret=(-?\d+) errno=(\d+)/.exec(l);
    assert.ok(m, l);
    if (errno === 0) assert.equal(m[1], '0', l);
    else assert.deepEqual([m[1], Number(m[2])], ['-1', errno], l);
  }
  for (const race of ['race_string', 'race_symlink', 'race_rename']) {
    const l = lines.get(race)!;
    const before = /emulated_before=(\d+)/.exec(l)![1];
    const afterN = /emulated_after=(\d+)/.exec(l)![1];
    assert.ok(Number(before) > 0, l);
    assert.equal(afterN, before, `no emulated file was unmounted by the race: ${l}`);
    assert.ok(Number(/ok=(\d+)/.exec(l)![1]) > 0, `the race really unmounted decoys: ${l}`);
  }
  // ".." never climbed out of the container's root: nothing was mounted on the host.
  const hostMountsAfter = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('vnode-sec-escape')).length;
  assert.equal(hostMountsAfter, hostMountsBefore);
  // Still serving, with the emulated view intact.
  const f = await c.exec(['sh', '-c', 'free | grep Mem; head -1 /proc/meminfo']);
  assert.match(f.stdout, /^Mem:\s+262144 /m);
  assert.match(f.stdout, /^MemTotal:\s+262144 kB/m);
  const stats = await bed.agent.stats();
  assert.equal(stats.reduce((a, s) => a + s.internalErrors, 0), 0, 'no handler failed on its own');
});
