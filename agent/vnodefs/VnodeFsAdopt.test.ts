// What a server that adopts a live FUSE connection (VnodeFs.adopt, after a manager restart) must
// make of what the kernel kept from the server before it: node ids are a function of the path
// (the same file in every server and every registry order), and a file handle an earlier server
// issued is never read as one of this server's, but rendered again for its reader.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { CgroupReader } from '../cgroup/CgroupReader.js';
import { fakeProc, fakeSys, MiB, v1Fixture } from '../cgroup/testing/testFixtures.js';
import { HandleArena } from './HandleArena.js';
import { KEEPER_PREFIX, fromKeeperEntries, keeperEntries } from './handoverState.js';
import { HostFactsReader } from './HostFactsReader.js';
import { CONTAINERS_DIR, InodeTable, nodeIdOf } from './InodeTable.js';
import type { ProcFile } from './ProcFile.js';
import { emptyDirs, procFiles } from './procFiles.js';
import * as abi from './protocol/fuseAbi.js';
import { FuseDispatcher, type FuseNegotiated } from './protocol/FuseDispatcher.js';
import { SharedKv } from './SharedKv.js';
import { SysctlStore } from './SysctlStore.js';
import { ViewBuilder } from './ViewBuilder.js';
import { ViewResolver } from './ViewResolver.js';
import { mountedConnection, type VnodeFsConnection } from './VnodeFs.js';
import { VnodeFsOps } from './VnodeFsOps.js';

const cg = v1Fixture({ memory: 256 * MiB, cpu: { quota: 50000, period: 100000 } });
const cgText = (p: string): string => `4:memory:${p}\n3:cpuset:${p}\n2:cpuacct:${p}\n1:cpu:${p}\n0::/\n`;
// pid 101: a container limited to 256 MiB (vNode A); pid 201: another vNode's process (B).
const proc = fakeProc([
  { pid: 101, cgroup: cgText(cg.path), userns: 1001, rootUid: 100000 },
  { pid: 201, cgroup: cgText('/kubepods/pod1'), userns: 2002, rootUid: 200000 },
]);
const sys = fakeSys('0-3');
after(() => {
  cg.cleanup();
  proc.cleanup();
  sys.cleanup();
});
const A = { pid: 101, uid: 100000 };
const B = { pid: 201, uid: 200000 };

let now = 1_800_000_000_000;
const kv = new SharedKv(256);

/** One server's worker: its own inode table (from `files`, in that order) and arena (epoch);
 * `o.arena` and `o.worker` make a second worker of the same server. */
function server(epoch: number, o: { files?: readonly ProcFile[]; negotiated?: FuseNegotiated; arena?: HandleArena; worker?: number; kv?: SharedKv } = {}): { s: FuseDispatcher; ops: VnodeFsOps; arena: HandleArena; table: InodeTable } {
  const table = new InodeTable(o.files ?? procFiles, emptyDirs);
  const arena = o.arena ?? new HandleArena({ workers: 2, slotsPerWorker: 4, slotSize: 8192, epoch });
  const negotiated = o.negotiated;
  const ops = new VnodeFsOps({
    table,
    arena,
    worker: o.worker ?? 0,
    kv: o.kv ?? new SharedKv(64),
    resolver: new ViewResolver(proc.root),
    builder: new ViewBuilder(new CgroupReader({ root: cg.root }), new HostFactsReader(proc.root, sys.root), kv, proc.root),
    sysctl: new SysctlStore(kv, proc.root),
    mountedAt: 1,
    now: () => now,
  });
  return { s: new FuseDispatcher(ops, { maxWrite: 4096, entryValid: 60, attrValid: 60, negotiated }), ops, arena, table };
}

