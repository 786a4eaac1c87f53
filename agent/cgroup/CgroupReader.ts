// The one cgroup reader: finds where each controller is mounted (cgroup v1, v2 or a hybrid of
// both) under a root directory, and reads a container's limits and usage into a CgroupSnapshot.
// Taking the root as a parameter lets tests run it on fixture trees.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import type { CgroupMembership } from './procCgroup.js';
import type { CgroupSnapshot, CpuSnapshot, IoDeviceStat, IoSnapshot, MemorySnapshot, MemoryStat } from './CgroupSnapshot.js';
import { emptyMemoryStat } from './CgroupSnapshot.js';
import { parseCpuList } from './cpuList.js';
import { AgingMap } from './AgingMap.js';
import { OpenFileCache, readText as readUncached } from './readText.js';

/** Where the hierarchies are mounted. */
export interface CgroupLayout {
  /** v1 controller name -> mount directory */
  v1: Map<string, string>;
  /** cgroup2 mount directory, or null */
  v2: string | null;
}

/** Values at or above this are the kernel's "no limit" (v1 prints PAGE_COUNTER_MAX * page size). */
const UNLIMITED = 2 ** 60;

export function detectLayout(root: string): CgroupLayout {
  if (existsSync(join(root, 'cgroup.controllers'))) return { v1: new Map(), v2: root };
  const v1 = new Map<string, string>();
  let v2: string | null = null;
  let entries: string[] = [];
  try {
    entries = readdirSync(root);
  } catch {
    return { v1, v2 };
  }
  for (const e of entries.sort()) {
    const dir = join(root, e);
    if (existsSync(join(dir, 'cgroup.controllers'))) {
      v2 = dir;
      continue;
    }
    if (!existsSync(join(dir, 'cgroup.procs'))) continue;
    // "cpu,cpuacct" mounts carry several controllers; "systemd" is a named hierarchy.
    for (const c of e.split(',')) if (c && c !== 'systemd' && !v1.has(c)) v1.set(c, dir);
  }
  return { v1, v2 };
}

/** How long vnodefs and the seccomp handlers reuse a group's memory figures (memoryTtlMs): a
 * reader looping on /proc/meminfo or sysinfo(2) costs one memory.stat read per 5 ms per worker,
 * not one per call, and `free` and /proc/meminfo still agree. */
export const MEMORY_FIGURES_TTL_MS = 5;

export interface CgroupReaderOptions {
  /** cgroupfs root; default /sys/fs/cgroup */
  root?: string;
  /** Cache limits, quotas and cpusets (not usage) this long; 0 = read every time. */
  limitTtlMs?: number;
  /** Keep up to this many cgroup files open and re-read them with pread; 0 = open every time. */
  openFiles?: number;
  /**
   * Reuse a group's memory figures (usage, memory.stat, swap) for this long; 0 = read every
   * time. memory.stat is the costliest cgroup read (the kernel walks the group's counters), and
   * readers that open /proc/meminfo in a loop need not pay it each time: these are gauges, and
   * the kernel's own usage figure already lags by its per-CPU charge batches.
   */
  memoryTtlMs?: number;
}

export interface SnapshotParts {
  memory?: boolean;
  /** read swap usage and limits with memory (default true; skip when the host has no swap) */
  swap?: boolean;
  cpu?: boolean;
  io?: boolean;
}

function num(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === 'max') return Infinity;
  if (!/^-?\d+$/.test(t)) return undefined;
  return Number(t);
}

/** "key value" lines (memory.stat, cpu.stat) -> map */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const v = Number(line.slice(sp + 1));
    if (Number.isFinite(v)) out.set(line.slice(0, sp), v);
  }
  return out;
}

/** Entries go 10-20 s after their last use (AgingMap): a pod's paths do not outlive it for long. */
const CACHE_AGE_MS = 10_000;
const CACHE_MAX = 8192;
const ancestryCache = new AgingMap<string, string[]>(CACHE_AGE_MS, CACHE_MAX);

