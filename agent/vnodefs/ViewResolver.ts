// Finds the caller's container from the pid in a FUSE request: its cgroup membership (from
// /proc/<pid>/cgroup), its vNode identity (the user namespace inode) and the host uid that is
// root in that namespace. Cached per pid and checked against the process start time, so a
// recycled pid never inherits another process's view; re-read after a second in case the
// process moved to another cgroup.
import { readlinkSync } from 'node:fs';
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
  start: string;
  at: number;
  view: CallerView;
  vnode?: CallerVnode;
}

/** The host view: what a process in the root cgroup and the initial user namespace sees. */
const ROOT_MEMBERSHIP: CgroupMembership = { v1: new Map(), v2: null };

export class ViewResolver {
  private readonly cache = new Map<number, CacheEntry>();

  constructor(
    private readonly procRoot = '/proc',
    private readonly ttlMs = 1000,
    private readonly maxEntries = 8192,
  ) {}

  /** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or undefined if gone. */
  private startTime(pid: number): string | undefined {
    const t = readText(join(this.procRoot, String(pid), 'stat'));
    if (t === undefined) return undefined;
    const fields = t.slice(t.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  }

  private entry(pid: number, now: number): CacheEntry | undefined {
    if (!(pid > 0)) return undefined;
    const start = this.startTime(pid);
    if (start === undefined) return undefined;
    const hit = this.cache.get(pid);
    if (hit && hit.start === start && now - hit.at < this.ttlMs) return hit;
    const text = readText(join(this.procRoot, String(pid), 'cgroup'));
    if (text === undefined) return undefined;
    const membership = parseProcCgroup(text);
    const key = membershipKey(membership);
    const view: CallerView = { pid, membership, key, cgroupPath: key.slice(3) };
    if (this.cache.size >= this.maxEntries) this.cache.clear();
    const e: CacheEntry = { start, at: now, view };
    this.cache.set(pid, e);
    return e;
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
}
