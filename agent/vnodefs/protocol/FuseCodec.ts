// Decodes requests read from /dev/fuse and encodes replies, with every length checked: a short,
// oversized or inconsistent request becomes a FuseDecodeError, never an out-of-bounds read.
import * as abi from './fuseAbi.js';

export class FuseDecodeError extends Error {
  constructor(
    message: string,
    /** set when the header was intact, so the request can still be answered with EINVAL */
    readonly unique: bigint | null,
  ) {
    super(message);
  }
}

export interface FuseHeader {
  len: number;
  opcode: number;
  unique: bigint;
  /** node id, or -1 when it does not fit the server's inode space (below 2^53, see nodeIdAt) */
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
}

export type FuseRequest =
  | { op: abi.Op.INIT; major: number; minor: number; maxReadahead: number; flags: number; flags2: number }
  | { op: abi.Op.LOOKUP; name: string }
  | { op: abi.Op.FORGET; nlookup: number }
  | { op: abi.Op.BATCH_FORGET; items: { nodeid: number; nlookup: number }[] }
  | { op: abi.Op.GETATTR; flags: number; fh: number }
  | { op: abi.Op.SETATTR; valid: number; fh: number; size: number }
  | { op: abi.Op.OPEN | abi.Op.OPENDIR; flags: number }
  | { op: abi.Op.READ | abi.Op.READDIR | abi.Op.READDIRPLUS; fh: number; offset: number; size: number; readFlags: number }
  | { op: abi.Op.WRITE; fh: number; offset: number; data: Buffer }
  | { op: abi.Op.RELEASE | abi.Op.RELEASEDIR; fh: number; flags: number }
  | { op: abi.Op.FLUSH; fh: number }
  | { op: abi.Op.ACCESS; mask: number }
  | { op: abi.Op.INTERRUPT; unique: bigint }
  | { op: abi.Op.STATFS | abi.Op.DESTROY }
  | { op: 'unknown'; opcode: number };

const TWO32 = 2 ** 32;

/** u64 as a JS number; values above 2^53 lose precision, which only ever makes a lookup miss. */
function u64(b: Buffer, off: number): number {
  return b.readUInt32LE(off) + b.readUInt32LE(off + 4) * TWO32;
}

/** Node ids this server hands out stay below 2^53 (InodeTable: 32-bit hashes for the fixed tree,
 * 2^44 and up for per-container files), so a JS number holds each exactly; a larger one is no
 * node of ours (-1). */
function nodeIdAt(b: Buffer, off: number): number {
  const hi = b.readUInt32LE(off + 4);
  return hi < 2 ** 21 ? b.readUInt32LE(off) + hi * TWO32 : -1;
}

export function decodeHeader(b: Buffer, n: number): FuseHeader {
  if (n < abi.IN_HEADER_SIZE) throw new FuseDecodeError(`request of ${n} bytes is shorter than the 40-byte header`, null);
  const len = b.readUInt32LE(0);
  const unique = b.readBigUInt64LE(8);
  if (len !== n) throw new FuseDecodeError(`header says ${len} bytes but ${n} were read`, len >= abi.IN_HEADER_SIZE && len <= n ? unique : null);
  return {
    len,
    opcode: b.readUInt32LE(4),
    unique,
    nodeid: nodeIdAt(b, 16),
    uid: b.readUInt32LE(24),
    gid: b.readUInt32LE(28),
    pid: b.readUInt32LE(32),
  };
}