/** Directories from the cgroup up to the hierarchy root (memoised: it is on every read's path). */
function ancestry(mount: string, path: string): string[] {
  const key = `${mount}\0${path}`;
  const hit = ancestryCache.get(key);
  if (hit) return hit;
  const parts = path.split('/').filter((p) => p && p !== '.' && p !== '..');
  const out: string[] = [];
  for (let i = parts.length; i >= 0; i--) out.push(join(mount, ...parts.slice(0, i)));
  ancestryCache.set(key, out);
  return out;
}

/** Values of the wanted keys of a flat-keyed file: one native search per key, no line splitting. */
function pickKeyed(text: string, wanted: ReadonlySet<string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const k of wanted) {
    let i = text.startsWith(`${k} `) ? 0 : text.indexOf(`\n${k} `);
    if (i < 0) continue;
    if (i > 0 || text[0] === '\n') i++;
    const start = i + k.length + 1;
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    out.set(k, Number(text.slice(start, end)));
  }
  return out;
}

const V1_STAT_KEYS = new Set(
  ['cache', 'rss', 'shmem', 'mapped_file', 'active_anon', 'inactive_anon', 'active_file', 'inactive_file', 'unevictable'].flatMap((k) => [k, `total_${k}`]),
);
const V2_STAT_KEYS = new Set(['anon', 'file', 'shmem', 'file_mapped', 'active_anon', 'inactive_anon', 'active_file', 'inactive_file', 'unevictable', 'slab_reclaimable', 'slab_unreclaimable']);

export class CgroupReader {
  readonly layout: CgroupLayout;
  private readonly ttl: number;
  private readonly cache = new AgingMap<string, { at: number; value: number | undefined }>(CACHE_AGE_MS, CACHE_MAX);
  private readonly chainCache = new AgingMap<string, { at: number; value: number | null }>(CACHE_AGE_MS, CACHE_MAX);
  private readonly memoryTtl: number;
  private readonly memoryCache = new AgingMap<string, { at: number; value: MemorySnapshot | null }>(CACHE_AGE_MS, CACHE_MAX);

  constructor(opts: CgroupReaderOptions = {}) {
    this.layout = detectLayout(opts.root ?? '/sys/fs/cgroup');
    this.ttl = opts.limitTtlMs ?? 0;
    this.memoryTtl = opts.memoryTtlMs ?? 0;
    const files = opts.openFiles ? new OpenFileCache(opts.openFiles) : null;
    this.readText = files ? (p) => files.read(p) : readUncached;
  }

  private readonly readText: (path: string) => string | undefined;

  /** The v1 directory of a controller for this membership, or null when v1 does not carry it. */
  v1Dir(m: CgroupMembership, controller: string): string | null {
    const mount = this.layout.v1.get(controller);
    const path = m.v1.get(controller);
    if (mount === undefined || path === undefined) return null;
    return ancestry(mount, path)[0]!;
  }

  /** The v2 directory of this membership, or null. */
  v2Dir(m: CgroupMembership): string | null {
    if (this.layout.v2 === null || m.v2 === null) return null;
    return ancestry(this.layout.v2, m.v2)[0]!;
  }

  version(m: CgroupMembership): 1 | 2 {
    return this.layout.v1.size > 0 && m.v1.size > 0 ? 1 : 2;
  }

  snapshot(m: CgroupMembership, parts: SnapshotParts = { memory: true, cpu: true, io: true }): CgroupSnapshot {
    return {
      version: this.version(m),
      memory: parts.memory ? this.memory(m, parts.swap ?? true) : null,
      cpu: parts.cpu ? this.cpu(m) : null,
      io: parts.io ? this.io(m) : null,
    };
  }

  private limit(path: string): number | undefined {
    if (this.ttl <= 0) return num(this.readText(path));
    const now = Date.now();
    const hit = this.cache.get(path);
    if (hit && now - hit.at < this.ttl) return hit.value;
    const value = num(this.readText(path));
    this.cache.set(path, { at: now, value });
    return value;
  }

