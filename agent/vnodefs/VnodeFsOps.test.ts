// The whole request path without the kernel: dispatcher + operations over a fixture cgroup tree
// and a fake /proc, as two containers in two vNodes would drive it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { CgroupReader } from '../cgroup/CgroupReader.js';
import { fakeProc, fakeSys, MiB, v1Fixture } from '../cgroup/testing/testFixtures.js';
import { fileSize } from './fileSize.js';
import { HandleArena } from './HandleArena.js';
import { HostFactsReader } from './HostFactsReader.js';
import { CONTAINERS_DIR, InodeTable } from './InodeTable.js';
import type { ProcFile } from './ProcFile.js';
import { emptyDirs, perContainerFiles, procFiles } from './procFiles.js';
import { productUuid } from './render/renderIdentity.js';
import * as abi from './protocol/fuseAbi.js';
import { FuseDispatcher } from './protocol/FuseDispatcher.js';
import { SharedKv } from './SharedKv.js';
import { SysctlStore } from './SysctlStore.js';
import { startKey, ViewBuilder } from './ViewBuilder.js';
import { ViewResolver } from './ViewResolver.js';
import { VnodeFsOps } from './VnodeFsOps.js';
import { VnodeIdentities } from './VnodeIdentities.js';

const cg = v1Fixture({ memory: 256 * MiB, cpu: { quota: 50000, period: 100000 } });
const cgText = (p: string): string => `4:memory:${p}\n3:cpuset:${p}\n2:cpuacct:${p}\n1:cpu:${p}\n0::/\n`;
// pid 101: container in vNode A (userns 1001, root = host uid 100000); pid 102: same container,
// uid 101000 (not root); pid 201: a container of vNode B (userns 2002, root = 200000).
const proc = fakeProc([
  { pid: 101, cgroup: cgText(cg.path), userns: 1001, rootUid: 100000 },
  { pid: 102, cgroup: cgText(cg.path), userns: 1001, rootUid: 100000 },
  { pid: 201, cgroup: cgText('/kubepods/pod1/c1'), userns: 2002, rootUid: 200000 },
  // a process of vNode A in another cgroup (a sub-container, or another container of the pod)
  { pid: 301, cgroup: cgText('/kubepods/pod1/c2'), userns: 1001, rootUid: 100000 },
]);
const sys = fakeSys('0-3');
after(() => {
  cg.cleanup();
  proc.cleanup();
  sys.cleanup();
});

const NOW = 1_800_000_000_000;
/** The servers' clock: NOW, unless a test moves it (and puts it back). */
let clockMs = NOW;
const kv = new SharedKv(256);
const table = new InodeTable(procFiles, emptyDirs, perContainerFiles);
function server(arena = new HandleArena({ workers: 1, slotsPerWorker: 8, slotSize: 8192 }), onError?: (e: unknown) => void, files = table, store = kv, pageCache?: boolean): FuseDispatcher {
  const ops = new VnodeFsOps({
    ...(pageCache === undefined ? {} : { kv: store, pageCache: () => pageCache }),
    table: files,
    arena,
    worker: 0,
    resolver: new ViewResolver(proc.root),
    builder: new ViewBuilder(new CgroupReader({ root: cg.root }), new HostFactsReader(proc.root, sys.root), store, proc.root),
    sysctl: new SysctlStore(store, proc.root),
    mountedAt: 1,
    now: () => clockMs,
  });
  return new FuseDispatcher(ops, { maxWrite: 4096, entryValid: 60, attrValid: 60, onError });
}

