// The codec and dispatcher on crafted buffers: what the kernel sends, and what it never would
// (short, oversized, inconsistent, random). Nothing may throw; every answer is well-formed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';

import * as abi from './fuseAbi.js';
import { decodeHeader, FuseDecodeError } from './FuseCodec.js';
import { fail, FuseDispatcher, type FuseOps } from './FuseDispatcher.js';

const attr = { ino: 2, size: 0, mode: abi.S_IFREG | 0o444, nlink: 1, uid: 0, gid: 0, time: 1 };
const calls: string[] = [];
const ops: FuseOps = {
  lookup: (_c, name) => (name === 'meminfo' ? { nodeid: 2, attr } : fail(abi.ENOENT)),
  forget: (n, k) => void calls.push(`forget ${n} ${k}`),
  getattr: () => attr,
  setattr: () => fail(abi.EPERM),
  open: () => ({ fh: 7, openFlags: abi.FOPEN_DIRECT_IO }),
  read: (_c, _fh, off, size) => Buffer.from('hello world').subarray(off, off + size),
  write: (_c, _fh, _off, data) => data.length,
  release: (_c, fh) => void calls.push(`release ${fh}`),
  opendir: () => ({ fh: 0, openFlags: 0 }),
  readdir: () => [
    { ino: 1, name: '.', type: abi.DT_DIR, attr: null },
    { ino: 1, name: '..', type: abi.DT_DIR, attr: null },
    { ino: 2, name: 'meminfo', type: abi.DT_REG, attr },
  ],
  access: () => null,
  statfsFiles: () => 3,
};

function req(opcode: number, body: Buffer = Buffer.alloc(0), o: { unique?: bigint; nodeid?: number; pid?: number; len?: number } = {}): Buffer {
  const b = Buffer.alloc(40 + body.length);
  b.writeUInt32LE(o.len ?? b.length, 0);
  b.writeUInt32LE(opcode, 4);
  b.writeBigUInt64LE(o.unique ?? 77n, 8);
  b.writeBigUInt64LE(BigInt(o.nodeid ?? 1), 16);
  b.writeUInt32LE(0, 24);
  b.writeUInt32LE(0, 28);
  b.writeUInt32LE(o.pid ?? 1234, 32);
  body.copy(b, 40);
  return b;
}

function u32s(...v: number[]): Buffer {
  const b = Buffer.alloc(v.length * 4);
  v.forEach((x, i) => b.writeUInt32LE(x, i * 4));
  return b;
}

function out(r: Buffer | null): { len: number; error: number; unique: bigint; body: Buffer } {
  assert.ok(r, 'a reply was expected');
  assert.equal(r.readUInt32LE(0), r.length, 'reply length field matches');
  return { len: r.length, error: r.readInt32LE(4), unique: r.readBigUInt64LE(8), body: r.subarray(16) };
}

const d = (): FuseDispatcher => new FuseDispatcher(ops, { maxWrite: 32768, entryValid: 60, attrValid: 60 });

test('INIT negotiates 7.38 (or the kernel\'s lower minor) and only flags the kernel offered', () => {
  const x = d();
  const r = out(x.handle(...withLen(req(abi.Op.INIT, u32s(7, 45, 131072, 0xffffffff)))));
  assert.equal(r.error, 0);
  assert.equal(r.body.readUInt32LE(0), 7);
  assert.equal(r.body.readUInt32LE(4), 38);
  const flags = r.body.readUInt32LE(12);
  assert.ok(flags & abi.FUSE_ASYNC_READ);
  assert.equal(flags & abi.FUSE_ATOMIC_O_TRUNC, 0, 'O_TRUNC must come as SETATTR, which keeps i_size');
  assert.equal(r.body.readUInt32LE(20), 32768, 'max_write');
  const old = out(d().handle(...withLen(req(abi.Op.INIT, u32s(7, 34, 0, abi.FUSE_ASYNC_READ)))));
  assert.equal(old.body.readUInt32LE(4), 34);
  assert.equal(old.body.readUInt32LE(12), abi.FUSE_ASYNC_READ);
  assert.equal(out(d().handle(...withLen(req(abi.Op.INIT, u32s(7, 20, 0, 0))))).error, -abi.EPROTO);
  assert.equal(out(d().handle(...withLen(req(abi.Op.INIT, u32s(8, 0, 0, 0))))).error, -abi.EPROTO);
});

function withLen(b: Buffer): [Buffer, number] {
  return [b, b.length];
}