function call(s: FuseDispatcher, opcode: number, nodeid: number, who: { pid: number; uid: number }, body: Buffer = Buffer.alloc(0), unique = 2n): { error: number; unique: bigint; body: Buffer } {
  const b = Buffer.alloc(40 + body.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt32LE(opcode, 4);
  b.writeBigUInt64LE(unique, 8);
  b.writeUInt32LE(nodeid, 16);
  b.writeUInt32LE(who.uid, 24);
  b.writeUInt32LE(who.pid, 32);
  body.copy(b, 40);
  const r = s.handle(b, b.length)!;
  return { error: r.readInt32LE(4), unique: r.readBigUInt64LE(8), body: r.subarray(16) };
}

const fhIn = (fh: number, offset = 0, size = 0, size40 = true): Buffer => {
  const b = Buffer.alloc(size40 ? 40 : 24);
  b.writeBigUInt64LE(BigInt(fh), 0);
  if (size40) {
    b.writeBigUInt64LE(BigInt(offset), 8);
    b.writeUInt32LE(size, 16);
    b.writeUInt32LE(abi.FUSE_READ_LOCKOWNER, 20);
  }
  return b;
};
const open = (x: ReturnType<typeof server>, path: string, who: typeof A): number => {
  const o = call(x.s, abi.Op.OPEN, x.table.byPath(path)!.ino, who, Buffer.alloc(8));
  assert.equal(o.error, 0);
  return Number(o.body.readBigUInt64LE(0));
};
const read = (x: ReturnType<typeof server>, path: string, who: typeof A, fh: number, offset = 0, size = 65536): { error: number; text: string } => {
  const r = call(x.s, abi.Op.READ, x.table.byPath(path)!.ino, who, fhIn(fh, offset, size));
  return { error: r.error, text: r.body.toString('latin1') };
};

test('node ids are a function of the path: the same in any registry order, with entries added or gone', () => {
  const a = new InodeTable(procFiles, emptyDirs);
  // Another version's registry: reversed, its last file gone, a file added.
  const gone = procFiles[procFiles.length - 1]!.path;
  const b = new InodeTable([...procFiles].reverse().slice(1).concat({ ...procFiles[0]!, path: 'proc/added-later' }), emptyDirs);
  assert.deepEqual(a.collisions, [], 'no two paths of the registry share a hash');
  assert.equal(a.byPath('')!.ino, abi.FUSE_ROOT_ID);
  const seen = new Set<number>();
  for (const path of [...procFiles.map((f) => f.path), ...emptyDirs, CONTAINERS_DIR]) {
    const parts = path.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      const ino = a.byPath(p)!.ino;
      assert.ok(Number.isInteger(ino) && ino > abi.FUSE_ROOT_ID && ino < 2 ** 32, `${p}: ${ino}`);
      assert.equal(ino, nodeIdOf(p));
      assert.equal(a.pathOf(ino), p);
      if (p !== gone) assert.equal(b.byPath(p)?.ino, ino, `${p} keeps its id in another registry`);
      seen.add(ino);
    }
  }
  assert.equal(seen.size, a.size - 1);
  // A path the new registry lacks is ENOENT, never another file.
  assert.equal(b.get(a.byPath(gone)!.ino), undefined);
});

test('two paths with the same hash: the later one in the registry gets a salted id', () => {
  const byHash = new Map<number, string>();
  let pair: [string, string] | null = null;
  for (let i = 0; !pair; i++) {
    const p = `d/f${i}`;
    const h = nodeIdOf(p);
    const other = byHash.get(h);
    if (other) pair = [other, p];
    else byHash.set(h, p);
  }
  const f = procFiles[0]!;
  const t = new InodeTable([{ ...f, path: pair[0] }, { ...f, path: pair[1] }]);
  assert.equal(t.byPath(pair[0])!.ino, nodeIdOf(pair[0]));
  assert.equal(t.byPath(pair[1])!.ino, nodeIdOf(pair[1], 1));
  assert.deepEqual(t.collisions, [pair[1]]);
  assert.equal(t.get(nodeIdOf(pair[0]))!.file!.path, pair[0]);
});