  /** Smallest value of `file` from the cgroup up to the root; null when none is a limit. */
  private smallest(mount: string, path: string, file: string): number | null {
    const now = this.ttl > 0 ? Date.now() : 0;
    const key = `${mount}\0${path}\0${file}`;
    if (this.ttl > 0) {
      const hit = this.chainCache.get(key);
      if (hit && now - hit.at < this.ttl) return hit.value;
    }
    let best = Infinity;
    for (const dir of ancestry(mount, path)) {
      const v = num(this.readText(`${dir}/${file}`));
      if (v !== undefined && v >= 0 && v < best) best = v;
    }
    const value = best >= UNLIMITED ? null : best;
    if (this.ttl > 0) {
      this.chainCache.set(key, { at: now, value });
    }
    return value;
  }

  memory(m: CgroupMembership, swap = true): MemorySnapshot | null {
    if (this.memoryTtl <= 0) return this.readMemory(m, swap);
    const key = `${swap ? 's' : '-'}${m.v1.get('memory') ?? ''}\0${m.v2 ?? ''}`;
    const now = Date.now();
    const hit = this.memoryCache.get(key);
    if (hit && now - hit.at < this.memoryTtl && now >= hit.at) return hit.value;
    const value = this.readMemory(m, swap);
    this.memoryCache.set(key, { at: now, value });
    return value;
  }

  private readMemory(m: CgroupMembership, swap: boolean): MemorySnapshot | null {
    const v1mount = this.layout.v1.get('memory');
    const v1path = m.v1.get('memory');
    if (v1mount !== undefined && v1path !== undefined) {
      const dir = ancestry(v1mount, v1path)[0]!;
      const usage = num(this.readText(`${dir}/memory.usage_in_bytes`));
      if (usage === undefined) return null;
      const limitBytes = this.smallest(v1mount, v1path, 'memory.limit_in_bytes');
      const statText = this.readText(`${dir}/memory.stat`) ?? '';
      const s = pickKeyed(statText, V1_STAT_KEYS);
      const g = (k: string): number => s.get(`total_${k}`) ?? s.get(k) ?? 0;
      const stat: MemoryStat = {
        anon: g('rss'),
        file: g('cache'),
        shmem: g('shmem'),
        mapped: g('mapped_file'),
        activeAnon: g('active_anon'),
        inactiveAnon: g('inactive_anon'),
        activeFile: g('active_file'),
        inactiveFile: g('inactive_file'),
        unevictable: g('unevictable'),
        slabReclaimable: 0,
        slabUnreclaimable: 0,
      };
      // memsw files exist only with swap accounting; memsw = memory + swap.
      let swapLimitBytes: number | null = null;
      let swapUsageBytes = 0;
      const memswUsage = swap ? num(this.readText(`${dir}/memory.memsw.usage_in_bytes`)) : undefined;
      if (memswUsage !== undefined) {
        swapUsageBytes = Math.max(0, memswUsage - usage);
        const memsw = this.smallest(v1mount, v1path, 'memory.memsw.limit_in_bytes');
        if (memsw !== null) swapLimitBytes = Math.max(0, memsw - (limitBytes ?? memsw));
      }
      return { limitBytes, usageBytes: usage, swapLimitBytes, swapUsageBytes, stat };
    }
    // In a hybrid layout a controller missing from v1 is missing: the v2 tree holds no controllers.
    const dir = this.v2Dir(m);
    if (this.version(m) !== 2 || dir === null || this.layout.v2 === null || m.v2 === null) return null;
    const usage = num(this.readText(`${dir}/memory.current`));
    if (usage === undefined) return null;
    const s = pickKeyed(this.readText(`${dir}/memory.stat`) ?? '', V2_STAT_KEYS);
    const g = (k: string): number => s.get(k) ?? 0;
    const stat: MemoryStat = {
      ...emptyMemoryStat(),
      anon: g('anon'),
      file: g('file'),
      shmem: g('shmem'),
      mapped: g('file_mapped'),
      activeAnon: g('active_anon'),
      inactiveAnon: g('inactive_anon'),
      activeFile: g('active_file'),
      inactiveFile: g('inactive_file'),
      unevictable: g('unevictable'),
      slabReclaimable: g('slab_reclaimable'),
      slabUnreclaimable: g('slab_unreclaimable'),
    };
    const swapUsage = swap ? num(this.readText(`${dir}/memory.swap.current`)) : undefined;
    return {
      limitBytes: this.smallest(this.layout.v2, m.v2, 'memory.max'),
      usageBytes: usage,
      swapLimitBytes: swapUsage === undefined ? null : this.smallest(this.layout.v2, m.v2, 'memory.swap.max'),
      swapUsageBytes: swapUsage ?? 0,
      stat,
    };
  }

