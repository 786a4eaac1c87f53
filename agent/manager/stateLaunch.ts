// The `vnode-state` launch entry: the sizes of the manager's in-memory tables (tasks, pods,
// tombstones, vNodes, seccomp listeners, vnodefs' shared table, ...) and the main thread's
// memory (process.memoryUsage) as one JSON line, so a test
// or an operator can see that nothing grows with pod churn (bench/churn.bench.ts reads it).
import { collectGarbage } from '../common/gc.js';
import type { LaunchHandler } from '../launch/LaunchServer.js';

export const STATE_ENTRY = 'vnode-state';

export type StateSizes = Record<string, Record<string, number | Record<string, number>>>;

/**
 * `vnode-state` prints the sizes; `vnode-state --gc` first has every thread collect its garbage
 * (gcAll: the main thread at once, workers at their next turn), so that memory figures taken a
 * moment later show what is retained, not what V8 has yet to collect.
 */
export function stateLaunch(sizes: () => StateSizes, gcAll: () => void = collectGarbage, heapAfterGc: () => Record<string, number> = () => ({})): LaunchHandler {
  return async (req) => {
    if (req.argv.includes('--gc')) gcAll();
    const kb = (n: number): number => Math.round(n / 1024);
    const m = process.memoryUsage();
    const memory = { rssKb: kb(m.rss), heapUsedKb: kb(m.heapUsed), heapTotalKb: kb(m.heapTotal), externalKb: kb(m.external), arrayBuffersKb: kb(m.arrayBuffers) };
    return { kind: 'exit', code: 0, stdout: `${JSON.stringify({ pid: process.pid, memory, heapAfterGcKb: heapAfterGc(), tables: sizes() })}\n` };
  };
}
