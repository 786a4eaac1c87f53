// The `vnode-state` launch entry: the sizes of the manager's in-memory tables (tasks, pods,
// tombstones, vNodes, seccomp listeners, vnodefs' shared table, ...) as one JSON line, so a test
// or an operator can see that nothing grows with pod churn (bench/churn.bench.ts reads it).
import type { LaunchHandler } from '../launch/LaunchServer.js';

export const STATE_ENTRY = 'vnode-state';

export type StateSizes = Record<string, Record<string, number | Record<string, number>>>;

export function stateLaunch(sizes: () => StateSizes): LaunchHandler {
  return async () => ({ kind: 'exit', code: 0, stdout: `${JSON.stringify({ pid: process.pid, tables: sizes() })}\n` });
}