function call(s: FuseDispatcher, opcode: number, nodeid: number, who: { pid: number; uid: number }, body: Buffer = Buffer.alloc(0)): { error: number; body: Buffer } {
  const b = Buffer.alloc(40 + body.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt32LE(opcode, 4);
  b.writeBigUInt64LE(1n, 8);
  b.writeUInt32LE(nodeid % 2 ** 32, 16);
  b.writeUInt32LE(Math.floor(nodeid / 2 ** 32), 20);
  b.writeUInt32LE(who.uid, 24);
  b.writeUInt32LE(who.pid, 32);
  body.copy(b, 40);
  const r = s.handle(b, b.length);
  // FORGET is never answered
  return r ? { error: r.readInt32LE(4), body: r.subarray(16) } : { error: 0, body: Buffer.alloc(0) };
}

const ino = (path: string): number => table.byPath(path)!.ino;
const openIn = (flags: number): Buffer => Buffer.from(new Uint32Array([flags, 0]).buffer);
function readIn(fh: number, offset: number, size: number): Buffer {
  const b = Buffer.alloc(40);
  b.writeUInt32LE(fh % 2 ** 32, 0);
  b.writeUInt32LE(Math.floor(fh / 2 ** 32), 4);
  b.writeUInt32LE(offset, 8);
  b.writeUInt32LE(size, 16);
  b.writeUInt32LE(abi.FUSE_READ_LOCKOWNER, 20); // a process's read(2), not a page-cache fill
  return b;
}

/** open + read until EOF + release, as cat does. */
function cat(s: FuseDispatcher, path: string, who: { pid: number; uid: number }): string {
  const o = call(s, abi.Op.OPEN, ino(path), who, openIn(0));
  assert.equal(o.error, 0, `open ${path}`);
  const fh = o.body.readUInt32LE(0) + o.body.readUInt32LE(4) * 2 ** 32;
  let text = '';
  for (;;) {
    const r = call(s, abi.Op.READ, ino(path), who, readIn(fh, text.length, 1000));
    assert.equal(r.error, 0);
    if (r.body.length === 0) break;
    text += r.body.toString('latin1');
  }
  call(s, abi.Op.RELEASE, ino(path), who, readIn(fh, 0, 0).subarray(0, 24));
  return text;
}

function write(s: FuseDispatcher, path: string, who: { pid: number; uid: number }, value: string): number {
  const o = call(s, abi.Op.OPEN, ino(path), who, openIn(1 /* O_WRONLY */ | 0o1000 /* O_TRUNC */));
  if (o.error) return o.error;
  const w = Buffer.alloc(40 + value.length);
  w.writeUInt32LE(value.length, 16);
  w.write(value, 40);
  return call(s, abi.Op.WRITE, ino(path), who, w).error;
}

const A_ROOT = { pid: 101, uid: 100000 };
const A_USER = { pid: 102, uid: 101000 };
const B_ROOT = { pid: 201, uid: 200000 };
const A_OTHER = { pid: 301, uid: 100000 };

test('LOOKUP walks proc/meminfo; files are 0444, sysctl entries 0644', () => {
  const s = server();
  const procDir = call(s, abi.Op.LOOKUP, abi.FUSE_ROOT_ID, A_ROOT, Buffer.from('proc\0'));
  assert.equal(procDir.error, 0);
  const dirIno = procDir.body.readUInt32LE(0);
  const mem = call(s, abi.Op.LOOKUP, dirIno, A_ROOT, Buffer.from('meminfo\0'));
  assert.equal(mem.body.readUInt32LE(0), ino('proc/meminfo'));
  assert.equal(mem.body.readUInt32LE(40 + 60), abi.S_IFREG | 0o444);
  const attr = call(s, abi.Op.GETATTR, ino('proc/sys/kernel/pid_max'), A_ROOT, Buffer.alloc(16));
  assert.equal(attr.body.readUInt32LE(16 + 60), abi.S_IFREG | 0o644);
});

test('a container reads its own meminfo, cpu list and uptime through the request path', () => {
  const s = server();
  assert.match(cat(s, 'proc/meminfo', A_ROOT), /^MemTotal:\s+262144 kB$/m);
  assert.equal(cat(s, 'sys/devices/system/cpu/online', A_ROOT), '0\n');
  kv.set(startKey('/kubepods/pod1'), String(NOW - 3000));
  assert.match(cat(s, 'proc/uptime', A_ROOT), /^3\.00 /);
  kv.delete(startKey('/kubepods/pod1'));
});

test('a vanished or unknown pid reads the host view', () => {
  const s = server();
  assert.match(cat(s, 'proc/meminfo', { pid: 999, uid: 0 }), /^MemTotal:\s+16384000 kB$/m);
});

test('/proc/sys writes are kept per vNode: A writes, A reads it back, B still sees the host value', () => {
  const s = server();
  assert.equal(cat(s, 'proc/sys/kernel/pid_max', A_ROOT), '4194304\n');
  assert.equal(write(s, 'proc/sys/kernel/pid_max', A_ROOT, '65536\n'), 0);
  assert.equal(cat(s, 'proc/sys/kernel/pid_max', A_ROOT), '65536\n');
  assert.equal(cat(s, 'proc/sys/kernel/pid_max', B_ROOT), '4194304\n');
  assert.equal(write(s, 'proc/sys/vm/overcommit_memory', B_ROOT, '1'), 0);
  assert.equal(cat(s, 'proc/sys/vm/overcommit_memory', B_ROOT), '1\n');
  assert.equal(cat(s, 'proc/sys/vm/overcommit_memory', A_ROOT), '0\n');
  assert.equal(readFileSync(join(proc.root, 'sys/kernel/pid_max'), 'utf8'), '4194304\n', 'the host file is untouched');
  assert.deepEqual(new SysctlStore(kv).written('userns:1001'), { 'kernel.pid_max': '65536' });
});

test('/proc/sys: a non-root user of the vNode may not write; bad values are EINVAL; read-only files refuse writes', () => {
  const s = server();
  assert.equal(write(s, 'proc/sys/kernel/pid_max', A_USER, '1000'), -abi.EACCES);
  assert.equal(write(s, 'proc/sys/vm/overcommit_memory', A_ROOT, '7'), -abi.EINVAL);
  assert.equal(write(s, 'proc/sys/vm/overcommit_memory', A_ROOT, 'x'), -abi.EINVAL);
  assert.equal(write(s, 'proc/meminfo', A_ROOT, '1'), -abi.EACCES);
  assert.equal(call(s, abi.Op.ACCESS, ino('proc/sys/kernel/pid_max'), A_USER, Buffer.from(new Uint32Array([2, 0]).buffer)).error, -abi.EACCES);
  assert.equal(call(s, abi.Op.ACCESS, ino('proc/sys/kernel/pid_max'), A_ROOT, Buffer.from(new Uint32Array([2, 0]).buffer)).error, 0);
});

test('a full shared table: a new /proc/sys value is ENOSPC, loadavg and uptime still read, an existing value can change', () => {
  const full = new SharedKv(8);
  const s = server(undefined, undefined, table, full);
  assert.equal(write(s, 'proc/sys/vm/max_map_count', A_ROOT, '262144'), 0);
  for (let i = 0; full.size < full.capacity; i++) full.set(`start:/kubepods/filler-${i}`, String(NOW));
  assert.equal(write(s, 'proc/sys/kernel/pid_max', A_ROOT, '65536'), -abi.ENOSPC);
  assert.equal(write(s, 'proc/sys/vm/max_map_count', A_ROOT, '300000'), 0, 'an existing key needs no new slot');
  assert.equal(cat(s, 'proc/sys/vm/max_map_count', A_ROOT), '300000\n');
  assert.match(cat(s, 'proc/loadavg', A_ROOT), /^0\.00 0\.00 0\.00 /, 'not tracked, not an error');
  assert.match(cat(s, 'proc/uptime', A_ROOT), /^\d+\.\d\d /);
});

test('a full handle arena falls back to rendering per read, with the same content', () => {
  const tiny = new HandleArena({ workers: 1, slotsPerWorker: 1, slotSize: 64 });
  const s = server(tiny);
  const text = cat(s, 'proc/meminfo', A_ROOT);
  assert.match(text, /^MemTotal:\s+262144 kB$/m);
  assert.equal(tiny.inUse(), 0);
});

test('a READ with a released handle of this server is EBADF', () => {
  const s = server();
  const o = call(s, abi.Op.OPEN, ino('proc/meminfo'), A_ROOT, openIn(0));
  const fh = Number(o.body.readBigUInt64LE(0));
  assert.equal(call(s, abi.Op.RELEASE, ino('proc/meminfo'), A_ROOT, readIn(fh, 0, 0)).error, 0);
  assert.equal(call(s, abi.Op.READ, ino('proc/meminfo'), A_ROOT, readIn(fh, 0, 100)).error, -abi.EBADF);
});

test('files report a size and block size that hold their content (sendfile and Node need one)', () => {
  const s = server();
  for (const path of ['proc/meminfo', 'proc/uptime', 'sys/devices/system/cpu/online', 'proc/sys/vm/overcommit_memory']) {
    const a = call(s, abi.Op.GETATTR, ino(path), A_ROOT, Buffer.alloc(16));
    const size = Number(a.body.readBigUInt64LE(16 + 8));
    assert.ok(size >= 4096 && size >= cat(s, path, A_ROOT).length, `${path}: size ${size}`);
    assert.equal(a.body.readUInt32LE(16 + 80), size, `${path}: blksize = size`);
  }
  assert.equal(fileSize({ kind: 'view', path: 'proc/meminfo', needs: { host: [] }, render: () => '', size: 0 }, proc.root), 4096);
});

test('a page-cache fill (a READ without lock owner: sendfile, splice) is refused, never cached', () => {
  const s = server();
  const o = call(s, abi.Op.OPEN, ino('proc/meminfo'), A_ROOT, openIn(0));
  const fh = o.body.readUInt32LE(0) + o.body.readUInt32LE(4) * 2 ** 32;
  const fill = readIn(fh, 0, 4096);
  fill.writeUInt32LE(0, 20);
  assert.equal(call(s, abi.Op.READ, ino('proc/meminfo'), A_ROOT, fill).error, -abi.EIO);
  const r = call(s, abi.Op.READ, ino('proc/meminfo'), A_ROOT, readIn(fh, 0, 4096));
  assert.match(r.body.toString('latin1'), /^MemTotal:\s+262144 kB$/m, 'the read(2) that follows gets the content');
});

test('a renderer that throws is EIO at OPEN and reported, not an empty file', () => {
  const broken: ProcFile = {
    kind: 'view',
    path: 'proc/uptime',
    needs: { host: [], start: true },
    render: () => {
      throw new Error('renderer bug');
    },
    size: 4096,
  };
  const files = new InodeTable([broken]);
  const errors: unknown[] = [];
  const s = server(undefined, (e) => errors.push(e), files);
  const n = files.byPath('proc/uptime')!.ino;
  assert.equal(call(s, abi.Op.OPEN, n, A_ROOT, openIn(0)).error, -abi.EIO);
  assert.equal(errors.length, 1);
  assert.match(String((errors[0] as Error).message), /renderer bug/);
});

// Identity files: vNode A owns host ids 100000-165535, vNode B 200000-265535 (the fixture's
// uid_map), registered as the manager does.
const identities = new VnodeIdentities(kv);
identities.register({ name: 'vn-a', uidStart: 100000, size: 65536 });
identities.register({ name: 'vn-b', uidStart: 200000, size: 65536 });
const DMI = 'sys/devices/virtual/dmi/id';

test('DMI: each vNode reads its own product_uuid and vNode vendor strings, never the host\'s', () => {
  const s = server();
  assert.equal(cat(s, `${DMI}/product_uuid`, A_ROOT), `${productUuid('vn-a')}\n`);
  assert.equal(cat(s, `${DMI}/product_uuid`, B_ROOT), `${productUuid('vn-b')}\n`);
  assert.equal(cat(s, `${DMI}/sys_vendor`, A_ROOT), 'vNode\n');
  assert.equal(cat(s, `${DMI}/product_serial`, A_ROOT), '\n');
  assert.match(cat(s, `${DMI}/modalias`, B_ROOT), /^dmi:bvnvNode:.*:$/m);
});

test('DMI: serials and product_uuid are 0400 and root\'s only (EACCES for a user), the rest 0444', () => {
  const s = server();
  const mode = (p: string): number => call(s, abi.Op.GETATTR, ino(p), A_ROOT, Buffer.alloc(16)).body.readUInt32LE(16 + 60);
  assert.equal(mode(`${DMI}/product_uuid`), abi.S_IFREG | 0o400);
  assert.equal(mode(`${DMI}/board_serial`), abi.S_IFREG | 0o400);
  assert.equal(mode(`${DMI}/product_name`), abi.S_IFREG | 0o444);
  assert.equal(call(s, abi.Op.OPEN, ino(`${DMI}/product_uuid`), A_USER, openIn(0)).error, -abi.EACCES);
  assert.equal(call(s, abi.Op.ACCESS, ino(`${DMI}/product_uuid`), A_USER, Buffer.from(new Uint32Array([4, 0]).buffer)).error, -abi.EACCES);
  assert.equal(call(s, abi.Op.ACCESS, ino(`${DMI}/product_uuid`), A_ROOT, Buffer.from(new Uint32Array([4, 0]).buffer)).error, 0);
  assert.equal(cat(s, `${DMI}/product_name`, A_USER), 'vNode\n', 'world-readable ones are read by anyone');
  assert.equal(write(s, `${DMI}/product_name`, A_ROOT, 'x'), -abi.EACCES);
});

test('identity files for a caller of no registered vNode (the host, an unknown range) are EIO and reported', () => {
  const errors: unknown[] = [];
  const s = server(undefined, (e) => errors.push(e));
  assert.equal(call(s, abi.Op.OPEN, ino(`${DMI}/sys_vendor`), { pid: 999, uid: 0 }, openIn(0)).error, -abi.EIO);
  assert.equal(call(s, abi.Op.OPEN, ino('proc/sys/kernel/random/boot_id'), { pid: 201, uid: 300000 }, openIn(0)).error, -abi.EIO);
  assert.equal(errors.length, 2);
  assert.match(String((errors[0] as Error).message), /host uid 0 is in no registered vNode's id range/);
});

test('boot_id: the pod\'s own (from its start), the same for its containers, another for another vNode', () => {
  const s = server();
  kv.set(startKey(cg.path), String(NOW - 3000));
  try {
    const a = cat(s, 'proc/sys/kernel/random/boot_id', A_ROOT);
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$/);
    assert.equal(cat(s, 'proc/sys/kernel/random/boot_id', A_USER), a, 'every process of the pod');
    assert.notEqual(cat(s, 'proc/sys/kernel/random/boot_id', B_ROOT), a);
    assert.equal(call(s, abi.Op.GETATTR, ino('proc/sys/kernel/random/boot_id'), A_ROOT, Buffer.alloc(16)).body.readUInt32LE(16 + 60), abi.S_IFREG | 0o444);
  } finally {
    kv.delete(startKey(cg.path));
  }
});

test('empty directories: sys/firmware and sys/hypervisor list nothing and hold nothing', () => {
  const s = server();
  for (const d of ['sys/firmware', 'sys/hypervisor']) {
    const n = ino(d);
    const attr = call(s, abi.Op.GETATTR, n, A_ROOT, Buffer.alloc(16));
    assert.equal(attr.body.readUInt32LE(16 + 60), abi.S_IFDIR | 0o555);
    // A miss is answered as a negative entry (node id 0), which the kernel turns into ENOENT.
    for (const name of ['dmi', 'acpi', 'efi']) {
      const r = call(s, abi.Op.LOOKUP, n, A_ROOT, Buffer.from(`${name}\0`));
      assert.equal(r.error, 0);
      assert.equal(r.body.readBigUInt64LE(0), 0n, `${d}/${name} is not there`);
    }
    const listed = table.byPath(d)!.children!;
    assert.equal(listed.size, 0);
  }
  assert.throws(() => new InodeTable(procFiles, ['sys/devices/virtual/dmi/id']), /empty directory .* has files/);
});

// Per-container files (docs/vnodefs.md, "Per-container files"): read from the kernel's page
// cache by the container's own view only.
const own = (id: string, path: string): number => table.byPath(`${CONTAINERS_DIR}/${id}/${path}`)!.ino;
const openFlags = (r: { error: number; body: Buffer }): { fh: number; flags: number } => {
  assert.equal(r.error, 0);
  return { fh: r.body.readUInt32LE(0) + r.body.readUInt32LE(4) * 2 ** 32, flags: r.body.readUInt32LE(8) };
};
/** A READ the kernel makes to fill the page cache (no lock owner). */
const fillIn = (offset: number, size: number): Buffer => {
  const b = readIn(0, offset, size);
  b.writeUInt32LE(0, 20);
  return b;
};

test('per-container files: the first view to open pins the cache; others read a rendering of their own', () => {
  const store = new SharedKv(64);
  const s = server(undefined, undefined, table, store, true);
  const mem = own('c1', 'proc/meminfo');
  assert.ok(mem >= 2 ** 44 && Number.isSafeInteger(mem), `node id ${mem}`);
  // The first open drops whatever the inode had cached (no KEEP_CACHE); later ones keep it.
  const first = openFlags(call(s, abi.Op.OPEN, mem, A_ROOT, openIn(0)));
  assert.deepEqual(first, { fh: 0, flags: abi.FOPEN_NOFLUSH });
  assert.deepEqual(openFlags(call(s, abi.Op.OPEN, mem, A_USER, openIn(0))), { fh: 0, flags: abi.FOPEN_KEEP_CACHE | abi.FOPEN_NOFLUSH });
  // The fill carries the reader's view.
  const fill = call(s, abi.Op.READ, mem, A_ROOT, fillIn(0, 4096));
  assert.equal(fill.error, 0);
  assert.match(fill.body.toString('latin1'), /^MemTotal:\s+262144 kB$/m);
  // Another cgroup's process on the same inode: its own rendering, read directly, never the pages.
  const b = openFlags(call(s, abi.Op.OPEN, mem, A_OTHER, openIn(0)));
  assert.equal(b.flags & abi.FOPEN_DIRECT_IO, abi.FOPEN_DIRECT_IO);
  assert.notEqual(b.fh, 0);
  const direct = call(s, abi.Op.READ, mem, A_OTHER, readIn(b.fh, 0, 4096));
  assert.doesNotMatch(direct.body.toString('latin1'), /^MemTotal:\s+262144 kB$/m);
  assert.equal(call(s, abi.Op.READ, mem, A_OTHER, fillIn(0, 4096)).error, -abi.EIO, 'it may not fill the pinned pages');
  // A file of the container opened for the first time under the pin drops its pages too.
  assert.deepEqual(openFlags(call(s, abi.Op.OPEN, own('c1', 'proc/stat'), A_ROOT, openIn(0))), { fh: 0, flags: abi.FOPEN_NOFLUSH });
  // The container's directory forgotten (its files went first): the next view pins afresh.
  call(s, abi.Op.FORGET, own('c1', ''), A_ROOT, Buffer.from(new BigUint64Array([1n]).buffer));
  assert.deepEqual(openFlags(call(s, abi.Op.OPEN, mem, A_OTHER, openIn(0))), { fh: 0, flags: abi.FOPEN_NOFLUSH });
  assert.match(call(s, abi.Op.READ, mem, A_OTHER, fillIn(0, 4096)).body.toString('latin1'), /^MemTotal:/m);
});

test('per-container files: a text longer than the first fill comes whole from one rendering, kept until the inode goes', () => {
  const store = new SharedKv(64);
  const arena = new HandleArena({ workers: 1, slotsPerWorker: 8, slotSize: 8192 });
  const s = server(arena, undefined, table, store, true);
  const mem = own('c6', 'proc/meminfo');
  openFlags(call(s, abi.Op.OPEN, mem, A_ROOT, openIn(0)));
  const whole = call(s, abi.Op.READ, mem, A_ROOT, fillIn(0, 4096)).body;
  assert.ok(whole.length > 200 && store.get(`fill:${mem}`) === undefined, 'a text that fits its first READ is not kept');
  const head = call(s, abi.Op.READ, mem, A_ROOT, fillIn(0, 100)).body;
  assert.equal(arena.inUse(), 1, 'the rest is kept');
  const tail = call(s, abi.Op.READ, mem, A_ROOT, fillIn(100, 4096)).body;
  assert.equal(Buffer.concat([head, tail]).toString('latin1'), whole.toString('latin1'));
  call(s, abi.Op.FORGET, mem, A_ROOT, Buffer.from(new BigUint64Array([1n]).buffer));
  assert.equal(arena.inUse(), 0);
  assert.equal(store.get(`fill:${mem}`), undefined);
});

test('per-container files: the first open in each freshness period drops the cached pages, whatever reads them', () => {
  const s = server(undefined, undefined, table, new SharedKv(64), true);
  const mem = own('c7', 'proc/meminfo');
  const open = (): number => openFlags(call(s, abi.Op.OPEN, mem, A_ROOT, openIn(0))).flags;
  try {
    assert.equal(open(), abi.FOPEN_NOFLUSH);
    assert.equal(open(), abi.FOPEN_KEEP_CACHE | abi.FOPEN_NOFLUSH);
    clockMs += 100;
    assert.equal(open(), abi.FOPEN_NOFLUSH, 'a new period: pages dropped (sendfile never asks for attributes)');
    assert.equal(open(), abi.FOPEN_KEEP_CACHE | abi.FOPEN_NOFLUSH);
  } finally {
    clockMs = NOW;
  }
});

test('per-container files expire: attributes last the freshness bound and each fetch has a new mtime', () => {
  const s = server(undefined, undefined, table, new SharedKv(64), true);
  const a = call(s, abi.Op.GETATTR, own('c2', 'proc/meminfo'), A_ROOT, Buffer.alloc(16));
  assert.equal(a.error, 0);
  assert.equal(Number(a.body.readBigUInt64LE(0)) * 1000 + a.body.readUInt32LE(8) / 1e6, 100, 'the documented bound: 100 ms');
  assert.equal(Number(a.body.readBigUInt64LE(16 + 32)) * 1000 + Math.round(a.body.readUInt32LE(16 + 52) / 1e6), NOW, 'mtime is now, to the ms');
  // The shared tree's files keep the mount's time and the dispatcher's timeout.
  const shared = call(s, abi.Op.GETATTR, ino('proc/meminfo'), A_ROOT, Buffer.alloc(16));
  assert.equal(Number(shared.body.readBigUInt64LE(0)), 60);
  assert.equal(shared.body.readUInt32LE(16 + 52), 0);
});

test('per-container files without FUSE_AUTO_INVAL_DATA (a connection an earlier release set up) are read directly', () => {
  const s = server(undefined, undefined, table, new SharedKv(64), false);
  const o = openFlags(call(s, abi.Op.OPEN, own('c3', 'proc/meminfo'), A_ROOT, openIn(0)));
  assert.equal(o.flags & abi.FOPEN_DIRECT_IO, abi.FOPEN_DIRECT_IO);
  assert.equal(call(s, abi.Op.READ, own('c3', 'proc/meminfo'), A_ROOT, fillIn(0, 4096)).error, -abi.EIO);
});

test('after a manager restart (no pin yet) a fill is served, and the pinning open drops those pages', () => {
  const s = server(undefined, undefined, table, new SharedKv(64), true);
  const mem = own('c4', 'proc/meminfo');
  assert.equal(call(s, abi.Op.READ, mem, B_ROOT, fillIn(0, 4096)).error, 0);
  assert.deepEqual(openFlags(call(s, abi.Op.OPEN, mem, A_ROOT, openIn(0))), { fh: 0, flags: abi.FOPEN_NOFLUSH });
});

test('containers/: any container id is a directory of the per-container files; other names are not', () => {
  const s = server(undefined, undefined, table, new SharedKv(64), true);
  const dir = call(s, abi.Op.LOOKUP, ino(CONTAINERS_DIR), A_ROOT, Buffer.from('0123abcd_x.y-z\0'));
  assert.equal(dir.error, 0);
  for (const bad of ['a:b', 'a/b', 'a b', '.x', 'x'.repeat(129)]) {
    const r = call(s, abi.Op.LOOKUP, ino(CONTAINERS_DIR), A_ROOT, Buffer.from(`${bad}\0`));
    assert.ok(r.error !== 0 || r.body.readUInt32LE(0) === 0, `${bad}: no directory`);
  }
  const id = Number(dir.body.readBigUInt64LE(0));
  const names = (call(s, abi.Op.READDIR, id, A_ROOT, readIn(0, 0, 4096)).body.toString('latin1').match(/[a-z]+/g) ?? []).filter((n) => n.length > 2);
  assert.deepEqual(names.sort(), ['proc', 'sys']);
  assert.deepEqual(perContainerFiles.map((f) => f.path).sort(), ['proc/cpuinfo', 'proc/diskstats', 'proc/loadavg', 'proc/meminfo', 'proc/stat', 'proc/swaps', 'proc/uptime', 'sys/devices/system/cpu/online', 'sys/devices/system/cpu/possible', 'sys/devices/system/cpu/present']);
  // The same ids in another table (a restarted manager's): computed from the name and path.
  const other = new InodeTable([...procFiles].reverse(), emptyDirs, perContainerFiles);
  for (const f of perContainerFiles) assert.equal(other.byPath(`${CONTAINERS_DIR}/c5/${f.path}`)!.ino, own('c5', f.path));
  assert.equal(table.pathOf(own('c5', 'proc/meminfo'))?.endsWith('/proc/meminfo'), true);
});