test('LOOKUP answers an entry, a cached negative entry for a missing name, EINVAL for an unterminated name', () => {
  const x = d();
  const hit = out(x.handle(...withLen(req(abi.Op.LOOKUP, Buffer.from('meminfo\0')))));
  assert.equal(hit.error, 0);
  assert.equal(hit.len, 16 + abi.ENTRY_OUT_SIZE);
  assert.equal(hit.body.readUInt32LE(0), 2);
  const miss = out(x.handle(...withLen(req(abi.Op.LOOKUP, Buffer.from('nope\0')))));
  assert.equal(miss.error, 0);
  assert.equal(miss.body.readUInt32LE(0), 0, 'nodeid 0 = negative entry');
  assert.equal(miss.body.readUInt32LE(16), 60, 'entry_valid');
  assert.equal(out(x.handle(...withLen(req(abi.Op.LOOKUP, Buffer.from('meminfo'))))).error, -abi.EINVAL);
  assert.equal(out(x.handle(...withLen(req(abi.Op.LOOKUP, Buffer.from(`${'a'.repeat(300)}\0`))))).error, -abi.EINVAL);
});

test('OPEN, READ, RELEASE, FLUSH, GETATTR, STATFS, ACCESS, OPENDIR, READDIR(PLUS) answer well-formed replies', () => {
  const x = d();
  const open = out(x.handle(...withLen(req(abi.Op.OPEN, u32s(0, 0), { nodeid: 2 }))));
  assert.equal(open.body.readUInt32LE(0), 7);
  assert.equal(open.body.readUInt32LE(8), abi.FOPEN_DIRECT_IO);
  const readIn = Buffer.alloc(40);
  readIn.writeUInt32LE(7, 0);
  readIn.writeUInt32LE(6, 8); // offset
  readIn.writeUInt32LE(100, 16); // size
  assert.equal(out(x.handle(...withLen(req(abi.Op.READ, readIn, { nodeid: 2 })))).body.toString(), 'world');
  assert.equal(out(x.handle(...withLen(req(abi.Op.RELEASE, Buffer.alloc(24), { nodeid: 2 })))).error, 0);
  assert.equal(out(x.handle(...withLen(req(abi.Op.FLUSH, Buffer.alloc(24), { nodeid: 2 })))).error, 0);
  assert.equal(out(x.handle(...withLen(req(abi.Op.GETATTR, Buffer.alloc(16), { nodeid: 2 })))).len, 16 + abi.ATTR_OUT_SIZE);
  assert.equal(out(x.handle(...withLen(req(abi.Op.STATFS)))).len, 16 + abi.STATFS_OUT_SIZE);
  assert.equal(out(x.handle(...withLen(req(abi.Op.ACCESS, u32s(4, 0))))).error, 0);
  assert.equal(out(x.handle(...withLen(req(abi.Op.OPENDIR, u32s(0, 0))))).error, 0);
  assert.equal(out(x.handle(...withLen(req(abi.Op.RELEASEDIR, Buffer.alloc(24))))).error, 0);
  const rd = Buffer.alloc(40);
  rd.writeUInt32LE(4096, 16);
  const plain = out(x.handle(...withLen(req(abi.Op.READDIR, rd))));
  assert.equal(plain.body.length, 3 * 32, 'three 8-byte aligned dirents');
  assert.equal(plain.body.toString('utf8', 24 + 64, 24 + 64 + 7), 'meminfo');
  const plus = out(x.handle(...withLen(req(abi.Op.READDIRPLUS, rd))));
  assert.equal(plus.body.length, 3 * (abi.ENTRY_OUT_SIZE + 32));
  rd.writeUInt32LE(3, 8); // offset past the end
  assert.equal(out(x.handle(...withLen(req(abi.Op.READDIR, rd)))).body.length, 0);
  rd.writeUInt32LE(0, 8);
  rd.writeUInt32LE(40, 16); // room for one entry only
  assert.equal(out(x.handle(...withLen(req(abi.Op.READDIR, rd)))).body.length, 32);
});

test('FORGET, BATCH_FORGET and INTERRUPT get no reply; DESTROY is answered and ends the session', () => {
  const x = d();
  calls.length = 0;
  assert.equal(x.handle(...withLen(req(abi.Op.FORGET, u32s(3, 0), { nodeid: 2 }))), null);
  const batch = Buffer.alloc(8 + 32);
  batch.writeUInt32LE(2, 0);
  batch.writeUInt32LE(2, 8);
  batch.writeUInt32LE(1, 16);
  batch.writeUInt32LE(3, 24);
  batch.writeUInt32LE(5, 32);
  assert.equal(x.handle(...withLen(req(abi.Op.BATCH_FORGET, batch))), null);
  assert.deepEqual(calls, ['forget 2 3', 'forget 2 1', 'forget 3 5']);
  assert.equal(x.handle(...withLen(req(abi.Op.INTERRUPT, Buffer.alloc(8)))), null);
  assert.equal(out(x.handle(...withLen(req(abi.Op.DESTROY)))).error, 0);
  assert.equal(x.destroyed, true);
});

