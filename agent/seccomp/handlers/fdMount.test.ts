// The decisions of the fd mount API handlers and mount(2)'s MS_UNBINDABLE, with a stand-in for
// the caller (memory, status) and a recorder for the namespace actions; fdMount.e2e.test.ts runs
// them against the kernel.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nsAction, NsOp, type NsActionRequest } from '../../../addon/nsaction.js';
import { MountConstants as M } from '../../../addon/mount.js';
import { Errno, SyscallFault } from '../SyscallFault.js';
import type { TargetMemory } from '../TargetMemory.js';
import { fsopen } from './fsopen.js';
import { mount } from './mount.js';
import { mount_setattr } from './mount_setattr.js';
import { move_mount } from './move_mount.js';
import { open_tree } from './open_tree.js';
import type { Answer, HandlerEnv, SyscallHandler } from './types.js';

const ALL_CAPS = (1n << 41n) - 1n;
const AT_FDCWD = BigInt.asUintN(64, -100n);

/** A caller whose memory holds `mem` (address -> bytes), with `caps`, pid 10/tid 12 in its namespace. */
function env(name: string, args: bigint[], mem: Record<string, Buffer | string>, opts: { caps?: bigint; emulated?: boolean } = {}) {
  const actions: Omit<NsActionRequest, 'pid' | 'listener' | 'id'>[] = [];
  const at = (addr: bigint): Buffer => {
    const v = mem[addr.toString()];
    if (v === undefined) throw new SyscallFault(Errno.EFAULT, `no memory at ${addr}`);
    return typeof v === 'string' ? Buffer.from(v + '\0') : v;
  };
  const memory = {
    cString: (addr: bigint, max: number, _what: string, tooLong = Errno.ENAMETOOLONG) => {
      const b = at(addr);
      const nul = b.indexOf(0);
      if (nul < 0 || nul >= max) throw new SyscallFault(tooLong, 'too long');
      return b.subarray(0, nul).toString();
    },
    read: (addr: bigint, len: number) => {
      const b = at(addr);
      if (b.length < len) throw new SyscallFault(Errno.EFAULT, 'short');
      return b.subarray(0, len);
    },
  } as unknown as TargetMemory;
  const e = {
    call: { id: 1n, tid: 4000, abi: 'x86_64', name, args },
    emulation: opts.emulated === false ? undefined : { protect: [0, 77] as [number, number], procOverlays: [], sysOverlays: [] },
    log: { debug() {}, info() {}, warn() {}, error() {} },
    memory: () => memory,
    ensureValid() {},
    status: () => ({ capEff: opts.caps ?? ALL_CAPS, umask: 0o22, nsTid: 12, nsTgid: 10 }),
    nsAction: async (req: Omit<NsActionRequest, 'pid' | 'listener' | 'id'>) => {
      actions.push(req);
      return { errno: 0, code: '', stage: '', value: 5 };
    },
  } as unknown as HandlerEnv;
  return { e, actions };
}

const run = async (h: SyscallHandler, e: HandlerEnv): Promise<Answer> => h.handle(e);
const errno = (n: number): Answer => ({ kind: 'errno', errno: n });

test('open_tree: an O_PATH open and a recursive copy run natively, a plain copy is ENOSYS, unknown flags EINVAL', async () => {
  const CLONE = 1n;
  const REC = 0x8000n;
  const call = (flags: bigint, emulated = true) => run(open_tree, env('open_tree', [AT_FDCWD, 100n, flags], { 100: '/proc' }, { emulated }).e);
  assert.deepEqual(await call(0n), { kind: 'continue' });
  assert.deepEqual(await call(CLONE | REC), { kind: 'continue' });
  assert.deepEqual(await call(CLONE | REC | 0o2000000n), { kind: 'continue' });
  assert.deepEqual(await call(CLONE), errno(Errno.ENOSYS));
  assert.deepEqual(await call(CLONE, false), { kind: 'continue' }, 'nothing emulated: nothing to protect');
  assert.deepEqual(await call(REC), { kind: 'continue' }, 'AT_RECURSIVE without a copy: the kernel says EINVAL (fdMount.e2e)');
  assert.deepEqual(await call(CLONE | REC | 0x4n), errno(Errno.EINVAL), 'a flag the handler does not know is never passed on');
});

