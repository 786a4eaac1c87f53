import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nsAction, NS_SAFE_DEVICES, NsOp } from '../../../addon/nsaction.js';
import { parseStatus } from '../CallerProc.js';
import { INTERCEPTED_SYSCALLS } from '../interceptedSyscalls.js';
import { AUDIT_ARCH, syscallOf, X32_SYSCALL_BIT } from '../syscallTable.js';
import { decodeDev, SAFE_CHAR_DEVICES } from './mknod.js';
import { CONTINUE, type HandlerEnv } from './types.js';
import { selfToCaller, targetOf } from './mount.js';
import { handlers } from './registry.js';
import { narrowMask } from './sched_getaffinity.js';
import { encodeSysinfo } from './sysinfo.js';

test('the profile notifies exactly the syscalls that have handlers, and each has a number', () => {
  assert.deepEqual([...handlers.keys()].sort(), [...INTERCEPTED_SYSCALLS].sort());
  assert.deepEqual(syscallOf(AUDIT_ARCH.X86_64, 165), { abi: 'x86_64', name: 'mount' });
  assert.deepEqual(syscallOf(AUDIT_ARCH.X86_64, 99 | X32_SYSCALL_BIT), { abi: 'x32', name: 'sysinfo' });
  assert.deepEqual(syscallOf(AUDIT_ARCH.I386, 22), { abi: 'i386', name: 'umount' });
  assert.equal(syscallOf(AUDIT_ARCH.X86_64, 0), undefined);
  for (const n of INTERCEPTED_SYSCALLS) {
    const found = [AUDIT_ARCH.X86_64, AUDIT_ARCH.I386].some((arch) => [...Array(600).keys()].some((nr) => syscallOf(arch, nr)?.name === n));
    assert.ok(found, `${n} has a syscall number`);
  }
});

test('struct sysinfo: 112 bytes on x86_64, 64 on i386 with mem_unit scaling past 4 GiB', () => {
  const f = { uptime: 42, loads: [65536, 2 * 65536, 0] as [number, number, number], totalram: 256 << 20, freeram: 200 << 20, sharedram: 4096, bufferram: 0, totalswap: 0, freeswap: 0, procs: 7, memUnit: 1 };
  const b = encodeSysinfo(f, 8);
  assert.equal(b.length, 112);
  assert.equal(b.readBigInt64LE(0), 42n);
  assert.equal(b.readBigUInt64LE(8), 65536n);
  assert.equal(b.readBigUInt64LE(32), BigInt(256 << 20));
  assert.equal(b.readBigUInt64LE(40), BigInt(200 << 20));
  assert.equal(b.readUInt16LE(80), 7);
  assert.equal(b.readUInt32LE(104), 1);
  const big = encodeSysinfo({ ...f, totalram: 16 * 2 ** 30 }, 4);
  assert.equal(big.length, 64);
  const unit = big.readUInt32LE(52);
  assert.ok(unit >= 4);
  assert.equal(big.readUInt32LE(16) * unit, 16 * 2 ** 30);
});

test('affinity mask: narrowed to the visible CPUs, never empty', () => {
  assert.deepEqual([...narrowMask(Buffer.from([0b1111, 0, 0, 0, 0, 0, 0, 0]), [0])], [1, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...narrowMask(Buffer.from([0b1100]), [0, 1])], [0b1100], 'pinned elsewhere: as many CPUs as the container has, from its own mask');
  assert.deepEqual([...narrowMask(Buffer.from([0b1111]), [1, 3])], [0b1010]);
});

test('mknod dev decoding and the safe device set', () => {
  assert.deepEqual(decodeDev((1 << 8) | 3), { major: 1, minor: 3 });
  assert.deepEqual(decodeDev((259 << 8) | 0x12 | (0x34500 << 12)), { major: 259, minor: 0x34512 });
  assert.deepEqual([...SAFE_CHAR_DEVICES.keys()].sort(), ['1:3', '1:5', '1:7', '1:8', '1:9', '5:0']);
  // The addon's hard limit on what host root creates is the same set, with the same host devices.
  assert.deepEqual(
    NS_SAFE_DEVICES.map(([ma, mi, p]) => [`${ma}:${mi}`, p]).sort(),
    [...SAFE_CHAR_DEVICES.entries()].sort(),
  );
});

