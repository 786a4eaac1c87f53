// Reads the host files renderers filter or pass through, with short per-thread caches: the
// passed-through lines are host-wide and change slowly, and CPU lists almost never.
import { join } from 'node:path';

import { parseCpuList } from '../cgroup/cpuList.js';
import { readText } from '../cgroup/readText.js';
import type { HostFacts } from './render/ViewInput.js';

type Key = keyof HostFacts;

const FILES: Record<Key, { path: (proc: string, sys: string) => string; ttlMs: number; list?: boolean }> = {
  meminfo: { path: (p) => join(p, 'meminfo'), ttlMs: 250 },
  cpuinfo: { path: (p) => join(p, 'cpuinfo'), ttlMs: 10_000 },
  stat: { path: (p) => join(p, 'stat'), ttlMs: 250 },
  diskstats: { path: (p) => join(p, 'diskstats'), ttlMs: 250 },
  loadavg: { path: (p) => join(p, 'loadavg'), ttlMs: 250 },
  onlineCpus: { path: (_p, s) => join(s, 'devices/system/cpu/online'), ttlMs: 10_000, list: true },
  possibleCpus: { path: (_p, s) => join(s, 'devices/system/cpu/possible'), ttlMs: 60_000, list: true },
  presentCpus: { path: (_p, s) => join(s, 'devices/system/cpu/present'), ttlMs: 60_000, list: true },
};

export class HostFactsReader {
  private readonly cache = new Map<Key, { at: number; value: string | number[] }>();

  constructor(
    private readonly procRoot = '/proc',
    private readonly sysRoot = '/sys',
  ) {}

  private one(k: Key, now: number): string | number[] {
    const hit = this.cache.get(k);
    const spec = FILES[k];
    if (hit && now - hit.at < spec.ttlMs) return hit.value;
    const text = readText(spec.path(this.procRoot, this.sysRoot)) ?? '';
    const value = spec.list ? parseCpuList(text || '0') : text;
    this.cache.set(k, { at: now, value });
    return value;
  }

  /** Host facts with the requested keys filled (others empty). */
  read(keys: readonly Key[], now = Date.now()): HostFacts {
    const f: HostFacts = { meminfo: '', cpuinfo: '', stat: '', diskstats: '', loadavg: '', onlineCpus: [], possibleCpus: [], presentCpus: [] };
    for (const k of keys) (f as unknown as Record<Key, string | number[]>)[k] = this.one(k, now);
    return f;
  }
}
