// The vnodefs filesystem operations over the inode table: files are rendered for the caller's
// container at OPEN into the shared handle arena, /proc/sys entries read and written in the
// caller's vNode; a container's own per-container files are read from the kernel's page cache,
// which this server fills and expires. Runs on each FUSE worker thread.
import { createHash } from 'node:crypto';

import type { FuseAttr, DirEntry } from './protocol/FuseCodec.js';
import { fail, FuseErrno, type FuseOps, type RequestContext } from './protocol/FuseDispatcher.js';
import * as abi from './protocol/fuseAbi.js';
import type { HandleArena } from './HandleArena.js';
import { InodeTable, type Inode } from './InodeTable.js';
import type { ProcFile } from './ProcFile.js';
import { SysctlValueError } from './sysctl/sysctlEntries.js';
import { SharedKvFullError, type SharedKv } from './SharedKv.js';
import type { SysctlStore } from './SysctlStore.js';
import type { ViewBuilder } from './ViewBuilder.js';
import type { ViewResolver } from './ViewResolver.js';

const O_ACCMODE = 3;
const O_RDONLY = 0;
const O_WRONLY = 1;
const R_OK = 4;
const W_OK = 2;
const X_OK = 1;

export interface VnodeFsOpsDeps {
  table: InodeTable;
  arena: HandleArena;
  worker: number;
  resolver: ViewResolver;
  builder: ViewBuilder;
  sysctl: SysctlStore;
  /** mount time, seconds since the epoch, for file times */
  mountedAt: number;
  /** the table shared by the workers: which slot holds the rendering of an earlier server's
   * handle (`fh:<foreign handle>` -> handle of ours), so every worker reads the same one */
  kv?: SharedKv;
  now?: () => number;
  /** whether the connection drops cached pages on a new mtime (FUSE_AUTO_INVAL_DATA): only then
   * are per-container files read from the page cache; absent: never */
  pageCache?: () => boolean;
}

/**
 * How long the kernel may serve a per-container file from its page cache before it asks for the
 * attributes again (whose new mtime drops the pages): the freshness bound of those files.
 */
export const PER_CONTAINER_FRESH_MS = 100;

/** The pin's form of a view key: the key itself, or its hash when too long for the shared table. */
function pinKey(viewKey: string): string {
  return Buffer.byteLength(viewKey) <= 120 ? viewKey : `sha1:${createHash('sha1').update(viewKey).digest('base64')}`;
}

/**
 * A container's pin in the shared table, "<bucket>,<bucket>,...|<view key>": the view its cached
 * pages hold, and for each of its files the freshness period (ms / PER_CONTAINER_FRESH_MS) in
 * which its pages were last dropped, empty when never under this pin.
 */
interface Pin {
  key: string;
  dropped: string[];
}
function parsePin(v: string): Pin {
  const bar = v.indexOf('|');
  return { key: v.slice(bar + 1), dropped: v.slice(0, bar).split(',') };
}
const formatPin = (p: Pin): string => `${p.dropped.join(',')}|${p.key}`;
/** The shared table's key of a container's pin (by its hash, InodeTable.containerHash). */
export const pinSlot = (containerHash: number): string => `pin:${containerHash}`;
/** The shared table's key of a per-container file's kept rendering (see VnodeFsOps.fill). */
const fillSlot = (nodeid: number): string => `fill:${nodeid}`;
/** A kept rendering's entry, "<arena slot>|<ms kept>". */
const formatKept = (slot: number, at: number): string => `${slot}|${at}`;
function parseKept(v: string): { slot: number; at: number } {
  const [slot, at] = v.split('|').map(Number) as [number, number];
  return { slot, at };
}

/** Frees a per-container file's kept rendering, if it has one. */
export function dropKeptFill(kv: SharedKv, arena: HandleArena, nodeid: number): void {
  const kept = kv.get(fillSlot(nodeid));
  if (kept === undefined) return;
  arena.free(parseKept(kept).slot);
  kv.delete(fillSlot(nodeid));
}

const EMPTY = Buffer.alloc(0);
/** Foreign handles whose fresh rendering a worker keeps for their later READs (see read). */
const FOREIGN_CACHE = 64;

export class VnodeFsOps implements FuseOps {
  private readonly now: () => number;
  /** page-cache fills refused (see read) */
  pageCacheReads = 0;
  /** READs on a handle an earlier server issued (before a manager restart), rendered again */
  foreignReads = 0;
  /** Content rendered for a foreign handle at offset 0, for its reads at later offsets on this
   * worker (oldest first; bounded). */
  private readonly foreign = new Map<number, Buffer>();