/** Decodes the body of a request whose header is `h` (buffer holds h.len valid bytes). */
export function decodeRequest(h: FuseHeader, b: Buffer): FuseRequest {
  const body = abi.IN_HEADER_SIZE;
  const avail = h.len - body;
  const need = (size: number, what: string): void => {
    if (avail < size) throw new FuseDecodeError(`${what} body of ${avail} bytes, need ${size}`, h.unique);
  };
  switch (h.opcode) {
    case abi.Op.INIT: {
      need(abi.INIT_IN_MIN_SIZE, 'INIT');
      const flags = b.readUInt32LE(body + 12);
      const flags2 = flags & abi.FUSE_INIT_EXT && avail >= abi.INIT_IN_EXT_SIZE ? b.readUInt32LE(body + 16) : 0;
      return { op: abi.Op.INIT, major: b.readUInt32LE(body), minor: b.readUInt32LE(body + 4), maxReadahead: b.readUInt32LE(body + 8), flags, flags2 };
    }
    case abi.Op.LOOKUP: {
      need(1, 'LOOKUP');
      const end = b.indexOf(0, body);
      if (end < 0 || end >= h.len) throw new FuseDecodeError('LOOKUP name is not NUL-terminated', h.unique);
      if (end === body) throw new FuseDecodeError('LOOKUP name is empty', h.unique);
      if (end - body > 255) throw new FuseDecodeError('LOOKUP name longer than 255 bytes', h.unique);
      return { op: abi.Op.LOOKUP, name: b.toString('utf8', body, end) };
    }
    case abi.Op.FORGET:
      need(abi.FORGET_IN_SIZE, 'FORGET');
      return { op: abi.Op.FORGET, nlookup: u64(b, body) };
    case abi.Op.BATCH_FORGET: {
      need(abi.BATCH_FORGET_IN_SIZE, 'BATCH_FORGET');
      const count = b.readUInt32LE(body);
      if (count > (avail - abi.BATCH_FORGET_IN_SIZE) / abi.FORGET_ONE_SIZE) throw new FuseDecodeError(`BATCH_FORGET count ${count} exceeds its ${avail}-byte body`, h.unique);
      const items: { nodeid: number; nlookup: number }[] = [];
      for (let i = 0; i < count; i++) {
        const o = body + abi.BATCH_FORGET_IN_SIZE + i * abi.FORGET_ONE_SIZE;
        items.push({ nodeid: nodeIdAt(b, o), nlookup: u64(b, o + 8) });
      }
      return { op: abi.Op.BATCH_FORGET, items };
    }
    case abi.Op.GETATTR:
      need(abi.GETATTR_IN_SIZE, 'GETATTR');
      return { op: abi.Op.GETATTR, flags: b.readUInt32LE(body), fh: u64(b, body + 8) };
    case abi.Op.SETATTR:
      need(abi.SETATTR_IN_SIZE, 'SETATTR');
      return { op: abi.Op.SETATTR, valid: b.readUInt32LE(body), fh: u64(b, body + 8), size: u64(b, body + 16) };
    case abi.Op.OPEN:
    case abi.Op.OPENDIR:
      need(abi.OPEN_IN_SIZE, 'OPEN');
      return { op: h.opcode, flags: b.readUInt32LE(body) };
    case abi.Op.READ:
    case abi.Op.READDIR:
    case abi.Op.READDIRPLUS:
      need(abi.READ_IN_SIZE, 'READ');
      return { op: h.opcode, fh: u64(b, body), offset: u64(b, body + 8), size: b.readUInt32LE(body + 16), readFlags: b.readUInt32LE(body + 20) };
    case abi.Op.WRITE: {
      need(abi.WRITE_IN_SIZE, 'WRITE');
      const size = b.readUInt32LE(body + 16);
      if (size > avail - abi.WRITE_IN_SIZE) throw new FuseDecodeError(`WRITE of ${size} bytes but only ${avail - abi.WRITE_IN_SIZE} follow`, h.unique);
      const start = body + abi.WRITE_IN_SIZE;
      return { op: abi.Op.WRITE, fh: u64(b, body), offset: u64(b, body + 8), data: b.subarray(start, start + size) };
    }
    case abi.Op.RELEASE:
    case abi.Op.RELEASEDIR:
      need(abi.RELEASE_IN_SIZE, 'RELEASE');
      return { op: h.opcode, fh: u64(b, body), flags: b.readUInt32LE(body + 8) };
    case abi.Op.FLUSH:
      need(abi.FLUSH_IN_SIZE, 'FLUSH');
      return { op: abi.Op.FLUSH, fh: u64(b, body) };
    case abi.Op.ACCESS:
      need(abi.ACCESS_IN_SIZE, 'ACCESS');
      return { op: abi.Op.ACCESS, mask: b.readUInt32LE(body) };
    case abi.Op.INTERRUPT:
      need(abi.INTERRUPT_IN_SIZE, 'INTERRUPT');
      return { op: abi.Op.INTERRUPT, unique: b.readBigUInt64LE(body) };
    case abi.Op.STATFS:
    case abi.Op.DESTROY:
      return { op: h.opcode };
    default:
      return { op: 'unknown', opcode: h.opcode };
  }
}