test('a handle of an earlier server never reads a slot of this one, even at the same slot and generation', () => {
  const old = server(7);
  const fhA = open(old, 'proc/meminfo', A); // slot 0, generation 1, epoch 7
  const fresh = server(8);
  const fhB = open(fresh, 'proc/meminfo', B); // slot 0, generation 1, epoch 8
  assert.equal(fhA % 2 ** 32, fhB % 2 ** 32, 'same slot and generation');
  assert.equal(HandleArena.epochOf(fhA), 7);
  assert.equal(fresh.arena.ours(fhA), false);
  assert.equal(fresh.arena.read(fhA, 0, 100), null);
  const r = read(fresh, 'proc/meminfo', A, fhA);
  assert.equal(r.error, 0);
  assert.match(r.text, /^MemTotal:\s+262144 kB$/m, "A's own view, rendered again");
  const bText = read(fresh, 'proc/meminfo', B, fhB).text;
  // B (its pod's group, no usage of its own in the fixture) reads the host's figures, not A's.
  assert.match(bText, /^MemTotal:\s+16384000 kB$/m, `B's open file is untouched: ${bText.slice(0, 60)}`);
  assert.equal(fresh.ops.foreignReads, 1);
});

test('a file read in pieces across the restart is one rendering, whichever worker reads a piece, until its RELEASE', () => {
  const old = server(3);
  const fh = open(old, 'proc/uptime', A);
  const shared = new SharedKv(64);
  const w0 = server(4, { kv: shared });
  const w1 = server(4, { kv: shared, arena: new HandleArena({ sab: w0.arena.sab, slotsPerWorker: 4, slotSize: 8192, epoch: 4 }), worker: 1 });
  const first = read(w0, 'proc/uptime', A, fh, 0, 4).text;
  now += 10_000;
  const rest = read(w1, 'proc/uptime', A, fh, 4).text;
  assert.equal(read(w1, 'proc/uptime', A, fh, 0).text, first + rest, 'the other worker continues the same rendering');
  assert.match(first + rest, /^\d+\.\d\d \d+\.\d\d\n$/);
  assert.equal(w0.arena.inUse(), 1, 'the rendering is held in one slot');
  assert.equal(call(w1.s, abi.Op.RELEASE, w1.table.byPath('proc/uptime')!.ino, A, fhIn(fh, 0, 0, false)).error, 0);
  assert.equal(w0.arena.inUse(), 0, 'RELEASE frees it, on any worker');
  assert.equal(shared.size, 0);
  now -= 10_000;
});

test('a read sequence the restart cut goes on at a line end of the new rendering, or ends', () => {
  const old = server(9);
  const fhEof = open(old, 'proc/loadavg', A);
  const fhLine = open(old, 'proc/meminfo', A);
  const fhMid = open(old, 'proc/meminfo', A);
  const whole = read(old, 'proc/meminfo', A, fhLine).text;
  const firstLine = whole.indexOf('\n') + 1;
  const x = server(10);
  // The reader got all of loadavg from the old server; its end-of-file READ comes here.
  assert.deepEqual(read(x, 'proc/loadavg', A, fhEof, read(old, 'proc/loadavg', A, fhEof).text.length), { error: 0, text: '' });
  const rest = read(x, 'proc/meminfo', A, fhLine, firstLine);
  assert.equal(rest.error, 0);
  assert.match(rest.text, /^MemFree:/, 'whole lines from the new rendering');
  assert.deepEqual(read(x, 'proc/meminfo', A, fhMid, firstLine + 3), { error: 0, text: '' }, 'not half a line');
});

test('with no room to hold it, a foreign handle is rendered per worker, never an error', () => {
  const old = server(5);
  const fh = open(old, 'proc/meminfo', A);
  const full = new HandleArena({ workers: 1, slotsPerWorker: 1, slotSize: 8192, epoch: 6 });
  const x = server(6, { arena: full });
  const blocker = open(x, 'proc/loadavg', A);
  assert.ok(blocker > 0 && full.inUse() === 1);
  const r = read(x, 'proc/meminfo', A, fh, 0, 10);
  const r2 = read(x, 'proc/meminfo', A, fh, 10);
  assert.equal(r.error, 0);
  assert.match(r.text + r2.text, /^MemTotal:\s+262144 kB$/m);
});