test('mknod of a FIFO, socket, file or whiteout is answered CONTINUE at once, from the registers alone', async () => {
  // Synchronous: the loop sends it before it looks for the next call (a promise would put the
  // answer behind that poll and a microtask turn: 12-15 us a round trip instead of 7).
  const untouchable = (): never => assert.fail('register-only decision touched the caller');
  const env = (args: bigint[]): HandlerEnv =>
    ({ call: { id: 1n, tid: 1, abi: 'x86_64', name: 'mknodat', args }, memory: untouchable, status: untouchable, ensureValid: untouchable, nsAction: untouchable }) as unknown as HandlerEnv;
  const h = handlers.get('mknodat')!;
  for (const mode of [0o010600, 0o140600, 0o100600, 0o020000])
    assert.deepEqual(h.handle(env([BigInt(-100 >>> 0), 0x1000n, BigInt(mode), 0n])), CONTINUE, `mode ${mode.toString(8)}`);
  // A device is not: it reads the path and the caller's capabilities, on the asynchronous path.
  const device = h.handle(env([BigInt(-100 >>> 0), 0x1000n, 0o020600n, BigInt((1 << 8) | 3)]));
  assert.ok(device instanceof Promise);
  await assert.rejects(device, /touched the caller/);
});

test('the addon refuses a mknod request outside the safe set before doing anything', () => {
  for (const rdev of [[8, 0], [1, 1], [0, 0], [4, 1]] as [number, number][])
    assert.throws(() => nsAction({ op: NsOp.mknod, pid: process.pid, path: '/tmp/x', rdev }), /only the safe character devices, not \d+:\d+/);
  assert.throws(() => nsAction({ op: NsOp.mknod, pid: process.pid, path: '/tmp/x' }), /only the safe character devices/);
});

test('/proc/self in a bind source names the caller, not the helper', () => {
  const c = { nsTid: 12, nsTgid: 10 };
  assert.equal(selfToCaller('/proc/self/ns/net', c), '/proc/10/ns/net');
  assert.equal(selfToCaller('/proc/thread-self/fd/3', c), '/proc/10/task/12/fd/3');
  // runc's mount targets: the caller's own O_PATH descriptor, handed over as such.
  assert.deepEqual(targetOf('/proc/self/fd/6'), { path: '', dirfd: 6 });
  assert.deepEqual(targetOf('/proc/thread-self/fd/12'), { path: '', dirfd: 12 });
  assert.deepEqual(targetOf('/proc/self/fd/6/sub'), { path: '/proc/self/fd/6/sub' }, 'a path below it is resolved as a path');
  assert.deepEqual(targetOf('/proc/1/fd/6'), { path: '/proc/1/fd/6' });
  assert.deepEqual(targetOf('/mnt'), { path: '/mnt' });
  assert.equal(selfToCaller('//proc//self', c), '/proc/10');
  assert.equal(selfToCaller('/proc/selfish', c), '/proc/selfish');
  assert.equal(selfToCaller('/tmp/proc/self', c), '/tmp/proc/self');
});

test('caller status: capabilities, umask, ids in its own pid namespace', () => {
  const s = parseStatus('Name:\tsh\nUmask:\t0027\nPid:\t5000\nNStgid:\t5000\t7\nNSpid:\t5001\t8\nCapEff:\t000001ffffffffff\n');
  assert.equal(s.umask, 0o27);
  assert.equal(s.nsTid, 8);
  assert.equal(s.nsTgid, 7);
  assert.equal(s.capEff, 0x1ffffffffffn);
});