  /** Tightest quota/period ratio up the tree. */
  private quotaChain(dirs: string[], read: (dir: string) => { q: number; p: number } | null): CpuSnapshot['quota'] {
    let best: { quotaUs: number; periodUs: number } | null = null;
    for (const dir of dirs) {
      const r = read(dir);
      if (!r || !(r.q > 0) || !(r.p > 0) || !Number.isFinite(r.q)) continue;
      if (!best || r.q / r.p < best.quotaUs / best.periodUs) best = { quotaUs: r.q, periodUs: r.p };
    }
    return best;
  }

  cpu(m: CgroupMembership): CpuSnapshot | null {
    let quota: CpuSnapshot['quota'] = null;
    let cpuset: number[] | null = null;
    let usage: CpuSnapshot['usage'] = null;
    let any = false;

    const cpuMount = this.layout.v1.get('cpu');
    const cpuPath = m.v1.get('cpu');
    if (cpuMount !== undefined && cpuPath !== undefined) {
      any = true;
      quota = this.quotaChain(ancestry(cpuMount, cpuPath), (d) => {
        const q = this.limit(`${d}/cpu.cfs_quota_us`);
        const p = this.limit(`${d}/cpu.cfs_period_us`);
        return q === undefined || p === undefined ? null : { q, p };
      });
    }
    const setDir = this.v1Dir(m, 'cpuset');
    if (setDir !== null) {
      const t = this.readText(`${setDir}/cpuset.effective_cpus`) ?? this.readText(`${setDir}/cpuset.cpus`);
      if (t !== undefined) {
        cpuset = parseCpuList(t);
        any = true;
      }
    }
    const acct = this.v1Dir(m, 'cpuacct');
    if (acct !== null) {
      const total = num(this.readText(`${acct}/cpuacct.usage`));
      if (total !== undefined) {
        any = true;
        let user = num(this.readText(`${acct}/cpuacct.usage_user`));
        let sys = num(this.readText(`${acct}/cpuacct.usage_sys`));
        if (user === undefined || sys === undefined) {
          // Older kernels: cpuacct.stat in USER_HZ (100) ticks.
          const st = parseFlatKeyed(this.readText(`${acct}/cpuacct.stat`) ?? '');
          user = (st.get('user') ?? 0) * 1e7;
          sys = (st.get('system') ?? 0) * 1e7;
        }
        usage = { totalUs: total / 1000, userUs: user / 1000, systemUs: sys / 1000 };
      }
    }

    const v2 = this.v2Dir(m);
    if (this.version(m) === 2 && v2 !== null && this.layout.v2 !== null && m.v2 !== null) {
      {
        const dirs = ancestry(this.layout.v2, m.v2);
        if (existsSync(`${v2}/cpu.max`)) {
          any = true;
          quota = this.quotaChain(dirs, (d) => {
            const t = this.readText(`${d}/cpu.max`);
            if (t === undefined) return null;
            const [q, p] = t.trim().split(/\s+/);
            return { q: q === 'max' ? Infinity : Number(q), p: Number(p) };
          });
        }
      }
      if (cpuset === null) {
        const t = this.readText(`${v2}/cpuset.cpus.effective`);
        if (t !== undefined) {
          cpuset = parseCpuList(t);
          any = true;
        }
      }
      if (usage === null) {
        const t = this.readText(`${v2}/cpu.stat`);
        if (t !== undefined) {
          const st = parseFlatKeyed(t);
          any = true;
          usage = { totalUs: st.get('usage_usec') ?? 0, userUs: st.get('user_usec') ?? 0, systemUs: st.get('system_usec') ?? 0 };
        }
      }
    }
    return any ? { quota, cpuset, usage } : null;
  }

