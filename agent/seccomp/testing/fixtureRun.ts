// The static C fixtures (agent/seccomp/fixtures/*.c) run in a vNode container of a SeccompTestBed
// and print one line per case: "name ret=R errno=E" or "name key=value ...". This reads them back
// and holds the bed for one test file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { constants } from 'node:os';
import { after, before } from 'node:test';
import { SeccompTestBed } from './SeccompTestBed.js';

/** A bed and a scratch directory for the file's tests, made before and removed after them (unless skipped). */
export function fixtureBed(tmpPrefix: string, skip: string | false | undefined): { readonly bed: SeccompTestBed; readonly tmp: string } {
  let bed: SeccompTestBed | undefined;
  let tmp: string | undefined;
  before(async () => {
    if (skip) return;
    tmp = mkdtempSync(tmpPrefix);
    bed = await SeccompTestBed.start();
  });
  after(async () => {
    if (bed) await bed.teardown();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
  return {
    get bed() {
      return bed!;
    },
    get tmp() {
      return tmp!;
    },
  };
}

/** The fixture's lines by case name. */
export function reportLines(stdout: string): Map<string, string> {
  return new Map(stdout.trim().split('\n').map((l) => [l.split(' ')[0]!, l] as const));
}

/** Every case in `expected` was reported with that errno (0: ret=0). */
export function assertErrnos(lines: Map<string, string>, expected: Record<string, number>, all: string): void {
  for (const [name, errno] of Object.entries(expected)) {
    const l = lines.get(name);
    assert.ok(l, `missing ${name} in:\n${all}`);
    const m = /ret=(-?\d+) errno=(\d+)/.exec(l);
    assert.ok(m, l);
    if (errno === 0) assert.equal(m[1], '0', l);
    else assert.deepEqual([m[1], Number(m[2])], ['-1', errno], l);
  }
}

/** The key=value numbers of a counter line. */
export function counters(line: string | undefined): Record<string, number> {
  return Object.fromEntries([...(line ?? '').matchAll(/(\w+)=(-?\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}

const { EPERM, ENOENT, EBADF, EFAULT, ENODEV, EINVAL, ENOSYS, EROFS } = constants.errno;

/** fixtures/fdmount.c: each case's errno (0: success). */
export const FDMOUNT_EXPECTED: Record<string, number> = {
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
  open_tree_attr: ENOSYS, // newer than libseccomp: the tree's runc answers ENOSYS (runc/vnode-enosys.patch)
  newest_syscall: ENOSYS,
  unbindable_emulated: EPERM,
  unbindable_emulated_rec: EPERM,
  unbindable_other: 0,
  setattr_unbindable_copy_rec: EPERM, // a detached copy of /proc: its emulated mounts stay bindable
  setattr_unbindable_emulated: EPERM,
  setattr_unbindable_other: 0,
  setattr_ro: 0,
  setattr_ro_effect: EROFS,
  move_to_proc_self_fd: 0,
  moved_to_fd_content: 0,
  bind_source_fd_nested_pidns: 0,
  bound_source_content: 0,
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

/** Checks a run of fixtures/fdmount.c in a container whose emulated MemTotal is `emulatedKb`:
 * every errno, the emulated figure through every copy of /proc, close-on-exec as asked, and the
 * races (both values reached, never a proc context, never a copy of /proc without the emulated
 * files). Returns the lines. */
export function assertFdMountReport(stdout: string, emulatedKb: number): Map<string, string> {
  assert.match(stdout, /^done$/m, `the fixture ran to the end (no call hung):\n${stdout}`);
  const lines = reportLines(stdout);
  assertErrnos(lines, FDMOUNT_EXPECTED, stdout);
  const kv = (name: string): Record<string, number> => counters(lines.get(name));
  assert.equal(kv('meminfo').kb, emulatedKb);
  assert.equal(kv('open_tree_proc_meminfo').kb, emulatedKb, 'a recursive copy of /proc carries the emulated files');
  assert.equal(kv('moved_proc_meminfo').kb, emulatedKb, 'and so does the copy once attached');
  assert.equal(kv('still_emulated').kb, emulatedKb);
  assert.equal(kv('after_unbindable_meminfo').kb, emulatedKb, 'no emulated file became unbindable, so none was left out of a copy');
  // overlayfs takes each layer's mount alone: the kernel refuses procfs as a layer (EINVAL here);
  // if one ever allowed it, the real meminfo would show through.
  assert.equal(kv('overlay_proc_meminfo').kb, emulatedKb, `/proc as an overlay layer: ${lines.get('overlay_proc_layer')}`);
  assert.equal(kv('tmpfs_type').is_tmpfs, 1);
  assert.deepEqual(kv('fsopen_cloexec'), { with: 1, without: 1 }, 'close-on-exec exactly as the caller asked');
  const rf = kv('race_fsopen');
  assert.ok(rf.ok! > 0 && rf.refused! > 0, `the race reached both names: ${lines.get('race_fsopen')}`);
  assert.equal(rf.proc, 0, `no proc context ever came out of a rewritten name: ${lines.get('race_fsopen')}`);
  const rt = kv('race_open_tree');
  assert.ok(rt.proc! > 0 && rt.clones! > rt.proc!, `the race reached both paths: ${lines.get('race_open_tree')}`);
  assert.equal(rt.real, 0, `every /proc copy carried the emulated files: ${lines.get('race_open_tree')}`);
  return lines;
}