test('RELEASE, FLUSH, GETATTR on an earlier server\'s handle succeed; this server\'s released handle is EBADF', () => {
  const old = server(11);
  const fh = open(old, 'proc/loadavg', A);
  const fresh = server(12);
  const ino = fresh.table.byPath('proc/loadavg')!.ino;
  assert.equal(read(fresh, 'proc/loadavg', A, fh).error, 0);
  assert.equal(call(fresh.s, abi.Op.FLUSH, ino, A, fhIn(fh, 0, 0, false)).error, 0);
  assert.equal(call(fresh.s, abi.Op.GETATTR, ino, A, Buffer.alloc(16)).error, 0);
  assert.equal(call(fresh.s, abi.Op.RELEASE, ino, A, fhIn(fh, 0, 0, false)).error, 0);
  assert.equal(fresh.arena.inUse(), 0);
  const own = open(fresh, 'proc/loadavg', A);
  assert.equal(call(fresh.s, abi.Op.RELEASE, ino, A, fhIn(own, 0, 0, false)).error, 0);
  assert.equal(read(fresh, 'proc/loadavg', A, own).error, -abi.EBADF);
  // One of ours on another node (the kernel never does this) is refused, not read.
  const own2 = open(fresh, 'proc/loadavg', A);
  assert.equal(call(fresh.s, abi.Op.READ, fresh.table.byPath('proc/uptime')!.ino, A, fhIn(own2, 0, 100)).error, -abi.EBADF);
});

test('an adopted dispatcher answers without INIT, and a resent request (unique bit 63) gets its own unique back', () => {
  const neg: FuseNegotiated = { minor: 38, flags: abi.FUSE_ASYNC_READ, kernelFlags2: abi.FUSE_HAS_RESEND_FLAGS2, maxWrite: 32768, maxReadahead: 131072 };
  const x = server(21, { negotiated: neg });
  assert.equal(x.s.negotiatedMinor, 38);
  const unique = abi.FUSE_UNIQUE_RESEND | 1234n;
  const r = call(x.s, abi.Op.GETATTR, x.table.byPath('proc/meminfo')!.ino, A, Buffer.alloc(16), unique);
  assert.equal(r.error, 0);
  assert.equal(r.unique, unique);
});

test('INIT records the terms an adopter needs, the kernel\'s flags2 included', () => {
  const x = server(1);
  const init = Buffer.alloc(64);
  init.writeUInt32LE(7, 0);
  init.writeUInt32LE(45, 4);
  init.writeUInt32LE(131072, 8);
  init.writeUInt32LE(abi.FUSE_ASYNC_READ | abi.FUSE_INIT_EXT | abi.FUSE_ATOMIC_O_TRUNC, 12);
  init.writeUInt32LE(abi.FUSE_HAS_RESEND_FLAGS2, 16);
  assert.equal(call(x.s, abi.Op.INIT, 0, A, init).error, 0);
  assert.deepEqual(x.s.negotiated, { minor: 38, flags: abi.FUSE_ASYNC_READ, kernelFlags2: abi.FUSE_HAS_RESEND_FLAGS2, maxWrite: 4096, maxReadahead: 131072 });
});

test('keeper entries round-trip; the connection is found in mountinfo without touching the mount', () => {
  const state = { version: 1, mountpoint: '/run/vnode/vnodefs', connection: 77 } as VnodeFsConnection;
  const entries = keeperEntries({ fds: [10, 11, 12], state });
  assert.deepEqual(entries.map((e) => e.name), [`${KEEPER_PREFIX}0`, `${KEEPER_PREFIX}1`, `${KEEPER_PREFIX}2`]);
  const back = fromKeeperEntries([{ name: 'other', fd: 3 }, ...[...entries].reverse()], state);
  assert.deepEqual(back?.fds, [10, 11, 12]);
  assert.equal(fromKeeperEntries([{ name: 'other', fd: 3 }], state), null);
  const mi = [
    '36 25 0:32 / /run/vnode/vnodefs rw,nosuid,nodev,relatime shared:15 - fuse.vnodefs vnodefs rw,user_id=0,group_id=0,allow_other',
    '37 25 0:33 / /run/other rw - fuse.sshfs x rw',
    '38 25 0:40 / /run/with\\040space rw - fuse.vnodefs vnodefs rw',
  ].join('\n');
  assert.equal(mountedConnection('/run/vnode/vnodefs', mi), 32);
  assert.equal(mountedConnection('/run/with space', mi), 40);
  assert.equal(mountedConnection('/run/other', mi), null);
});