  io(m: CgroupMembership): IoSnapshot | null {
    const blk = this.v1Dir(m, 'blkio');
    if (blk !== null) {
      const ios = this.readText(`${blk}/blkio.throttle.io_serviced_recursive`) ?? this.readText(`${blk}/blkio.io_serviced_recursive`);
      const bytes = this.readText(`${blk}/blkio.throttle.io_service_bytes_recursive`) ?? this.readText(`${blk}/blkio.io_service_bytes_recursive`);
      if (ios === undefined && bytes === undefined) return null;
      const devices = new Map<string, IoDeviceStat>();
      const dev = (k: string): IoDeviceStat => {
        let d = devices.get(k);
        if (!d) devices.set(k, (d = { readIos: 0, writeIos: 0, readBytes: 0, writeBytes: 0 }));
        return d;
      };
      for (const [text, isBytes] of [[ios, false], [bytes, true]] as const) {
        for (const line of (text ?? '').split('\n')) {
          const [k, op, v] = line.trim().split(/\s+/);
          if (!k || !/^\d+:\d+$/.test(k) || v === undefined) continue;
          const n = Number(v);
          if (!Number.isFinite(n)) continue;
          if (op === 'Read') isBytes ? (dev(k).readBytes += n) : (dev(k).readIos += n);
          else if (op === 'Write') isBytes ? (dev(k).writeBytes += n) : (dev(k).writeIos += n);
        }
      }
      return { devices };
    }
    const v2 = this.v2Dir(m);
    if (this.version(m) !== 2 || v2 === null) return null;
    const t = this.readText(`${v2}/io.stat`);
    if (t === undefined) return null;
    const devices = new Map<string, IoDeviceStat>();
    for (const line of t.split('\n')) {
      const [k, ...kv] = line.trim().split(/\s+/);
      if (!k || !/^\d+:\d+$/.test(k)) continue;
      const f = new Map(kv.map((x) => x.split('=') as [string, string]));
      const g = (n: string): number => Number(f.get(n) ?? 0) || 0;
      devices.set(k, { readIos: g('rios'), writeIos: g('wios'), readBytes: g('rbytes'), writeBytes: g('wbytes') });
    }
    return { devices };
  }

  /** Thread ids in the cgroup and every cgroup below it (for the container's load average). */
  threads(m: CgroupMembership): number[] {
    let root: string | null = null;
    let file = 'tasks';
    for (const c of ['cpu', 'pids', 'memory', 'cpuacct']) {
      root = this.v1Dir(m, c);
      if (root !== null) break;
    }
    if (root === null && this.version(m) === 2) {
      root = this.v2Dir(m);
      file = 'cgroup.threads';
    }
    if (root === null) return [];
    const out: number[] = [];
    const walk = (dir: string, depth: number): void => {
      const t = this.readText(join(dir, file));
      if (t === undefined) return;
      for (const l of t.split('\n')) if (l) out.push(Number(l));
      if (depth > 32) return;
      let subs: string[] = [];
      try {
        subs = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
      } catch {
        return;
      }
      for (const s of subs) walk(join(dir, s), depth + 1);
    };
    walk(root, 0);
    return out;
  }

  /** When the container's cgroup directory appeared (its ctime), ms since the epoch; null if unknown. */
  createdAtMs(m: CgroupMembership): number | null {
    const dir = this.v1Dir(m, 'memory') ?? this.v1Dir(m, 'cpu') ?? this.v2Dir(m);
    if (dir === null) return null;
    try {
      return statSync(dir).ctimeMs;
    } catch {
      return null;
    }
  }
}
