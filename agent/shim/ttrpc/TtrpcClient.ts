// A TTRPC client over one unix socket connection: unary calls on odd, increasing stream ids,
// many in flight at once. callRaw() moves payload bytes untouched (the proxy's pass-through);
// typedService.ts adds protobufjs-typed calls on top. There is no reconnect: like Go's client,
// a closed connection fails every pending and later call with UNAVAILABLE and emits 'close'.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { logger, type Logger } from '../../common/log.js';
import { FrameType, MAX_MESSAGE_LENGTH, type Frame, type FrameHeader } from './frame.js';
import { FrameConnection } from './FrameConnection.js';
import { Metadata, type KeyValue } from './Metadata.js';
import { Code, TtrpcError } from './TtrpcError.js';
import { decodeResponse, encodeRequest } from './wireMessages.js';

export interface CallOptions {
  /** Relative timeout; sent to the server as timeout_nano and enforced here. */
  timeoutMs?: number;
  /** Absolute deadline (Date.now() scale); the earlier of this and timeoutMs wins. */
  deadline?: number;
  metadata?: Metadata | Record<string, string | string[]>;
  /** Abandons the call (rejects with CANCELLED, or with the signal's TtrpcError reason). */
  signal?: AbortSignal;
}

export interface TtrpcClientOptions {
  log?: Logger;
  maxMessageLength?: number;
  /** Metadata sent with every call unless the call sets the same key (e.g. the namespace). */
  metadata?: Record<string, string>;
}

interface Pending {
  resolve: (payload: Buffer) => void;
  reject: (err: TtrpcError) => void;
  label: string;
}

const MAX_STREAM_ID = 0xffffffff;

export class TtrpcClient extends EventEmitter<{ close: [reason: string | undefined] }> {
  private readonly conn: FrameConnection;
  private readonly pending = new Map<number, Pending>();
  private readonly log: Logger;
  private readonly maxMessageLength: number;
  private readonly defaultMetadata: KeyValue[];
  private nextStreamId = 1;

