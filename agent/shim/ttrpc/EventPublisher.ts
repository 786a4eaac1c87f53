// Publishes task events to containerd the way v2 shims do: TTRPC
// containerd.services.events.ttrpc.v1.Events/Forward on containerd's TTRPC address
// ($TTRPC_ADDRESS). Events go out one at a time in the order published (containerd requires
// Create -> Start -> Exit -> Delete); a failed forward is retried on a fresh connection with a
// growing pause, up to `maxAttempts`, before the event is dropped with a log line.
import { logger, type Logger } from '../../common/log.js';
import { TASK_EVENT_TOPICS, timestampFromDate, type Envelope, type TaskEvents } from '../../proto/taskApi.js';
import { eventsService, taskEventCodec } from './shimApi.js';
import { TtrpcClient } from './TtrpcClient.js';
import { ServiceClient } from './typedService.js';
import { Code, TtrpcError } from './TtrpcError.js';

export interface EventPublisherOptions {
  log?: Logger;
  /** Tries per event (Go's publisher requeues 5 times). */
  maxAttempts?: number;
  /** Per-call timeout. */
  timeoutMs?: number;
  /** Events waiting beyond this are dropped, oldest first (Go's queue holds 2048). */
  maxQueue?: number;
  /** First retry pause; doubles per attempt. */
  retryDelayMs?: number;
}

interface Item {
  envelope: Envelope;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class EventPublisher {
  private client: TtrpcClient | undefined;
  private connecting: Promise<TtrpcClient> | undefined;
  private readonly queue: Item[] = [];
  private running = false;
  private closed = false;
  private readonly log: Logger;
  private readonly maxAttempts: number;
  private readonly timeoutMs: number;
  private readonly maxQueue: number;
  private readonly retryDelayMs: number;

  constructor(
    /** containerd's TTRPC socket, e.g. /run/containerd/containerd.sock.ttrpc (unix:// accepted). */
    readonly address: string,
    opts: EventPublisherOptions = {},
  ) {
    this.log = opts.log ?? logger('event-publisher');
    this.maxAttempts = opts.maxAttempts ?? 5;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.maxQueue = opts.maxQueue ?? 2048;
    this.retryDelayMs = opts.retryDelayMs ?? 20;
  }

  /** Publishes one task event under its containerd topic. Resolves once containerd accepted it. */
  publish<K extends keyof typeof TASK_EVENT_TOPICS>(namespace: string, name: K, event: Partial<TaskEvents[K]>, at: Date = new Date()): Promise<void> {
    return this.forward({
      timestamp: timestampFromDate(at),
      namespace,
      topic: TASK_EVENT_TOPICS[name],
      event: taskEventCodec(name).toAny(event),
    });
  }

  /** Forwards a ready envelope (e.g. one relayed from a runc shim). */
  forward(envelope: Envelope): Promise<void> {
    if (this.closed) return Promise.reject(new Error('event publisher is closed'));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ envelope, resolve, reject });
      while (this.queue.length > this.maxQueue) {
        const dropped = this.queue.shift()!;
        this.log.error('event queue full, dropping the oldest event', { topic: dropped.envelope.topic });
        dropped.reject(new Error(`event ${dropped.envelope.topic} dropped: queue of ${this.maxQueue} full`));
      }
      void this.drain();
    });
  }

  close(): void {
    this.closed = true;
    this.client?.close();
    for (const it of this.queue.splice(0)) it.reject(new Error('event publisher closed'));
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length && !this.closed) {
        const it = this.queue[0]!;
        try {
          await this.send(it.envelope);
          it.resolve();
        } catch (e) {
          this.log.error('event not delivered', { topic: it.envelope.topic, namespace: it.envelope.namespace, error: (e as Error).message });
          it.reject(e as Error);
        }
        if (this.queue[0] === it) this.queue.shift();
      }
    } finally {
      this.running = false;
    }
  }

  private async send(envelope: Envelope): Promise<void> {
    let last: unknown;
    for (let attempt = 1; attempt <= this.maxAttempts && !this.closed; attempt++) {
      try {
        const c = await this.connection();
        await new ServiceClient(c, eventsService()).call('Forward', { envelope }, { timeoutMs: this.timeoutMs });
        return;
      } catch (e) {
        last = e;
        // A status from containerd (e.g. INVALID_ARGUMENT for a bad topic) will not change on retry.
        if (e instanceof TtrpcError && e.code !== Code.UNAVAILABLE && e.code !== Code.DEADLINE_EXCEEDED) throw e;
        await new Promise((r) => setTimeout(r, this.retryDelayMs * 2 ** (attempt - 1)));
      }
    }
    throw last instanceof Error ? last : new Error(String(last));
  }

  private async connection(): Promise<TtrpcClient> {
    if (this.client && !this.client.isClosed) return this.client;
    this.connecting ??= TtrpcClient.connect(this.address, { connectTimeoutMs: this.timeoutMs, log: this.log })
      .then((c) => {
        this.client = c;
        return c;
      })
      .finally(() => {
        this.connecting = undefined;
      });
    return this.connecting;
  }
}
