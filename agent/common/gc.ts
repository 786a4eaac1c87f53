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