// ---- replies ----

export interface FuseAttr {
  ino: number;
  size: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  /** seconds since the epoch, for atime/mtime/ctime */
  time: number;
  /** st_blksize (a power of two); 4096 when absent */
  blksize?: number;
  /** mtime, ms since the epoch, instead of `time` (a per-container file's generation: with
   * FUSE_AUTO_INVAL_DATA a new one drops the kernel's cached pages) */
  mtimeMs?: number;
  /** how long the kernel may keep these attributes, seconds (fractions allowed); the
   * dispatcher's default when absent */
  validS?: number;
}

function w64(b: Buffer, off: number, v: number): void {
  b.writeUInt32LE(v % TWO32 >>> 0, off);
  b.writeUInt32LE(Math.floor(v / TWO32) >>> 0, off + 4);
}

function header(b: Buffer, len: number, error: number, unique: bigint): void {
  b.writeUInt32LE(len, 0);
  b.writeInt32LE(error, 4);
  b.writeBigUInt64LE(unique, 8);
}

export function replyError(unique: bigint, errno: number): Buffer {
  const b = Buffer.alloc(abi.OUT_HEADER_SIZE);
  header(b, abi.OUT_HEADER_SIZE, -Math.abs(errno), unique);
  return b;
}

/** Success with an optional body that `fill` writes at offset 16. */
export function reply(unique: bigint, bodySize: number, fill?: (b: Buffer, off: number) => void): Buffer {
  const b = Buffer.alloc(abi.OUT_HEADER_SIZE + bodySize);
  header(b, b.length, 0, unique);
  fill?.(b, abi.OUT_HEADER_SIZE);
  return b;
}

export function replyData(unique: bigint, data: Buffer): Buffer {
  const b = Buffer.allocUnsafe(abi.OUT_HEADER_SIZE + data.length);
  header(b, b.length, 0, unique);
  data.copy(b, abi.OUT_HEADER_SIZE);
  return b;
}

export function writeAttr(b: Buffer, off: number, a: FuseAttr): void {
  w64(b, off, a.ino);
  w64(b, off + 8, a.size);
  w64(b, off + 16, Math.ceil(a.size / 512));
  w64(b, off + 24, a.time);
  w64(b, off + 32, a.mtimeMs === undefined ? a.time : Math.floor(a.mtimeMs / 1000));
  w64(b, off + 40, a.time);
  // nsec fields at 48..60: only mtime's is ever set
  b.writeUInt32LE(a.mtimeMs === undefined ? 0 : Math.round((a.mtimeMs % 1000) * 1e6) % 1e9, off + 52);
  b.writeUInt32LE(a.mode, off + 60);
  b.writeUInt32LE(a.nlink, off + 64);
  b.writeUInt32LE(a.uid, off + 68);
  b.writeUInt32LE(a.gid, off + 72);
  b.writeUInt32LE(0, off + 76); // rdev
  b.writeUInt32LE(a.blksize ?? 4096, off + 80); // blksize
  b.writeUInt32LE(0, off + 84); // flags
}

/** A timeout in seconds as fuse_*_out's (u64 seconds at off, u32 nanoseconds at nsecOff). */
function writeTimeout(b: Buffer, off: number, nsecOff: number, s: number): void {
  const whole = Math.floor(s);
  w64(b, off, whole);
  b.writeUInt32LE(Math.min(999_999_999, Math.round((s - whole) * 1e9)), nsecOff);
}