test('fsopen: made by the manager and sent; proc and sysfs ENOSYS; EPERM without CAP_SYS_ADMIN; kernel order of errors', async () => {
  const tmpfs = env('fsopen', [100n, 1n], { 100: 'tmpfs' });
  assert.deepEqual(await run(fsopen, tmpfs.e), { kind: 'sent', fd: 5 });
  assert.deepEqual(tmpfs.actions, [{ op: NsOp.fsopen, joinUser: true, fstype: 'tmpfs', flags: 1 }]);
  for (const t of ['proc', 'sysfs']) {
    const p = env('fsopen', [100n, 0n], { 100: t });
    assert.deepEqual(await run(fsopen, p.e), errno(Errno.ENOSYS), t);
    assert.equal(p.actions.length, 0);
  }
  assert.deepEqual(await run(fsopen, env('fsopen', [100n, 0n], { 100: 'tmpfs' }, { caps: 0n }).e), errno(Errno.EPERM));
  assert.deepEqual(await run(fsopen, env('fsopen', [100n, 2n], { 100: 'tmpfs' }).e), errno(Errno.EINVAL));
  await assert.rejects(run(fsopen, env('fsopen', [200n, 0n], {}).e), (e: SyscallFault) => e.errno === Errno.EFAULT);
  await assert.rejects(run(fsopen, env('fsopen', [100n, 0n], { 100: 'x'.repeat(5000) }).e), (e: SyscallFault) => e.errno === Errno.EINVAL, 'a name past a page: EINVAL as strndup_user');
});

test('the addon never makes a proc or sysfs context, and fsopen needs a notification to answer', () => {
  for (const fstype of ['proc', 'sysfs'])
    assert.throws(() => nsAction({ op: NsOp.fsopen, pid: process.pid, listener: 0, id: 1n, fstype }), /fsopen of \w+ is never made for a caller/);
  assert.throws(() => nsAction({ op: NsOp.fsopen, pid: process.pid, fstype: 'tmpfs' }), /listener and id are required/);
});

test("move_mount: runc's /proc/self/fd/N is the caller's descriptor when followed, dirfds only where the kernel uses them", async () => {
  const T_SYMLINKS = 0x10n;
  const F_EMPTY = 0x4n;
  const a = env('move_mount', [7n, 100n, AT_FDCWD, 200n, F_EMPTY | T_SYMLINKS], { 100: '', 200: '/proc/self/fd/9' });
  assert.deepEqual(await run(move_mount, a.e), { kind: 'value', val: 0 });
  assert.deepEqual(a.actions[0], { op: NsOp.moveMount, joinUser: true, path: '', dirfd: 9, path2: '', dirfd2: 7, flags: Number(F_EMPTY | T_SYMLINKS | 0x40n), protect: [0, 77] });
  // Not followed: the link itself, named through the caller's pid (the helper's "self" is not it).
  const b = env('move_mount', [3n, 100n, 99n, 200n, 0n], { 100: 'rel/src', 200: '/proc/self/fd/9' });
  await run(move_mount, b.e);
  assert.deepEqual([b.actions[0]!.path, b.actions[0]!.dirfd, b.actions[0]!.path2, b.actions[0]!.dirfd2], ['/proc/10/fd/9', undefined, 'rel/src', 3]);
  assert.deepEqual(await run(move_mount, env('move_mount', [AT_FDCWD, 100n, AT_FDCWD, 200n, 0x300n], { 100: '/a', 200: '/b' }).e), errno(Errno.EINVAL), 'SET_GROUP with BENEATH');
  assert.deepEqual(await run(move_mount, env('move_mount', [AT_FDCWD, 100n, AT_FDCWD, 200n, 0x1000n], { 100: '/a', 200: '/b' }).e), errno(Errno.EINVAL));
  assert.deepEqual(await run(move_mount, env('move_mount', [AT_FDCWD, 100n, AT_FDCWD, 200n, 0n], { 100: '/a', 200: '/b' }, { caps: 0n }).e), errno(Errno.EPERM));
});

