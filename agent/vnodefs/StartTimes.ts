// Pod start times in the shared table, key "start:<cgroup path>" (see ViewBuilder.startedAt).
// The manager sets one when a pod's sandbox is created and clears it when the pod is gone. Two
// safety nets keep a node that churns through pods from filling the table: a sweep (beside the
// load sampler on the main thread, every 30 s) drops entries whose cgroup no longer exists in any hierarchy,
// and a set that finds the table full sweeps at once and tries again. An entry younger than
// `graceMs` is never swept: the sandbox's cgroup is made by runc after its start is registered.
// When the table is still full the start is not stored (set returns false, the caller logs it):
// the pod starts all the same and its /proc/uptime counts from its cgroup's creation instead.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { CgroupLayout } from '../cgroup/CgroupReader.js';
import { SharedKvFullError, type SharedKv } from './SharedKv.js';
import { startKey } from './ViewBuilder.js';

export const START_SWEEP_GRACE_MS = 60_000;
export const START_SWEEP_INTERVAL_MS = 30_000;

/** Whether a cgroup path exists under any mounted hierarchy of the layout. */
export function cgroupExistsIn(layout: CgroupLayout): (cgroupPath: string) => boolean {
  const mounts = [...new Set([...layout.v1.values(), ...(layout.v2 !== null ? [layout.v2] : [])])];
  return (p) => mounts.some((m) => existsSync(join(m, p)));
}

export class StartTimes {
  constructor(
    private readonly kv: SharedKv,
    private readonly cgroupExists: (cgroupPath: string) => boolean,
    private readonly graceMs = START_SWEEP_GRACE_MS,
  ) {}

  /** Registers the pod's start; false when the table is full even after a sweep (not stored). */
  set(cgroupPath: string, startedAtMs: number, now = Date.now()): boolean {
    const key = startKey(cgroupPath);
    try {
      this.kv.set(key, String(startedAtMs));
      return true;
    } catch (e) {
      if (!(e instanceof SharedKvFullError)) throw e;
    }
    if (this.sweep(now) === 0) return false;
    try {
      this.kv.set(key, String(startedAtMs));
      return true;
    } catch (e) {
      if (e instanceof SharedKvFullError) return false;
      throw e;
    }
  }

  clear(cgroupPath: string): boolean {
    return this.kv.delete(startKey(cgroupPath));
  }

  get count(): number {
    return this.kv.entries('start:').length;
  }

  /** Drops the entries (older than the grace period) whose cgroup is gone; returns how many. */
  sweep(now = Date.now()): number {
    let n = 0;
    for (const [key, value] of this.kv.entries('start:')) {
      const at = Number(value);
      if (Number.isFinite(at) && now - at < this.graceMs) continue;
      if (this.cgroupExists(key.slice('start:'.length))) continue;
      if (this.kv.delete(key)) n++;
    }
    return n;
  }
}