/** fuse_entry_out; timeouts in seconds (the attributes' own validS wins over attrValid). */
export function writeEntry(b: Buffer, off: number, nodeid: number, a: FuseAttr | null, entryValid: number, attrValid: number): void {
  w64(b, off, nodeid);
  w64(b, off + 8, 0); // generation
  writeTimeout(b, off + 16, off + 32, entryValid);
  writeTimeout(b, off + 24, off + 36, a?.validS ?? attrValid);
  if (a) writeAttr(b, off + 40, a);
}

export function replyEntry(unique: bigint, nodeid: number, a: FuseAttr | null, entryValid: number, attrValid: number): Buffer {
  return reply(unique, abi.ENTRY_OUT_SIZE, (b, o) => writeEntry(b, o, nodeid, a, entryValid, attrValid));
}

export function replyAttr(unique: bigint, a: FuseAttr, attrValid: number): Buffer {
  return reply(unique, abi.ATTR_OUT_SIZE, (b, o) => {
    writeTimeout(b, o, o + 8, a.validS ?? attrValid);
    writeAttr(b, o + 16, a);
  });
}

export function replyOpen(unique: bigint, fh: number, openFlags: number): Buffer {
  return reply(unique, abi.OPEN_OUT_SIZE, (b, o) => {
    w64(b, o, fh);
    b.writeUInt32LE(openFlags, o + 8);
  });
}

export function replyWrite(unique: bigint, size: number): Buffer {
  return reply(unique, abi.WRITE_OUT_SIZE, (b, o) => b.writeUInt32LE(size, o));
}

export function replyStatfs(unique: bigint, files: number): Buffer {
  return reply(unique, abi.STATFS_OUT_SIZE, (b, o) => {
    w64(b, o + 24, files); // files
    b.writeUInt32LE(4096, o + 40); // bsize
    b.writeUInt32LE(255, o + 44); // namelen
    b.writeUInt32LE(4096, o + 48); // frsize
  });
}

export interface InitReply {
  minor: number;
  maxReadahead: number;
  flags: number;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  maxPages: number;
}

export function replyInit(unique: bigint, r: InitReply): Buffer {
  return reply(unique, abi.INIT_OUT_SIZE, (b, o) => {
    b.writeUInt32LE(abi.FUSE_KERNEL_VERSION, o);
    b.writeUInt32LE(r.minor, o + 4);
    b.writeUInt32LE(r.maxReadahead, o + 8);
    b.writeUInt32LE(r.flags >>> 0, o + 12);
    b.writeUInt16LE(r.maxBackground, o + 16);
    b.writeUInt16LE(r.congestionThreshold, o + 18);
    b.writeUInt32LE(r.maxWrite, o + 20);
    b.writeUInt32LE(1, o + 24); // time_gran
    b.writeUInt16LE(r.maxPages, o + 28);
  });
}

export interface DirEntry {
  ino: number;
  name: string;
  type: number;
  /** attr for READDIRPLUS; null for "." and ".." (the kernel skips those) */
  attr: FuseAttr | null;
}

/**
 * Packs entries starting at index `from` into at most `max` bytes; entry i carries off = i + 1
 * so the kernel resumes after it. Returns the bytes and how many entries fitted.
 */
export function packDirents(entries: readonly DirEntry[], from: number, max: number, plus: boolean, entryValid: number): { data: Buffer; packed: number } {
  const chunks: Buffer[] = [];
  let used = 0;
  for (let i = from; i < entries.length; i++) {
    const e = entries[i]!;
    const name = Buffer.from(e.name);
    const fixed = (plus ? abi.ENTRY_OUT_SIZE : 0) + abi.DIRENT_HEADER_SIZE;
    const size = (fixed + name.length + 7) & ~7;
    if (used + size > max) break;
    const b = Buffer.alloc(size);
    let o = 0;
    if (plus) {
      if (e.attr) writeEntry(b, 0, e.ino, e.attr, entryValid, entryValid);
      o = abi.ENTRY_OUT_SIZE;
    }
    w64(b, o, e.ino);
    w64(b, o + 8, i + 1);
    b.writeUInt32LE(name.length, o + 16);
    b.writeUInt32LE(e.type, o + 20);
    name.copy(b, o + 24);
    chunks.push(b);
    used += size;
  }
  return { data: Buffer.concat(chunks, used), packed: chunks.length };
}