test('mount_setattr: struct size and tail as the kernel checks them, idmap fd passed as a descriptor, done by the manager', async () => {
  const attr = (set: bigint, clr: bigint, prop: bigint, fd: bigint, extra = 0) => {
    const b = Buffer.alloc(32 + extra);
    b.writeBigUInt64LE(set, 0);
    b.writeBigUInt64LE(clr, 8);
    b.writeBigUInt64LE(prop, 16);
    b.writeBigUInt64LE(fd, 24);
    return b;
  };
  const call = (args: bigint[], a: Buffer) => env('mount_setattr', args, { 100: '/mnt', 300: a });
  const idmap = call([AT_FDCWD, 100n, 0x8000n, 300n, 32n], attr(0x100000n, 0n, 0n, 6n));
  assert.deepEqual(await run(mount_setattr, idmap.e), { kind: 'value', val: 0 });
  assert.deepEqual(idmap.actions[0], { op: NsOp.setattr, joinUser: true, path: '/mnt', dirfd: undefined, dirfd2: 6, flags: 0x8000, attrSet: 0x100000, attrClr: 0, propagation: 0, protect: [0, 77] });
  assert.deepEqual(await run(mount_setattr, call([AT_FDCWD, 100n, 0n, 300n, 24n], attr(0n, 0n, 0n, 0n)).e), errno(Errno.EINVAL), 'smaller than version 0');
  assert.deepEqual(await run(mount_setattr, call([AT_FDCWD, 100n, 0n, 300n, 8192n], attr(0n, 0n, 0n, 0n)).e), errno(Errno.E2BIG));
  const tail = attr(1n, 0n, 0n, 0n, 8);
  tail[35] = 1;
  assert.deepEqual(await run(mount_setattr, call([AT_FDCWD, 100n, 0n, 300n, 40n], tail).e), errno(Errno.E2BIG), 'a non-zero tail');
  assert.deepEqual(await run(mount_setattr, call([AT_FDCWD, 100n, 0n, 300n, 40n], attr(1n, 0n, 0n, 0n, 8)).e), { kind: 'value', val: 0 }, 'a zero tail is fine');
  assert.deepEqual(await run(mount_setattr, call([AT_FDCWD, 100n, 0x2n, 300n, 32n], attr(0n, 0n, 0n, 0n)).e), errno(Errno.EINVAL), 'unknown flag');
  assert.deepEqual(await run(mount_setattr, call([AT_FDCWD, 100n, 0n, 300n, 32n], attr(1n << 40n, 0n, 0n, 0n)).e), errno(Errno.EINVAL), 'attribute bits past 32');
});

test('mount(2) MS_UNBINDABLE goes to the manager as mount_setattr (MS_REC: AT_RECURSIVE); other propagation changes run natively', async () => {
  const call = (flags: number) => env('mount', [0n, 100n, 0n, BigInt(flags), 0n], { 100: '/proc' });
  const rec = call(M.MS_UNBINDABLE | M.MS_REC);
  await run(mount, rec.e);
  assert.deepEqual(rec.actions[0], { op: NsOp.setattr, joinUser: true, path: '/proc', dirfd: undefined, flags: 0x8000, propagation: M.MS_UNBINDABLE, protect: [0, 77] });
  const one = call(M.MS_UNBINDABLE);
  await run(mount, one.e);
  assert.equal(one.actions[0]!.flags, 0);
  for (const f of [M.MS_PRIVATE, M.MS_SLAVE | M.MS_REC, M.MS_SHARED]) assert.deepEqual(await run(mount, call(f).e), { kind: 'continue' });
});