  constructor(private readonly d: VnodeFsOpsDeps) {
    this.now = d.now ?? Date.now;
  }

  private attr(n: Inode): FuseAttr {
    const f = n.file;
    if (!f) return { ino: n.ino, size: 0, mode: abi.S_IFDIR | 0o555, nlink: 2 + [...n.children!.values()].filter((c) => c.children).length, uid: 0, gid: 0, time: this.d.mountedAt };
    const writable = f.kind === 'sysctl' && !f.sysctl.readOnly;
    const mode = writable ? 0o644 : f.kind === 'view' && f.rootOnly ? 0o400 : 0o444;
    const a: FuseAttr = { ino: n.ino, size: f.size, blksize: f.size, mode: abi.S_IFREG | mode, nlink: 1, uid: 0, gid: 0, time: this.d.mountedAt };
    // A per-container file's attributes last PER_CONTAINER_FRESH_MS and each new fetch carries
    // a new mtime, so the kernel drops the file's cached pages (FUSE_AUTO_INVAL_DATA) and the next
    // read fills them again from here. The size stays the generous one of fileSize.ts: the
    // kernel shrinks i_size to the text's end at the short READ that fills the page.
    if (this.cacheable(n)) {
      a.mtimeMs = this.now();
      a.validS = PER_CONTAINER_FRESH_MS / 1000;
    }
    return a;
  }

  /** A per-container view file on a connection that expires cached pages. */
  private cacheable(n: Inode): boolean {
    return n.container !== undefined && n.file?.kind === 'view' && !!this.d.kv && (this.d.pageCache?.() ?? false);
  }

  private node(ctx: RequestContext): Inode | FuseErrno {
    return this.d.table.get(ctx.nodeid) ?? fail(abi.ENOENT);
  }

  /** Writes to /proc/sys entries are for root of the caller's user namespace, like the kernel's. */
  private mayWrite(ctx: RequestContext, f: ProcFile): boolean {
    if (f.kind !== 'sysctl' || f.sysctl.readOnly) return false;
    return this.isNsRoot(ctx);
  }

  /** Root-only files (mode 0400) are read by root of the caller's user namespace only. The
   * kernel's own would be unreadable there (their owner, host root, is not mapped); these are
   * the vNode's own values, so its root reads them, as root reads them on a machine. */
  private mayRead(ctx: RequestContext, f: ProcFile): boolean {
    return f.kind !== 'view' || !f.rootOnly || this.isNsRoot(ctx);
  }

  private isNsRoot(ctx: RequestContext): boolean {
    const v = this.d.resolver.vnode(ctx.pid, this.now());
    return v !== null && v.rootUid >= 0 && ctx.uid === v.rootUid;
  }

  /** The file's text for this caller. */
  private render(ctx: RequestContext, f: ProcFile): string | FuseErrno {
    const now = this.now();
    if (f.kind === 'sysctl') {
      const v = this.d.resolver.vnode(ctx.pid, now);
      if (!v) return fail(abi.ENOENT);
      return `${this.d.sysctl.read(v.vnodeId, f.sysctl, now)}\n`;
    }
    const caller = this.d.resolver.view(ctx.pid, now);
    return f.render(this.d.builder.build(f, caller, now, ctx.uid));
  }

  lookup(ctx: RequestContext, name: string): { nodeid: number; attr: FuseAttr } | FuseErrno {
    const dir = this.d.table.get(ctx.nodeid);
    if (!dir) return fail(abi.ENOENT);
    if (!dir.children) return fail(abi.ENOTDIR);
    const n = name === '.' ? dir : name === '..' ? this.d.table.get(dir.parent) : this.d.table.lookup(dir.ino, name);
    if (!n) return fail(abi.ENOENT);
    n.lookups++;
    return { nodeid: n.ino, attr: this.attr(n) };
  }

  forget(nodeid: number, nlookup: number): void {
    this.d.table.forget(nodeid, nlookup);
    // A container's directory goes last (its files' dentries hold it): its pin goes with it.
    const n = InodeTable.isPerContainer(nodeid) ? this.d.table.get(nodeid) : undefined;
    if (n?.container !== undefined && n.children && !InodeTable.isPerContainer(n.parent)) this.d.kv?.delete(pinSlot(n.container));
    // A file's kept rendering (see fill) goes with its inode.
    if (n?.file && this.d.kv) dropKeptFill(this.d.kv, this.d.arena, nodeid);
  }

