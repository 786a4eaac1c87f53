// Kubernetes Events (core/v1, as kubelet writes them) with kubelet's EventCorrelator behaviour:
// - a spam filter: a token bucket per involved object and reason (burst, then one per refill
//   period); an event without a token is dropped, counted, never queued;
// - aggregation: a repeat of the same object, type, reason and message PATCHes the event already
//   written (count + 1, lastTimestamp) instead of creating another object; an event the API no
//   longer has (expired: 404) is written anew.
// Failures of the API are logged and counted, never thrown: an Event is a report, and nothing the
// installer does may wait on or fail with one.
import { CoreV1Api, PatchStrategy, setHeaderOptions, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../agent/common/log.js';

export interface InvolvedObject {
  kind: 'Node' | 'Pod';
  name: string;
  /** Pods: their namespace. A Node's events go to "default", as kubelet's do. */
  namespace?: string;
  uid?: string;
}

export interface EventInput {
  involved: InvolvedObject;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Where events go: the API (KubeEventSink) or a test's stand-in. */
export interface EventSink {
  create(namespace: string, event: CoreV1Event): Promise<CoreV1Event>;
  /** Strategic merge patch of an existing event. */
  patch(namespace: string, name: string, patch: object): Promise<CoreV1Event>;
}

export class KubeEventSink implements EventSink {
  private readonly core: CoreV1Api;
  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
  }
  create(namespace: string, body: CoreV1Event): Promise<CoreV1Event> {
    return this.core.createNamespacedEvent({ namespace, body });
  }
  patch(namespace: string, name: string, body: object): Promise<CoreV1Event> {
    return this.core.patchNamespacedEvent({ name, namespace, body }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
  }
}

export interface EventRecorderOptions {
  /** source.component and reportingController, e.g. "vnode-installer". */
  component: string;
  /** This node's name: source.host and reportingInstance. */
  host: string;
  /** Token bucket per object and reason: events allowed at once (kubelet: 25). */
  burst?: number;
  /** ... and one more per this many ms (kubelet: 5 minutes). */
  refillMs?: number;
  /** Aggregation entries kept (least recently used go first). */
  cacheSize?: number;
  now?: () => number;
  log?: Logger;
}

export type RecordOutcome = 'created' | 'aggregated' | 'dropped' | 'failed';

interface Bucket {
  tokens: number;
  at: number;
}

export class EventRecorder {
  private readonly buckets = new Map<string, Bucket>();
  private readonly written = new Map<string, { namespace: string; name: string; count: number }>();
  readonly counts: Record<RecordOutcome, number> = { created: 0, aggregated: 0, dropped: 0, failed: 0 };
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly cacheSize: number;
  private readonly now: () => number;
  private seq = 0;

  constructor(
    private readonly sink: EventSink,
    private readonly o: EventRecorderOptions,
  ) {
    this.burst = o.burst ?? 25;
    this.refillMs = o.refillMs ?? 300_000;
    this.cacheSize = o.cacheSize ?? 4096;
    this.now = o.now ?? Date.now;
  }

  /** Writes (or aggregates) one event; never throws. */
  async record(e: EventInput): Promise<RecordOutcome> {
    const outcome = await this.write(e).catch((err: unknown) => {
      this.o.log?.warn('cannot write Kubernetes event', { reason: e.reason, object: `${e.involved.kind}/${e.involved.name}`, error: describe(err) });
      return 'failed' as const;
    });
    this.counts[outcome]++;
    return outcome;
  }

  private namespaceOf(i: InvolvedObject): string {
    return i.kind === 'Node' ? 'default' : (i.namespace ?? 'default');
  }

  private takeToken(key: string): boolean {
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: t };
    const refilled = Math.floor((t - b.at) / this.refillMs);
    if (refilled > 0) {
      b.tokens = Math.min(this.burst, b.tokens + refilled);
      b.at += refilled * this.refillMs;
    }
    if (b.tokens >= this.burst) b.at = t; // full: the next refill counts from now
    this.buckets.delete(key);
    this.buckets.set(key, b);
    if (this.buckets.size > this.cacheSize) this.buckets.delete(this.buckets.keys().next().value!);
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }

  private async write(e: EventInput): Promise<RecordOutcome> {
    const i = e.involved;
    const objectKey = `${i.kind}/${i.namespace ?? ''}/${i.name}/${i.uid ?? ''}`;
    if (!this.takeToken(`${objectKey}/${e.reason}`)) return 'dropped';
    const namespace = this.namespaceOf(i);
    const at = new Date(this.now());
    const aggKey = `${objectKey}/${e.type}/${e.reason}/${e.message}`;
    const seen = this.written.get(aggKey);
    if (seen) {
      try {
        seen.count++;
        await this.sink.patch(seen.namespace, seen.name, { count: seen.count, lastTimestamp: at.toISOString() });
        this.written.delete(aggKey);
        this.written.set(aggKey, seen);
        return 'aggregated';
      } catch (err) {
        this.written.delete(aggKey);
        if (codeOf(err) !== 404) throw err;
        // expired on the server: written anew below
      }
    }
    // kubelet's naming: the object's name and a unique hex suffix.
    const name = `${i.name}.${(this.now() * 1000 + (this.seq++ % 1000)).toString(16)}`;
    const body: CoreV1Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: { kind: i.kind, apiVersion: 'v1', name: i.name, ...(i.kind === 'Pod' ? { namespace } : {}), ...(i.uid ? { uid: i.uid } : i.kind === 'Node' ? { uid: i.name } : {}) },
      type: e.type,
      reason: e.reason,
      message: e.message.slice(0, 1024),
      source: { component: this.o.component, host: this.o.host },
      reportingComponent: this.o.component,
      reportingInstance: this.o.host,
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
    };
    await this.sink.create(namespace, body);
    this.written.set(aggKey, { namespace, name, count: 1 });
    if (this.written.size > this.cacheSize) this.written.delete(this.written.keys().next().value!);
    return 'created';
  }
}

function codeOf(e: unknown): number | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'number' ? c : undefined;
}

function describe(e: unknown): string {
  const body = (e as { body?: unknown } | null)?.body;
  return typeof body === 'string' ? body.slice(0, 300) : (e as Error).message;
}