  /** Wraps a connected socket. */
  constructor(socket: net.Socket, opts: TtrpcClientOptions = {}) {
    super();
    this.log = opts.log ?? logger('ttrpc-client');
    this.maxMessageLength = opts.maxMessageLength ?? MAX_MESSAGE_LENGTH;
    this.defaultMetadata = Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key: key.toLowerCase(), value }));
    this.conn = new FrameConnection(socket, this.maxMessageLength);
    this.conn.on('frame', (f) => this.onFrame(f));
    this.conn.on('oversize', (h) => this.onOversize(h));
    this.conn.once('close', (reason) => {
      const err = TtrpcError.closed(reason ?? 'connection closed');
      const calls = [...this.pending.values()];
      this.pending.clear();
      for (const p of calls) p.reject(err);
      if (reason) this.log.warn('ttrpc client connection closed for a fault', { reason });
      this.emit('close', reason);
    });
  }

  /** Dials a unix socket path; `unix://` prefixes (as shims print them) are accepted. */
  static connect(address: string, opts: TtrpcClientOptions & { connectTimeoutMs?: number } = {}): Promise<TtrpcClient> {
    const path = address.startsWith('unix://') ? address.slice('unix://'.length) : address;
    return new Promise((resolve, reject) => {
      const s = net.connect(path);
      const timer = opts.connectTimeoutMs
        ? setTimeout(() => {
            s.destroy();
            reject(new TtrpcError(Code.DEADLINE_EXCEEDED, `ttrpc: connecting to ${address} timed out after ${opts.connectTimeoutMs} ms`));
          }, opts.connectTimeoutMs)
        : undefined;
      s.once('connect', () => {
        if (timer) clearTimeout(timer);
        s.removeListener('error', onError);
        resolve(new TtrpcClient(s, opts));
      });
      const onError = (e: NodeJS.ErrnoException): void => {
        if (timer) clearTimeout(timer);
        reject(new TtrpcError(Code.UNAVAILABLE, `ttrpc: cannot connect to ${address}: ${e.message}`, [], { cause: e }));
      };
      s.once('error', onError);
    });
  }

  get isClosed(): boolean {
    return this.conn.isClosed;
  }

  /** Calls waiting for an answer. */
  get inflight(): number {
    return this.pending.size;
  }

  close(): void {
    this.conn.close();
  }

  /**
   * One unary call with an already encoded request; resolves with the response payload bytes.
   * Rejects with TtrpcError: the server's status, DEADLINE_EXCEEDED, CANCELLED, or UNAVAILABLE
   * when the connection is or gets closed.
   */
  callRaw(service: string, method: string, payload: Uint8Array, opts: CallOptions = {}): Promise<Buffer> {
    const label = `${service}/${method}`;
    if (this.conn.isClosed) return Promise.reject(TtrpcError.closed(this.conn.reason ?? 'connection closed'));
    if (opts.signal?.aborted) return Promise.reject(abortError(opts.signal, label));
    let timeoutMs = opts.timeoutMs;
    if (opts.deadline !== undefined) {
      const left = opts.deadline - Date.now();
      timeoutMs = timeoutMs === undefined ? left : Math.min(timeoutMs, left);
    }
    if (timeoutMs !== undefined && timeoutMs <= 0) {
      return Promise.reject(new TtrpcError(Code.DEADLINE_EXCEEDED, `ttrpc: ${label}: deadline already passed`));
    }
    const body = encodeRequest({
      service,
      method,
      payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.length),
      timeoutNano: timeoutMs === undefined ? 0 : Math.round(timeoutMs * 1e6),
      metadata: this.metadataFor(opts.metadata),
    });
    if (body.length > this.maxMessageLength) {
      return Promise.reject(new TtrpcError(Code.RESOURCE_EXHAUSTED, `ttrpc: ${label}: request of ${body.length} bytes exceeds ${this.maxMessageLength}`));
    }
    const streamId = this.nextStreamId;
    if (streamId > MAX_STREAM_ID) {
      // Ids must only grow (ttrpc 1.2 servers enforce it); a fresh connection starts again at 1.
      this.conn.close('stream ids exhausted');
      return Promise.reject(TtrpcError.closed('stream ids exhausted'));
    }
    this.nextStreamId += 2;

    return new Promise<Buffer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        this.pending.delete(streamId);
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        cleanup();
        reject(abortError(opts.signal!, label));
      };
      this.pending.set(streamId, {
        label,
        resolve: (p) => {
          cleanup();
          resolve(p);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
      });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          cleanup();
          reject(new TtrpcError(Code.DEADLINE_EXCEEDED, `ttrpc: ${label}: no answer within ${timeoutMs} ms`));
        }, Math.min(timeoutMs, 2 ** 31 - 1));
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.conn.send(streamId, FrameType.Request, body);
    });
  }

  private metadataFor(md: CallOptions['metadata']): KeyValue[] {
    if (!md) return this.defaultMetadata;
    const m = md instanceof Metadata ? md : new Metadata(md);
    const own = m.toKeyValues();
    if (this.defaultMetadata.length === 0) return own;
    return [...this.defaultMetadata.filter((kv) => m.getAll(kv.key).length === 0), ...own];
  }

  private onFrame(f: Frame): void {
    if (f.type !== FrameType.Response) {
      // Data frames belong to streaming calls, which this client never starts; a request frame
      // from a server is a protocol breach.
      if (f.type === FrameType.Request) this.conn.close(`protocol error: request frame on stream ${f.streamId} sent to a client`);
      else this.log.debug('ttrpc data frame ignored', { stream: f.streamId });
      return;
    }
    const p = this.pending.get(f.streamId);
    if (!p) {
      // A call that timed out or was cancelled: its late answer is dropped, as Go's client does.
      this.log.debug('ttrpc answer for no pending call', { stream: f.streamId });
      return;
    }
    let resp;
    try {
      resp = decodeResponse(f.payload);
    } catch (e) {
      p.reject(new TtrpcError(Code.INTERNAL, `ttrpc: ${p.label}: ${(e as Error).message}`));
      return;
    }
    if (resp.status && resp.status.code !== Code.OK) {
      p.reject(new TtrpcError(resp.status.code, resp.status.message, resp.status.details));
    } else {
      p.resolve(resp.payload);
    }
  }

  private onOversize(h: FrameHeader): void {
    const p = this.pending.get(h.streamId);
    const msg = `message length ${h.length} exceed maximum message size of ${this.maxMessageLength}`;
    if (p) p.reject(new TtrpcError(Code.RESOURCE_EXHAUSTED, `ttrpc: ${p.label}: ${msg}`));
    else this.log.warn('oversized ttrpc frame for no pending call', { stream: h.streamId, length: h.length });
  }
}

function abortError(signal: AbortSignal, label: string): TtrpcError {
  const r: unknown = signal.reason;
  if (r instanceof TtrpcError) return r;
  return new TtrpcError(Code.CANCELLED, `ttrpc: ${label}: cancelled${r instanceof Error ? `: ${r.message}` : ''}`);
}