  getattr(ctx: RequestContext): FuseAttr | FuseErrno {
    const n = this.node(ctx);
    return n instanceof FuseErrno ? n : this.attr(n);
  }

  setattr(ctx: RequestContext, valid: number, _size: number): FuseAttr | FuseErrno {
    const n = this.node(ctx);
    if (n instanceof FuseErrno) return n;
    // Only truncation (as in `echo 1 > file` without atomic O_TRUNC) is accepted, and ignored.
    if (valid & (abi.FATTR_MODE | abi.FATTR_UID | abi.FATTR_GID)) return fail(abi.EPERM);
    if (valid & abi.FATTR_SIZE) {
      if (!n.file) return fail(abi.EISDIR);
      if (!this.mayWrite(ctx, n.file)) return fail(abi.EACCES);
    }
    return this.attr(n);
  }

  open(ctx: RequestContext, flags: number): { fh: number; openFlags: number } | FuseErrno {
    const n = this.node(ctx);
    if (n instanceof FuseErrno) return n;
    const f = n.file;
    if (!f) return fail(abi.EISDIR);
    if ((flags & O_ACCMODE) !== O_RDONLY && !this.mayWrite(ctx, f)) return fail(abi.EACCES);
    if ((flags & O_ACCMODE) !== O_WRONLY && !this.mayRead(ctx, f)) return fail(abi.EACCES);
    const cached = this.cacheable(n) ? this.openCached(ctx, n) : null;
    if (cached) return cached;
    const text = this.render(ctx, f);
    if (text instanceof FuseErrno) return text;
    const fh = this.d.arena.put(this.d.worker, text, n.ino);
    // direct_io: every read reaches us (no page cache shared between containers);
    // noflush: close() needs no FLUSH round trip for a file that holds no written data.
    return { fh, openFlags: abi.FOPEN_DIRECT_IO | (f.kind === 'view' ? abi.FOPEN_NOFLUSH : 0) };
  }

  /**
   * A per-container file opened through the page cache, or null to open it like the others.
   * The container's first opener pins its view (its cgroup) in the shared table, and only
   * openers of that view read the cached pages; any other (a process in a sub-cgroup of the
   * container, or one that reached another container's file through /proc/<pid>/root) gets a
   * rendering of its own, read directly.
   *
   * Freshness is kept here, at OPEN, which every reader makes: the first open of a file in each
   * freshness period answers without FOPEN_KEEP_CACHE, which makes the kernel drop the inode's
   * pages, so the open's reads fill them anew; the others keep them. (The kernel's own expiry,
   * FUSE_AUTO_INVAL_DATA with the 100 ms attributes, covers a handle kept open and read again,
   * but not sendfile/splice, which read the page cache without asking.) A file with no period
   * under the pin (a pin made after a manager restart, whose pins died with it) drops too.
   */
  private openCached(ctx: RequestContext, n: Inode): { fh: number; openFlags: number } | null {
    const kv = this.d.kv!;
    const now = this.now();
    const view = this.d.resolver.view(ctx.pid, now);
    if (view.key === 'host') return null;
    const mine = pinKey(view.key);
    const slot = pinSlot(n.container!);
    try {
      const pin = parsePin(kv.get(slot) ?? kv.setIfAbsent(slot, `|${mine}`));
      if (pin.key !== mine) return null;
      const period = String(Math.floor(now / PER_CONTAINER_FRESH_MS));
      const i = n.fileIndex!;
      if (pin.dropped[i] === period) return { fh: 0, openFlags: abi.FOPEN_KEEP_CACHE | abi.FOPEN_NOFLUSH };
      // Two openers may both get here: each drops the pages, and one period may be lost to the
      // other's write, which costs one more drop later, never a kept page.
      while (pin.dropped.length <= i) pin.dropped.push('');
      pin.dropped[i] = period;
      kv.set(slot, formatPin(pin));
      return { fh: 0, openFlags: abi.FOPEN_NOFLUSH };
    } catch (e) {
      if (e instanceof SharedKvFullError) return null;
      throw e;
    }
  }

