// The manager's Prometheus metrics (prom-client): every family is read from the live objects at
// scrape time, so nothing on a hot path (a FUSE request, a trapped syscall) waits on metrics:
// vnodefs' workers count into shared memory (FuseMetrics), the seccomp workers hand their counts
// over in one message per scrape. Labels come from fixed sets (syscall names, outcomes, FUSE op
// classes, subsystems, table names) except `vnode`, which is bounded by the vNodes alive on the
// node (a torn-down vNode's series go with it).
import type { Metric, Registry } from 'prom-client';
import { requireCjs } from '../common/cjs.js';
import { errorCounts } from '../common/log.js';
import { FUSE_LATENCY_BUCKETS } from '../vnodefs/FuseMetrics.js';
import type { ManagerParts, Introspection } from '../manager/Introspection.js';

type Labels = Record<string, string>;
type Sample = { labels: Labels; value: number; metricName?: string };

/** A family whose samples are computed when scraped (prom-client's registry formats it). */
class SampledFamily {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly read: () => Promise<Sample[]> | Sample[],
  ) {}

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: await this.read() };
  }

  reset(): void {}
}

export interface MetricsSources extends Pick<ManagerParts, 'vnodes' | 'registry' | 'seccomp' | 'vnodefs' | 'version'> {
  introspection: Introspection;
  /** The manager's table sizes (the `vnode-state` entry's). */
  tables: () => Record<string, Record<string, number | Record<string, number>>>;
  /** How many times a manager started on this node's state before this one. */
  restarts: number;
}

/** Flattens {registry: {tasks: 3}, vnodefs: {entries: {start: 2}}} to [["registry.tasks", 3], ["vnodefs.entries.start", 2]]. */
export function flattenTables(t: Record<string, Record<string, number | Record<string, number>>>): [string, number][] {
  const out: [string, number][] = [];
  for (const [table, fields] of Object.entries(t))
    for (const [k, v] of Object.entries(fields)) {
      if (typeof v === 'number') out.push([`${table}.${k}`, v]);
      else for (const [k2, v2] of Object.entries(v)) out.push([`${table}.${k}.${k2}`, v2]);
    }
  return out;
}

/** How often the event loop lag histogram samples (prom-client's eventLoopMonitoringPrecision). */
export const EVENT_LOOP_SAMPLE_MS = 100;

export function managerMetrics(src: MetricsSources): Registry {
  const { collectDefaultMetrics, Registry: RegistryClass } = requireCjs('prom-client') as typeof import('prom-client');
  const reg = new RegistryClass();
  // process_cpu_seconds_total, process_resident_memory_bytes, nodejs_heap_*, event loop lag, ...
  // The lag histogram samples with a timer: prom-client's 10 ms woke an idle manager 100 times a
  // second (a third of its idle CPU); at 100 ms a stalled loop still shows in its max and
  // percentiles, from ~150 samples per 15 s scrape.
  collectDefaultMetrics({ register: reg, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const add = (name: string, help: string, type: 'counter' | 'gauge' | 'histogram', read: () => Promise<Sample[]> | Sample[]): void =>
    reg.registerMetric(new SampledFamily(name, help, type, read) as unknown as Metric);

  add('vnode_build_info', 'The running vnode-manager: 1, with its version', 'gauge', () => [{ labels: { version: src.version }, value: 1 }]);
  add('vnode_manager_restarts_total', 'vnode-manager starts on this node state before the running one', 'counter', () => [{ labels: {}, value: src.restarts }]);
  add('vnode_vnodes', 'vNodes on this node, by state', 'gauge', () => {
    const by = new Map<string, number>(['creating', 'ready', 'deleting', 'failed'].map((s) => [s, 0]));
    for (const v of src.vnodes.list()) by.set(v.state, (by.get(v.state) ?? 0) + 1);
    return [...by].map(([state, value]) => ({ labels: { state }, value }));
  });
  add('vnode_pods', 'Pods in vNodes', 'gauge', () => [{ labels: {}, value: src.vnodes.list().reduce((a, v) => a + v.pods.length, 0) }]);
  add('vnode_containers', 'vNode containers (sandboxes and containers) on this node, as vnode-runc created them', 'gauge', () => [{ labels: {}, value: src.registry.taskCount }]);
  add('vnode_seccomp_listeners', 'Seccomp listeners (one per vNode container process runc made) being served', 'gauge', () => [{ labels: {}, value: src.seccomp.connections().length }]);
  add('vnode_seccomp_syscalls_total', 'Intercepted syscalls by syscall, outcome and vNode', 'counter', async () => {
    const out: Sample[] = [];
    for (const [vnode, byName] of await src.seccomp.syscallTotals())
      for (const [syscall, byOutcome] of byName) for (const [outcome, value] of byOutcome) out.push({ labels: { syscall, outcome, vnode }, value });
    return out;
  });
  const fuse = () => src.vnodefs?.metrics.totals();
  add('vnode_vnodefs_requests_total', 'vnodefs FUSE requests by operation class and result (error: an errno answer)', 'counter', () =>
    Object.entries(fuse() ?? {}).flatMap(([op, f]) => [
      { labels: { op, result: 'ok' }, value: f.requests - f.errors },
      { labels: { op, result: 'error' }, value: f.errors },
    ]),
  );
  add('vnode_vnodefs_request_duration_seconds', 'vnodefs FUSE request time, from the request read to its reply written', 'histogram', () =>
    Object.entries(fuse() ?? {}).flatMap(([op, f]) => [
      ...FUSE_LATENCY_BUCKETS.map((le, i) => ({ metricName: 'vnode_vnodefs_request_duration_seconds_bucket', labels: { op, le: String(le) }, value: f.buckets[i]! })),
      { metricName: 'vnode_vnodefs_request_duration_seconds_bucket', labels: { op, le: '+Inf' }, value: f.requests },
      { metricName: 'vnode_vnodefs_request_duration_seconds_sum', labels: { op }, value: f.sumSeconds },
      { metricName: 'vnode_vnodefs_request_duration_seconds_count', labels: { op }, value: f.requests },
    ]),
  );
  add('vnode_vnodefs_faults_total', 'vnodefs requests that were malformed or failed inside vnodefs (answered EINVAL or EIO)', 'counter', () => {
    const s = src.vnodefs?.stats();
    return s ? [{ labels: { kind: 'malformed' }, value: s.malformed }, { labels: { kind: 'failed' }, value: s.failed }] : [];
  });
  add('vnode_errors_total', "Error lines the manager's main thread logged, by component", 'counter', () => [...errorCounts()].map(([component, value]) => ({ labels: { component }, value })));
  add('vnode_state_entries', "Entries in the manager's in-memory tables (what `vnode-state` prints)", 'gauge', () => flattenTables(src.tables()).map(([table, value]) => ({ labels: { table }, value })));
  add('vnode_subsystem_up', 'Subsystem health as the probes see it: 1 ok, 0 failed (subsystems switched off are left out)', 'gauge', async () =>
    (await src.introspection.health()).subsystems.filter((s) => s.status !== 'off').map((s) => ({ labels: { subsystem: s.name }, value: s.status === 'ok' ? 1 : 0 })),
  );
  return reg;
}
