// Finds the caller's container from the pid in a FUSE request: its cgroup membership (from
// /proc/<pid>/cgroup), its vNode identity (the user namespace inode) and the host uid that is
// root in that namespace. Each cached entry keeps /proc/<pid>/comm open: that descriptor stays
// bound to the process it was opened for, so a read on it fails (ESRCH) once the process is
// gone, even if its pid has been handed to another process. A recycled pid therefore never
// inherits a view, and checking costs one pread instead of an open+read+close. Entries are
// re-read after a second in case the process moved to another cgroup. Once a second, up to 64 of
// the oldest entries are checked and those whose process is gone are closed: on a node that
// churns through pods, dead callers would otherwise each hold a descriptor until evicted by size.
import { closeSync, openSync, readlinkSync, readSync } from 'node:fs';
import { join } from 'node:path';

import { membershipKey, parseProcCgroup, type CgroupMembership } from '../cgroup/procCgroup.js';
import { isMissing, readText } from '../cgroup/readText.js';

export interface CallerView {
  pid: number;
  membership: CgroupMembership;
  /** membershipKey(): "v1:/path" or "v2:/path" */
  key: string;
  /** the container's cgroup path (memory or unified), for start-time lookups */
  cgroupPath: string;
}

export interface CallerVnode {
  /** "userns:<inode>"; per-vNode /proc/sys values are stored under it */
  vnodeId: string;
  /** host uid mapped to 0 in the caller's user namespace, or -1 when none is */
  rootUid: number;
}

interface CacheEntry {
  fd: number;
  at: number;
  view: CallerView;
  vnode?: CallerVnode;
}

/** The host view: what a process in the root cgroup and the initial user namespace sees. */
const ROOT_MEMBERSHIP: CgroupMembership = { v1: new Map(), v2: null };
const probeBuf = Buffer.alloc(64);

export class ViewResolver {
  private readonly cache = new Map<number, CacheEntry>();
  private sweptAt = 0;

  constructor(
    private readonly procRoot = '/proc',
    private readonly ttlMs = 1000,
    private readonly maxEntries = 512,
    private readonly sweepBatch = 64,
  ) {}

  /** Entries cached now (each holds one descriptor). */
  get size(): number {
    return this.cache.size;
  }

  /** Closes the entries of processes that are gone among the `sweepBatch` oldest, at most once per ttl. */
  sweep(now: number): number {
    if (now - this.sweptAt < this.ttlMs) return 0;
    this.sweptAt = now;
    const batch: [number, CacheEntry][] = [];
    for (const pe of this.cache) {
      if (batch.length >= this.sweepBatch) break;
      batch.push(pe);
    }
    let n = 0;
    for (const [pid, e] of batch) {
      if (this.alive(e.fd)) {
        // To the back of the line: the next sweep looks at others.
        this.cache.delete(pid);
        this.cache.set(pid, e);
      } else {
        this.drop(pid, e);
        n++;
      }
    }
    return n;
  }

  /** True while the process the descriptor was opened for is alive. */
  private alive(fd: number): boolean {
    try {
      readSync(fd, probeBuf, 0, probeBuf.length, 0);
      return true;
    } catch (e) {
      if (isMissing(e)) return false;
      throw e;
    }
  }

  private drop(pid: number, e: CacheEntry): void {
    this.cache.delete(pid);
    closeSync(e.fd);
  }

  private entry(pid: number, now: number): CacheEntry | undefined {
    if (!(pid > 0)) return undefined;
    this.sweep(now);
    const dir = join(this.procRoot, String(pid));
    let e = this.cache.get(pid);
    if (e && !this.alive(e.fd)) {
      this.drop(pid, e);
      e = undefined;
    }
    if (e && now - e.at < this.ttlMs) return e;
    let fd = e?.fd;
    if (fd === undefined) {
      try {
        fd = openSync(join(dir, 'comm'), 'r');
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    }
    const text = readText(join(dir, 'cgroup'));
    // Read by path: make sure it was still the same process when we read it.
    if (text === undefined || !this.alive(fd)) {
      if (e) this.drop(pid, e);
      else closeSync(fd);
      return undefined;
    }
    const membership = parseProcCgroup(text);
    const key = membershipKey(membership);
    const view: CallerView = { pid, membership, key, cgroupPath: key.slice(3) };
    if (e) {
      e.at = now;
      e.view = view;
      return e;
    }
    if (this.cache.size >= this.maxEntries) {
      const [oldPid, old] = this.cache.entries().next().value as [number, CacheEntry];
      this.drop(oldPid, old);
    }
    const fresh: CacheEntry = { fd, at: now, view };
    this.cache.set(pid, fresh);
    return fresh;
  }

  /** The caller's container; pid 0 or a vanished pid gets the host view. */
  view(pid: number, now = Date.now()): CallerView {
    return this.entry(pid, now)?.view ?? { pid, membership: ROOT_MEMBERSHIP, key: 'host', cgroupPath: '/' };
  }

  /** The caller's vNode; null when the process is gone (its request then fails). */
  vnode(pid: number, now = Date.now()): CallerVnode | null {
    const e = this.entry(pid, now);
    if (!e) return null;
    if (e.vnode) return e.vnode;
    let link: string;
    try {
      link = readlinkSync(join(this.procRoot, String(pid), 'ns', 'user'));
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    const m = /\[(\d+)\]/.exec(link);
    if (!m) throw new Error(`unexpected user namespace link ${JSON.stringify(link)} for pid ${pid}`);
    let rootUid = -1;
    for (const line of (readText(join(this.procRoot, String(pid), 'uid_map')) ?? '').split('\n')) {
      const [inside, outside] = line.trim().split(/\s+/);
      if (inside === '0' && outside !== undefined) rootUid = Number(outside);
    }
    e.vnode = { vnodeId: `userns:${m[1]}`, rootUid };
    return e.vnode;
  }

  /** Closes every cached descriptor. */
  close(): void {
    for (const [pid, e] of this.cache) this.drop(pid, e);
  }
}