  read(ctx: RequestContext, fh: number, offset: number, size: number, readFlags: number): Buffer | FuseErrno {
    // A read without a lock owner fills the page cache (a cached read, sendfile/splice, a private
    // mmap). Of a per-container file, with the reader of the pinned view (see openCached), it is
    // served. Any other would cache one caller's figures on an inode the next caller reads:
    // refused, so sendfile fails and its caller (busybox cat) falls back to read(2); see
    // fileSize.ts.
    if (!(readFlags & abi.FUSE_READ_LOCKOWNER)) {
      const n = this.d.table.get(ctx.nodeid);
      if (n && this.cacheable(n) && this.mayFill(ctx, n)) return this.fill(ctx, offset, size);
      this.pageCacheReads++;
      return fail(abi.EIO);
    }
    if (fh !== 0) {
      const held = this.d.arena.read(fh, offset, size, ctx.nodeid);
      if (held) return held;
      // One of ours that is not open (or not on this node): the kernel never sends that.
      if (this.d.arena.ours(fh)) return fail(abi.EBADF);
      return this.readForeign(ctx, fh, offset, size);
    }
    // No arena slot (file too big or arena full): render again for this read.
    const b = this.renderNode(ctx);
    if (b instanceof FuseErrno) return b;
    return b.subarray(Math.min(offset, b.length), Math.min(b.length, offset + size));
  }

  /**
   * The text for a fill of a per-container file's pages. The kernel may fill a text longer than
   * its first READ asked for with more READs (readahead windows): the rendering made at offset 0
   * is kept in the handle arena (`fill:<node>` in the shared table names its slot, any worker
   * reads it) and the later pieces come from it, so the cached text is one rendering, whole
   * lines. A text that fits the first READ, the common case, is never kept.
   */
  private fill(ctx: RequestContext, offset: number, size: number): Buffer | FuseErrno {
    const key = fillSlot(ctx.nodeid);
    const kv = this.d.kv!;
    if (offset > 0) {
      // "<slot>|<ms>": not past the freshness bound, which a piece read long after its start
      // (a pread far into the file, pages evicted) would be; that one is rendered anew.
      const { slot, at } = parseKept(kv.get(key) ?? formatKept(0, 0));
      const held = slot && this.now() - at <= PER_CONTAINER_FRESH_MS ? this.d.arena.read(slot, offset, size, ctx.nodeid) : null;
      if (held) return held;
    }
    const b = this.renderNode(ctx);
    if (b instanceof FuseErrno) return b;
    if (offset === 0 && b.length > size) {
      const slot = this.d.arena.put(this.d.worker, b, ctx.nodeid);
      if (slot) {
        const old = kv.get(key);
        try {
          kv.set(key, formatKept(slot, this.now()));
          if (old !== undefined) this.d.arena.free(parseKept(old).slot);
        } catch (e) {
          if (!(e instanceof SharedKvFullError)) throw e;
          this.d.arena.free(slot);
        }
      }
    }
    return b.subarray(Math.min(offset, b.length), Math.min(b.length, offset + size));
  }

  /** Whether the reader may fill the file's pages: its view is the pinned one, or none is pinned
   * (a handle opened before a manager restart; the next pinning open drops these pages). */
  private mayFill(ctx: RequestContext, n: Inode): boolean {
    const view = this.d.resolver.view(ctx.pid, this.now());
    if (view.key === 'host') return false;
    const pin = this.d.kv!.get(pinSlot(n.container!));
    return pin === undefined || parsePin(pin).key === pinKey(view.key);
  }

  private renderNode(ctx: RequestContext): Buffer | FuseErrno {
    const n = this.node(ctx);
    if (n instanceof FuseErrno) return n;
    if (!n.file) return fail(abi.EISDIR);
    const text = this.render(ctx, n.file);
    if (text instanceof FuseErrno) return text;
    return Buffer.from(text, 'latin1');
  }

