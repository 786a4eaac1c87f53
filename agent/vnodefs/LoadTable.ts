// Container load averages in the shared table, key "load:<membership key>". FUSE workers add a
// container the first time its loadavg is read; the load sampler (on the main thread) updates
// every entry each 5 s (see LoadSampler.ts).
import { join } from 'node:path';

import type { CgroupMembership } from '../cgroup/procCgroup.js';
import type { CgroupReader } from '../cgroup/CgroupReader.js';
import { readText } from '../cgroup/readText.js';
import type { LoadSample } from './render/ViewInput.js';
import { SharedKvFullError, type SharedKv } from './SharedKv.js';

interface Stored {
  l: [number, number, number];
  r: number;
  t: number;
  b: number;
  at: number;
}

export class LoadTable {
  constructor(
    private readonly kv: SharedKv,
    private readonly procRoot = '/proc',
  ) {}

  /** Membership to sample from a key: one hierarchy is enough to list the tasks. */
  static membershipOf(key: string): CgroupMembership {
    const path = key.slice(3);
    if (key.startsWith('v1:')) return { v1: new Map([['memory', path], ['cpu', path], ['pids', path], ['cpuacct', path]]), v2: null };
    return { v1: new Map(), v2: path };
  }

  /** Counts runnable (R) and uninterruptible (D) threads of a container now. */
  count(reader: CgroupReader, m: CgroupMembership): { running: number; blocked: number; total: number } {
    let running = 0;
    let blocked = 0;
    const tids = reader.threads(m);
    for (const tid of tids) {
      const t = readText(join(this.procRoot, String(tid), 'stat'));
      if (t === undefined) continue;
      const state = t[t.lastIndexOf(')') + 2];
      if (state === 'R') running++;
      else if (state === 'D') blocked++;
    }
    return { running, blocked, total: tids.length };
  }

  get(key: string): LoadSample | null {
    const s = this.kv.get(`load:${key}`);
    if (s === undefined) return null;
    try {
      const v = JSON.parse(s) as Stored;
      return { load1: v.l[0], load5: v.l[1], load15: v.l[2], running: v.r, total: v.t, blocked: v.b };
    } catch {
      return null;
    }
  }

  put(key: string, s: LoadSample, at: number): void {
    const r = (x: number): number => Math.round(x * 1e4) / 1e4;
    const v: Stored = { l: [r(s.load1), r(s.load5), r(s.load15)], r: s.running, t: s.total, b: s.blocked, at };
    this.kv.set(`load:${key}`, JSON.stringify(v));
  }

  /**
   * The stored sample, or a fresh zero-load entry with the current task counts. With the shared
   * table full the container is not tracked (its loadavg shows the current counts, no averages)
   * rather than its read failing; the sampler drops entries of containers that are gone.
   */
  getOrStart(key: string, reader: CgroupReader, m: CgroupMembership, now: number): LoadSample {
    const got = this.get(key);
    if (got) return got;
    const c = this.count(reader, m);
    const s: LoadSample = { load1: 0, load5: 0, load15: 0, ...c };
    try {
      this.put(key, s, now);
    } catch (e) {
      if (!(e instanceof SharedKvFullError)) throw e;
    }
    return s;
  }

  keys(): string[] {
    return this.kv.entries('load:').map(([k]) => k.slice(5));
  }

  drop(key: string): void {
    this.kv.delete(`load:${key}`);
  }
}
