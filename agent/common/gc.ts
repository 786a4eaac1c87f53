// A full garbage collection of the calling thread's isolate, on request (the manager's
// `vnode-state --gc`): V8 collects a worker's old generation only when it reaches a limit set
// from its heap size, and threads that never return to their event loop (vnodefs' FUSE workers,
// blocked in read(2)) get no idle-time collection, so their heaps show garbage for a long time.
// A leak check compares memory after a collection. `--expose-gc` is set at run time, once: the
// `gc` function appears in a fresh context.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

/** Collects, and returns the heap still in use afterwards, in KiB (what the thread retains). */
export function collectGarbage(): number {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
  return Math.round(getHeapStatistics().used_heap_size / 1024);
}

/**
 * Full collections once a burst of work is over: `touch()` on each piece of work, and `collect`
 * runs when `idleMs` pass without another, and once more `idleMs` later if still quiet. The
 * manager's main thread promotes much of a pod start's short-lived garbage (its young generation
 * is kept small, 1 MiB semi-spaces) and V8 collects the old generation only when it reaches a
 * limit grown from its size, so after a burst of pod starts the thread would hold that garbage,
 * ~8 MiB for 100 pods, until some later burst. The first collection frees it; pages it left part
 * full are compacted and returned by the second (measured: heap 22.5 -> 17.6 MiB). Each takes a
 * few ms of the manager's ~14 MiB heap, twice per quiet period.
 */
export class IdleCollector {
  private timer: NodeJS.Timeout | undefined;
  private rounds = 0;

  constructor(
    private readonly collect: () => void,
    private readonly idleMs = 1000,
  ) {}

  touch(): void {
    this.rounds = 2;
    if (this.timer) {
      this.timer.refresh();
      return;
    }
    this.timer = setTimeout(() => this.quiet(), this.idleMs);
    this.timer.unref();
  }

  private quiet(): void {
    this.collect();
    if (--this.rounds > 0) this.timer!.refresh();
    else this.timer = undefined;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