test('WRITE hands over exactly the written bytes; a size beyond the body is EINVAL', () => {
  const x = d();
  const w = Buffer.alloc(40 + 5);
  w.writeUInt32LE(5, 16);
  w.write('12345', 40);
  const r = out(x.handle(...withLen(req(abi.Op.WRITE, w, { nodeid: 2 }))));
  assert.equal(r.error, 0);
  assert.equal(r.body.readUInt32LE(0), 5);
  w.writeUInt32LE(6, 16);
  assert.equal(out(x.handle(...withLen(req(abi.Op.WRITE, w)))).error, -abi.EINVAL);
  w.writeUInt32LE(0xffffffff, 16);
  assert.equal(out(x.handle(...withLen(req(abi.Op.WRITE, w)))).error, -abi.EINVAL);
});

test('unknown and unimplemented opcodes get ENOSYS, with the request id echoed', () => {
  const x = d();
  for (const op of [abi.Op.SETATTR + 1, 9, 10, 12, 20, 21, 22, 35, 39, 40, 43, 45, 46, 47, 51, 4096, 0xffffffff]) {
    const r = out(x.handle(...withLen(req(op, Buffer.alloc(64), { unique: 0xdeadbeefcafen }))));
    assert.equal(r.error, -abi.ENOSYS, `opcode ${op}`);
    assert.equal(r.unique, 0xdeadbeefcafen);
  }
});

test('short bodies for every fixed-size request are EINVAL, not a crash', () => {
  const x = d();
  for (const op of [abi.Op.INIT, abi.Op.FORGET, abi.Op.BATCH_FORGET, abi.Op.GETATTR, abi.Op.SETATTR, abi.Op.OPEN, abi.Op.READ, abi.Op.WRITE, abi.Op.RELEASE, abi.Op.FLUSH, abi.Op.ACCESS, abi.Op.INTERRUPT, abi.Op.OPENDIR, abi.Op.READDIR, abi.Op.READDIRPLUS, abi.Op.LOOKUP]) {
    const r = x.handle(...withLen(req(op, Buffer.alloc(3))));
    assert.equal(out(r).error, -abi.EINVAL, `opcode ${op}`);
  }
  assert.ok(x.stats.malformed >= 16);
});

test('a header shorter than 40 bytes or disagreeing with the read length is dropped or refused', () => {
  const x = d();
  assert.equal(x.handle(Buffer.alloc(10), 10), null);
  assert.throws(() => decodeHeader(Buffer.alloc(10), 10), FuseDecodeError);
  const b = req(abi.Op.GETATTR, Buffer.alloc(16));
  b.writeUInt32LE(5000, 0); // claims more than was read
  assert.equal(x.handle(b, b.length), null);
  b.writeUInt32LE(48, 0); // claims less than was read: answered EINVAL, its header is intact
  assert.equal(out(x.handle(b, b.length)).error, -abi.EINVAL);
});

test('BATCH_FORGET whose count overruns its body is refused without reading past it', () => {
  const b = Buffer.alloc(8 + 16);
  b.writeUInt32LE(0x7fffffff, 0);
  assert.equal(out(d().handle(...withLen(req(abi.Op.BATCH_FORGET, b)))).error, -abi.EINVAL);
});

test('an operation that throws becomes EIO (or its errno) and the dispatcher keeps going', () => {
  const errors: unknown[] = [];
  const x = new FuseDispatcher(
    { ...ops, getattr: () => { throw new Error('bug'); }, open: () => { throw Object.assign(new Error('denied'), { errno: 13 }); } },
    { maxWrite: 4096, entryValid: 1, attrValid: 1, onError: (e) => errors.push(e) },
  );
  assert.equal(out(x.handle(...withLen(req(abi.Op.GETATTR, Buffer.alloc(16))))).error, -abi.EIO);
  assert.equal(out(x.handle(...withLen(req(abi.Op.OPEN, u32s(0, 0))))).error, -13);
  assert.equal(errors.length, 2);
  assert.equal(out(x.handle(...withLen(req(abi.Op.STATFS)))).error, 0);
});

test('fuzz: 20,000 random and mutated requests never throw and every reply is well-formed', () => {
  const x = d();
  const seeds = [
    req(abi.Op.LOOKUP, Buffer.from('meminfo\0')),
    req(abi.Op.READ, Buffer.alloc(40)),
    req(abi.Op.WRITE, Buffer.alloc(48)),
    req(abi.Op.BATCH_FORGET, Buffer.alloc(40)),
    req(abi.Op.READDIRPLUS, Buffer.alloc(40)),
    req(abi.Op.INIT, u32s(7, 38, 0, 0)),
  ];
  for (let i = 0; i < 20000; i++) {
    let b: Buffer;
    if (i % 3 === 0) {
      b = randomBytes(Math.floor(Math.random() * 200));
    } else {
      b = Buffer.from(seeds[i % seeds.length]!);
      for (let k = 0; k < 4; k++) b[Math.floor(Math.random() * b.length)] = Math.floor(Math.random() * 256);
      if (i % 2) b.writeUInt32LE(b.length, 0);
    }
    const r = x.handle(b, b.length);
    if (r) {
      assert.equal(r.readUInt32LE(0), r.length);
      const e = r.readInt32LE(4);
      assert.ok(e <= 0 && e > -4096);
    }
  }
});
