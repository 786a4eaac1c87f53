// Per-vNode /proc/sys values in the shared table: key "sysctl:<vnodeId>:<name>". A vNode that
// never wrote an entry reads the host's current value (or the entry's fallback when the host
// has no such file); nothing is ever written to the host's /proc/sys.
import { join } from 'node:path';

import { readText } from '../cgroup/readText.js';
import type { SharedKv } from './SharedKv.js';
import type { SysctlEntry } from './sysctl/sysctlEntries.js';

export class SysctlStore {
  private readonly hostCache = new Map<string, { at: number; value: string }>();

  constructor(
    private readonly kv: SharedKv,
    private readonly procRoot = '/proc',
  ) {}

  static key(vnodeId: string, name: string): string {
    return `sysctl:${vnodeId}:${name}`;
  }

  private hostValue(e: SysctlEntry, now: number): string {
    const hit = this.hostCache.get(e.name);
    if (hit && now - hit.at < 10_000) return hit.value;
    const t = readText(join(this.procRoot, 'sys', ...e.name.split('.')));
    const value = t === undefined ? e.fallback : t.trim();
    this.hostCache.set(e.name, { at: now, value });
    return value;
  }

  read(vnodeId: string, e: SysctlEntry, now = Date.now()): string {
    return this.kv.get(SysctlStore.key(vnodeId, e.name)) ?? this.hostValue(e, now);
  }

  /** Validates (throws SysctlValueError) and stores; returns the stored value. */
  write(vnodeId: string, e: SysctlEntry, text: string): string {
    const v = e.parse(text);
    this.kv.set(SysctlStore.key(vnodeId, e.name), v);
    return v;
  }

  /** Every value a vNode has written. */
  written(vnodeId: string): Record<string, string> {
    const prefix = `sysctl:${vnodeId}:`;
    return Object.fromEntries(this.kv.entries(prefix).map(([k, v]) => [k.slice(prefix.length), v]));
  }

  /** Every vNode's written values, by vNode: what a restarted manager must put back. */
  snapshot(): Record<string, Record<string, string>> {
    const out: Record<string, Record<string, string>> = {};
    for (const [k, v] of this.kv.entries('sysctl:')) {
      const rest = k.slice('sysctl:'.length);
      const at = rest.lastIndexOf(':');
      if (at <= 0) continue;
      (out[rest.slice(0, at)] ??= {})[rest.slice(at + 1)] = v;
    }
    return out;
  }

  /** Puts a snapshot's values back, for the vNodes `keep` accepts; returns how many. */
  restore(snap: Record<string, Record<string, string>>, keep: (vnodeId: string) => boolean): number {
    let n = 0;
    for (const [vnodeId, values] of Object.entries(snap)) {
      if (!keep(vnodeId)) continue;
      for (const [name, v] of Object.entries(values)) {
        if (typeof v !== 'string' || name.includes(':')) continue;
        this.kv.set(SysctlStore.key(vnodeId, name), v);
        n++;
      }
    }
    return n;
  }

  drop(vnodeId: string): number {
    return this.kv.deletePrefix(`sysctl:${vnodeId}:`);
  }
}
