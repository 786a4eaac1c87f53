// Turns one raw request into at most one reply: decode (FuseCodec), call the filesystem's
// operation, encode. Nothing a request contains can make it throw: a malformed request gets
// EINVAL (or is dropped when even its header is broken), a failing operation EIO or its errno,
// an operation this server does not implement ENOSYS.
import * as abi from './fuseAbi.js';
import { Op } from './fuseAbi.js';
import {
  decodeHeader,
  decodeRequest,
  FuseDecodeError,
  packDirents,
  replyAttr,
  replyData,
  replyEntry,
  replyError,
  replyInit,
  replyOpen,
  replyStatfs,
  replyWrite,
  reply,
  type DirEntry,
  type FuseAttr,
  type FuseHeader,
} from './FuseCodec.js';

/** An operation's failure: the errno the kernel passes on to the caller. */
export class FuseErrno {
  constructor(readonly errno: number) {}
}
export const fail = (errno: number): FuseErrno => new FuseErrno(errno);

export interface RequestContext {
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
}

export interface FuseOps {
  lookup(ctx: RequestContext, name: string): { nodeid: number; attr: FuseAttr } | FuseErrno;
  forget(nodeid: number, nlookup: number): void;
  getattr(ctx: RequestContext): FuseAttr | FuseErrno;
  setattr(ctx: RequestContext, valid: number, size: number): FuseAttr | FuseErrno;
  open(ctx: RequestContext, flags: number): { fh: number; openFlags: number } | FuseErrno;
  /** readFlags: fuse_read_in.read_flags (FUSE_READ_LOCKOWNER marks a process's direct read) */
  read(ctx: RequestContext, fh: number, offset: number, size: number, readFlags: number): Buffer | FuseErrno;
  write(ctx: RequestContext, fh: number, offset: number, data: Buffer): number | FuseErrno;
  release(ctx: RequestContext, fh: number): void;
  opendir(ctx: RequestContext): { fh: number; openFlags: number } | FuseErrno;
  readdir(ctx: RequestContext): DirEntry[] | FuseErrno;
  access(ctx: RequestContext, mask: number): FuseErrno | null;
  statfsFiles(): number;
}

export interface DispatcherStats {
  requests: number;
  malformed: number;
  failed: number;
  unsupported: number;
}

export interface DispatchOptions {
  maxWrite: number;
  /** seconds the kernel may cache names and attributes */
  entryValid: number;
  attrValid: number;
  /** called with unexpected exceptions (bugs), never with errno answers */
  onError?: (e: unknown, h: FuseHeader) => void;
  /** an adopted connection: INIT was answered by an earlier server, with these terms */
  negotiated?: FuseNegotiated;
}

/** What INIT fixed for the connection's life; a server that adopts the connection must know it. */
export interface FuseNegotiated {
  /** the protocol minor both sides speak */
  minor: number;
  /** fuse_init_out.flags: what this server asked for and the kernel offered */
  flags: number;
  /** fuse_init_in.flags2 as the kernel offered it (FUSE_HAS_RESEND is bit 7) */
  kernelFlags2: number;
  /** fuse_init_out.max_write: no WRITE carries more */
  maxWrite: number;
  maxReadahead: number;
}

// Not FUSE_ATOMIC_O_TRUNC: with it the kernel sets i_size to 0 on every O_TRUNC open (`echo 1 >
// /proc/sys/...`) and keeps it until attributes are fetched again, and sendfile stops at i_size
// (see fileSize.ts). Without it, O_TRUNC is a SETATTR whose reply keeps the size.
const WANT_FLAGS =
  abi.FUSE_ASYNC_READ | abi.FUSE_BIG_WRITES | abi.FUSE_AUTO_INVAL_DATA | abi.FUSE_DO_READDIRPLUS | abi.FUSE_READDIRPLUS_AUTO | abi.FUSE_PARALLEL_DIROPS | abi.FUSE_MAX_PAGES;

export class FuseDispatcher {
  readonly stats: DispatcherStats = { requests: 0, malformed: 0, failed: 0, unsupported: 0 };
  /** the INIT terms: answered by this dispatcher, or given for an adopted connection; null before */
  negotiated: FuseNegotiated | null;
  destroyed = false;

  constructor(
    private readonly ops: FuseOps,
    private readonly opts: DispatchOptions,
  ) {
    this.negotiated = opts.negotiated ?? null;
  }

  /** kernel minor version after INIT, 0 before */
  get negotiatedMinor(): number {
    return this.negotiated?.minor ?? 0;
  }