  /**
   * A READ on a file opened from an earlier server (the manager restarted; VnodeFs.adopt): its
   * content died with that server, so the file is rendered again from the node id, for the
   * reader, at the handle's first READ here, and kept in a slot of ours until its RELEASE, as an
   * OPEN's rendering is: a file read in pieces stays one rendering whichever worker reads which
   * piece. The shared table maps the foreign handle to that slot. With the arena or the table
   * full, the worker keeps the rendering itself (per worker, bounded).
   *
   * A first READ here at an offset past 0 means the reader already holds that much of the old
   * rendering (the restart cut its read sequence, mostly between the read that got everything
   * and the one that finds end of file). It goes on with the new rendering only where that has a
   * line end just before the offset, so the reader's text stays whole lines; anywhere else it
   * gets end of file, never half a line of other figures.
   */
  private readForeign(ctx: RequestContext, fh: number, offset: number, size: number): Buffer | FuseErrno {
    this.foreignReads++;
    const key = `fh:${fh}`;
    const kv = this.d.kv;
    const kept = Number(kv?.get(key) ?? 0);
    if (kept) {
      const held = this.d.arena.read(kept, offset, size, ctx.nodeid);
      if (held) return held;
    }
    let b = this.foreign.get(fh);
    if (!b) {
      const r = this.renderNode(ctx);
      if (r instanceof FuseErrno) return r;
      b = r;
      const mine = kv ? this.d.arena.put(this.d.worker, r, ctx.nodeid) : 0;
      let winner = 0;
      if (mine) {
        try {
          winner = Number(kv!.setIfAbsent(key, String(mine)));
        } catch (e) {
          if (!(e instanceof SharedKvFullError)) throw e;
        }
        if (winner !== mine) this.d.arena.free(mine);
        // Another worker rendered it first: its rendering is the one.
        if (winner && winner !== mine) {
          const held = this.d.arena.read(winner, offset, size, ctx.nodeid);
          if (held) return held;
        }
      }
      if (!winner) {
        if (this.foreign.size >= FOREIGN_CACHE) this.foreign.delete(this.foreign.keys().next().value!);
        this.foreign.set(fh, b);
      }
      if (offset > 0 && !(offset < b.length && b[offset - 1] === 0x0a)) return EMPTY;
    }
    return b.subarray(Math.min(offset, b.length), Math.min(b.length, offset + size));
  }

  write(ctx: RequestContext, _fh: number, offset: number, data: Buffer): number | FuseErrno {
    const n = this.node(ctx);
    if (n instanceof FuseErrno) return n;
    const f = n.file;
    if (!f || f.kind !== 'sysctl' || f.sysctl.readOnly) return fail(abi.EACCES);
    // Like the kernel's strict sysctl writes: only a write at offset 0 sets the value.
    if (offset !== 0) return data.length;
    const v = this.d.resolver.vnode(ctx.pid, this.now());
    if (!v) return fail(abi.ENOENT);
    try {
      this.d.sysctl.write(v.vnodeId, f.sysctl, data.toString('latin1'));
    } catch (e) {
      if (e instanceof SysctlValueError) return fail(abi.EINVAL);
      // The shared table is full: the writer is told, like a kernel out of room for the value.
      if (e instanceof SharedKvFullError) return fail(abi.ENOSPC);
      throw e;
    }
    return data.length;
  }

  /** Frees the handle's slot; for a foreign handle (an earlier server's), the slot that holds
   * its rendering here, if it was read. */
  release(_ctx: RequestContext, fh: number): void {
    if (fh === 0 || this.d.arena.free(fh) || this.d.arena.ours(fh)) return;
    this.foreign.delete(fh);
    const local = this.d.kv?.get(`fh:${fh}`);
    if (local !== undefined) {
      this.d.arena.free(Number(local));
      this.d.kv!.delete(`fh:${fh}`);
    }
  }

  opendir(ctx: RequestContext): { fh: number; openFlags: number } | FuseErrno {
    const n = this.node(ctx);
    if (n instanceof FuseErrno) return n;
    return n.children ? { fh: 0, openFlags: 0 } : fail(abi.ENOTDIR);
  }

  readdir(ctx: RequestContext): DirEntry[] | FuseErrno {
    const n = this.node(ctx);
    if (n instanceof FuseErrno) return n;
    if (!n.children) return fail(abi.ENOTDIR);
    const parent = this.d.table.get(n.parent)!;
    const out: DirEntry[] = [
      { ino: n.ino, name: '.', type: abi.DT_DIR, attr: null },
      { ino: parent.ino, name: '..', type: abi.DT_DIR, attr: null },
    ];
    for (const c of [...n.children.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      out.push({ ino: c.ino, name: c.name, type: c.children ? abi.DT_DIR : abi.DT_REG, attr: this.attr(c) });
    }
    return out;
  }

  access(ctx: RequestContext, mask: number): FuseErrno | null {
    const n = this.node(ctx);
    if (n instanceof FuseErrno) return n;
    if (!n.file) return mask & W_OK ? fail(abi.EACCES) : null;
    if (mask & X_OK) return fail(abi.EACCES);
    if (mask & W_OK && !this.mayWrite(ctx, n.file)) return fail(abi.EACCES);
    if (mask & R_OK && !this.mayRead(ctx, n.file)) return fail(abi.EACCES);
    return null;
  }

  /** The file or directory path of a node id, for logs. */
  pathOf(nodeid: number): string | undefined {
    return this.d.table.pathOf(nodeid);
  }

  statfsFiles(): number {
    return this.d.table.size;
  }
}
