// The fd-based mount API in a vNode container (fixtures/fdmount.c, static, run as the container's
// root): fsopen/fsconfig/fsmount/move_mount and open_tree work as on a node, and nothing they make
// uncovers the real /proc files, reaches the host or outlives a racing argument. Host side: no
// mount the container made appears in the host's mount table, and the manager keeps serving.
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { e2eSkipReason } from '../../e2e/lib/e2eGate.js';
import { readMountInfo } from '../common/mountinfo.js';
import { buildStatic } from './testing/SeccompTestBed.js';
import { assertErrnos, counters, fixtureBed, reportLines } from './testing/fixtureRun.js';

const skip = e2eSkipReason(['/usr/sbin/runc', '/bin/busybox', '/dev/fuse']);
const t0 = fixtureBed('/tmp/vnode-sec-fdmount-', skip);

const { EPERM, ENOENT, EBADF, EFAULT, ENODEV, EINVAL, ENOSYS } = constants.errno;
const expected: Record<string, number> = {
  tmpfs_new_api: 0,
  tmpfs_write: 0,
  ext4_fsopen: 0, // fsopen only asks may_mount; the user namespace is refused at CMD_CREATE
  ext4_create: EPERM,
  fsopen_proc: ENOSYS,
  fsopen_sysfs: ENOSYS,
  fsopen_unknown: ENODEV,
  fsopen_bad_flags: EINVAL,
  fsopen_bad_ptr: EFAULT,
  open_tree_dir: 0,
  move_tree_dir: 0,
  moved_dir_content: 0,
  open_tree_proc: 0,
  move_tree_proc: 0,
  open_tree_plain_copy: ENOSYS, // a non-recursive copy: callers fall back to mount(2) MS_BIND
  open_tree_plain_copy_proc: ENOSYS,
  open_tree_no_clone: 0,
  open_tree_bad_flags: EINVAL,
  open_tree_recursive_no_clone: EINVAL,
  open_tree_bad_dirfd: EBADF,
  open_tree_missing: ENOENT,
  unbindable_emulated: EPERM,
  unbindable_emulated_rec: EPERM,
  unbindable_other: 0,
  move_to_proc_self_fd: 0,
  moved_to_fd_content: 0,
  move_emulated: EPERM,
  move_emulated_fd: EPERM,
  move_bad_flags: EINVAL,
  move_group_beneath: EINVAL,
  move_bad_ptr: EFAULT,
  drop_caps: 0,
  nocap_fsopen: EPERM,
  nocap_open_tree: EPERM,
  nocap_move_mount: EPERM,
};

test('fsopen/fsmount/move_mount and open_tree work in a vNode, and never uncover the real /proc files', { skip, timeout: 180_000 }, async (t) => {
  const bin = join(t0.tmp, 'fdmount');
  const b = await buildStatic(fileURLToPath(new URL('../../../agent/seccomp/fixtures/fdmount.c', import.meta.url)), bin);
  assert.equal(b.code, 0, b.stderr);
  const c = await t0.bed.container('fdmount', { vnode: 'shared:sec-fdmount', memoryBytes: 256 << 20, files: { '/bin/fdmount': bin } });
  const r = await c.exec(['/bin/fdmount'], 150_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^done$/m, 'the fixture ran to the end (no call hung)');
  const lines = reportLines(r.stdout);
  assertErrnos(lines, expected, r.stdout);
  const kv = (name: string): Record<string, number> => counters(lines.get(name));
  // The container's emulated meminfo (its 256 MiB limit), the same through every clone of /proc.
  assert.equal(kv('meminfo').kb, 262144);
  assert.equal(kv('open_tree_proc_meminfo').kb, 262144, 'a recursive copy of /proc carries the emulated files');
  assert.equal(kv('moved_proc_meminfo').kb, 262144, 'and so does the clone once attached');
  assert.equal(kv('still_emulated').kb, 262144);
  assert.equal(kv('after_unbindable_meminfo').kb, 262144, 'no emulated file became unbindable, so none was left out of a copy');
  assert.equal(kv('tmpfs_type').is_tmpfs, 1);
  assert.deepEqual(kv('fsopen_cloexec'), { with: 1, without: 1 }, 'close-on-exec exactly as the caller asked');
  for (const name of ['race_fsopen', 'race_open_tree']) t.diagnostic(lines.get(name) ?? `${name} missing`);
  const rf = kv('race_fsopen');
  assert.ok(rf.ok! > 0 && rf.refused! > 0, `the race reached both names: ${lines.get('race_fsopen')}`);
  assert.equal(rf.proc, 0, `no proc context ever came out of a rewritten name: ${lines.get('race_fsopen')}`);
  const rt = kv('race_open_tree');
  assert.ok(rt.proc! > 0 && rt.clones! > rt.proc!, `the race reached both paths: ${lines.get('race_open_tree')}`);
  assert.equal(rt.real, 0, `every /proc copy carried the emulated files: ${lines.get('race_open_tree')}`);
  // Nothing of it reached the host's mount table.
  assert.deepEqual(readMountInfo().filter((m) => m.source.includes('vnode-fdm') || m.mountPoint.includes('vnode-fdm')), []);
  const f = await c.exec(['sh', '-c', 'head -1 /proc/meminfo; grep -c vnode-fdm-tmpfs /proc/self/mountinfo']);
  assert.match(f.stdout, /^MemTotal:\s+262144 kB\n1\n$/, 'still serving; the tmpfs is in the container\'s mount table');
  const stats = await t0.bed.agent.stats();
  assert.equal(stats.reduce((a, s) => a + s.internalErrors, 0), 0, 'no handler failed on its own');
});