  /** Handles the request in buf[0..n); returns the reply to write, or null when none is due. */
  handle(buf: Buffer, n: number): Buffer | null {
    this.stats.requests++;
    let h: FuseHeader;
    try {
      h = decodeHeader(buf, n);
    } catch (e) {
      this.stats.malformed++;
      return e instanceof FuseDecodeError && e.unique !== null ? replyError(e.unique, abi.EINVAL) : null;
    }
    try {
      return this.dispatch(h, buf);
    } catch (e) {
      if (e instanceof FuseDecodeError) {
        this.stats.malformed++;
        return replyError(h.unique, abi.EINVAL);
      }
      this.stats.failed++;
      this.opts.onError?.(e, h);
      const errno = (e as { errno?: unknown }).errno;
      return replyError(h.unique, typeof errno === 'number' && errno > 0 && errno < 4096 ? errno : abi.EIO);
    }
  }

  private dispatch(h: FuseHeader, buf: Buffer): Buffer | null {
    const r = decodeRequest(h, buf);
    const ctx: RequestContext = { nodeid: h.nodeid, uid: h.uid, gid: h.gid, pid: h.pid };
    const u = h.unique;
    const err = (x: FuseErrno): Buffer => replyError(u, x.errno);
    switch (r.op) {
      case Op.INIT: {
        if (r.major !== abi.FUSE_KERNEL_VERSION || r.minor < abi.FUSE_MIN_KERNEL_MINOR) return replyError(u, abi.EPROTO);
        const minor = Math.min(r.minor, abi.FUSE_KERNEL_MINOR_VERSION);
        const flags = r.flags & WANT_FLAGS;
        this.negotiated = { minor, flags, kernelFlags2: r.flags2, maxWrite: this.opts.maxWrite, maxReadahead: r.maxReadahead };
        return replyInit(u, {
          minor,
          maxReadahead: r.maxReadahead,
          flags,
          maxBackground: 64,
          congestionThreshold: 48,
          maxWrite: this.opts.maxWrite,
          maxPages: Math.ceil(this.opts.maxWrite / 4096),
        });
      }
      case Op.DESTROY:
        this.destroyed = true;
        return reply(u, 0);
      case Op.FORGET:
        this.ops.forget(h.nodeid, r.nlookup);
        return null;
      case Op.BATCH_FORGET:
        for (const it of r.items) this.ops.forget(it.nodeid, it.nlookup);
        return null;
      case Op.INTERRUPT:
        // Every request is answered synchronously, so there is never one left to interrupt.
        return null;
      case Op.LOOKUP: {
        const x = this.ops.lookup(ctx, r.name);
        if (x instanceof FuseErrno) {
          // nodeid 0 with a timeout: the kernel caches the miss (a negative dentry).
          return x.errno === abi.ENOENT ? replyEntry(u, 0, null, this.opts.entryValid, 0) : err(x);
        }
        return replyEntry(u, x.nodeid, x.attr, this.opts.entryValid, this.opts.attrValid);
      }
      case Op.GETATTR: {
        const x = this.ops.getattr(ctx);
        return x instanceof FuseErrno ? err(x) : replyAttr(u, x, this.opts.attrValid);
      }
      case Op.SETATTR: {
        const x = this.ops.setattr(ctx, r.valid, r.size);
        return x instanceof FuseErrno ? err(x) : replyAttr(u, x, this.opts.attrValid);
      }
      case Op.OPEN: {
        const x = this.ops.open(ctx, r.flags);
        return x instanceof FuseErrno ? err(x) : replyOpen(u, x.fh, x.openFlags);
      }
      case Op.OPENDIR: {
        const x = this.ops.opendir(ctx);
        return x instanceof FuseErrno ? err(x) : replyOpen(u, x.fh, x.openFlags);
      }
      case Op.READ: {
        const x = this.ops.read(ctx, r.fh, r.offset, r.size, r.readFlags);
        return x instanceof FuseErrno ? err(x) : replyData(u, x);
      }
      case Op.READDIR:
      case Op.READDIRPLUS: {
        const x = this.ops.readdir(ctx);
        if (x instanceof FuseErrno) return err(x);
        const plus = r.op === Op.READDIRPLUS;
        const from = Math.min(r.offset, x.length);
        const { data, packed } = packDirents(x, from, Math.min(r.size, 1 << 20), plus, this.opts.entryValid);
        // Each READDIRPLUS entry with attributes counts as a LOOKUP the kernel will FORGET.
        if (plus) for (let i = from; i < from + packed; i++) if (x[i]!.attr) this.ops.lookup(ctx, x[i]!.name);
        return replyData(u, data);
      }
      case Op.WRITE: {
        const x = this.ops.write(ctx, r.fh, r.offset, r.data);
        return x instanceof FuseErrno ? err(x) : replyWrite(u, x);
      }
      case Op.RELEASE:
      case Op.RELEASEDIR:
        this.ops.release(ctx, r.fh);
        return reply(u, 0);
      case Op.FLUSH:
        return reply(u, 0);
      case Op.ACCESS: {
        const x = this.ops.access(ctx, r.mask);
        return x ? err(x) : reply(u, 0);
      }
      case Op.STATFS:
        return replyStatfs(u, this.ops.statfsFiles());
      default:
        this.stats.unsupported++;
        return replyError(u, abi.ENOSYS);
    }
  }
}
