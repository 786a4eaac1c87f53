// A per-key CPU budget for one thread: the time it spent for each key (a vNode) within fixed
// windows. A key that used its share of the current window waits for the next one: the caller
// defers that key's work (FUSE requests, seccomp notifications) instead of doing it, so one
// flooding vNode costs the manager at most its budget and the other vNodes' work goes first.
export class CpuBudget {
  private readonly perWindowMs: number;
  private window = -1;
  private readonly used = new Map<number | string, number>();

  /** `cpuPerSecond`: this thread's share per key (e.g. 0.25 / threads); `windowMs`: the accounting window. */
  constructor(
    readonly cpuPerSecond: number,
    readonly windowMs = 50,
  ) {
    if (!(cpuPerSecond > 0) || !(windowMs > 0)) throw new RangeError(`CpuBudget: cpuPerSecond and windowMs must be > 0 (got ${cpuPerSecond}, ${windowMs})`);
    this.perWindowMs = cpuPerSecond * windowMs;
  }

  private roll(now: number): void {
    const w = Math.floor(now / this.windowMs);
    if (w !== this.window) {
      this.window = w;
      this.used.clear();
    }
  }

  /** Records `ms` spent for `key`. */
  charge(key: number | string, ms: number, now = performance.now()): void {
    this.roll(now);
    this.used.set(key, (this.used.get(key) ?? 0) + ms);
  }

  /** Whether `key` used up its share of the current window. */
  over(key: number | string, now = performance.now()): boolean {
    this.roll(now);
    return (this.used.get(key) ?? 0) >= this.perWindowMs;
  }

  /** Milliseconds until the next window starts (when every key's share is new). */
  untilNextWindow(now = performance.now()): number {
    return Math.max(0, (Math.floor(now / this.windowMs) + 1) * this.windowMs - now);
  }
}

/**
 * The budget key of a FUSE request or a caller: its vNode's id block, from the host uid the
 * kernel reports (vNode processes run as host uids in their vNode's exclusive block of `size`
 * ids from `poolStart`); 0 for the host's own uids, which are never throttled.
 */
export function vnodeBucket(uid: number, poolStart: number, size: number): number {
  return uid >= poolStart ? Math.floor((uid - poolStart) / size) + 1 : 0;
}
