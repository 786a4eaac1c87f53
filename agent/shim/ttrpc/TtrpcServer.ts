// A TTRPC server on unix sockets (what containerd dials for a shim). Services are registered by
// name with raw handlers (payload bytes in, bytes out: the proxy's pass-through path) or typed
// ones (typedService.ts builds those on top). Requests on one connection run concurrently.
//
// Fault policy, per connection and never beyond it:
// - undecodable Request, even stream id, oversized frame: an error status on that stream (as Go
//   ttrpc answers), the connection stays;
// - unknown frame type, a response frame sent to the server, a socket error: the connection is
//   closed with the reason logged.
import { EventEmitter } from 'node:events';
import { chmodSync, existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import { logger, type Logger } from '../../common/log.js';
import { FrameFlags, FrameType, MAX_MESSAGE_LENGTH, type Frame, type FrameHeader } from './frame.js';
import { FrameConnection } from './FrameConnection.js';
import { Metadata } from './Metadata.js';
import { Code, statusOf, TtrpcError } from './TtrpcError.js';
import { decodeRequest, encodeResponse, type WireRequest, type WireStatus } from './wireMessages.js';

/** What a handler learns about the call besides its payload. */
export interface CallContext {
  service: string;
  method: string;
  metadata: Metadata;
  /** Absolute deadline (ms since the epoch, as Date.now()) from the request's timeout_nano, if any. */
  deadline: number | undefined;
  /** Aborted when the deadline passes or the connection closes; pass it on to forwarded calls. */
  signal: AbortSignal;
  connection: ServerConnection;
  streamId: number;
}

export type RawHandler = (payload: Buffer, ctx: CallContext) => Promise<Uint8Array> | Uint8Array;
/** Catches the methods of a service that have no handler of their own (e.g. forward unchanged). */
export type RawFallback = (method: string, payload: Buffer, ctx: CallContext) => Promise<Uint8Array> | Uint8Array;

export interface ServiceRegistration {
  methods: Record<string, RawHandler>;
  fallback?: RawFallback;
}

export interface TtrpcServerOptions {
  log?: Logger;
  maxMessageLength?: number;
}

export interface TtrpcServerEvents {
  connection: [conn: ServerConnection];
  /** A connection ended; `reason` is set when it was closed for a fault. */
  connectionClose: [conn: ServerConnection, reason: string | undefined];
}

/** One accepted client connection (for containerd: one task). */
export class ServerConnection extends EventEmitter<{ close: [reason: string | undefined] }> {
  /** Free for the application, e.g. the task id this connection serves. */
  readonly data = new Map<string, unknown>();
  private readonly inflight = new Map<number, AbortController>();
  /** @internal Highest request stream id seen. */
  lastStreamId = 0;

  constructor(readonly frames: FrameConnection) {
    super();
  }

  get id(): number {
    return this.frames.id;
  }
  get isClosed(): boolean {
    return this.frames.isClosed;
  }
  /** Number of calls being handled now. */
  get activeCalls(): number {
    return this.inflight.size;
  }

  /** Closes this connection only (containerd then treats the task's shim as gone). */
  close(reason?: string): void {
    this.frames.close(reason);
  }

  /** @internal */
  track(streamId: number, ac: AbortController): void {
    this.inflight.set(streamId, ac);
  }
  /** @internal */
  untrack(streamId: number): void {
    this.inflight.delete(streamId);
  }
  /** @internal */
  isActive(streamId: number): boolean {
    return this.inflight.has(streamId);
  }
  /** @internal */
  abortAll(reason: string): void {
    for (const ac of this.inflight.values()) ac.abort(TtrpcError.closed(reason));
    this.inflight.clear();
  }
}

export class TtrpcServer extends EventEmitter<TtrpcServerEvents> {
  private readonly services = new Map<string, ServiceRegistration>();
  private readonly netServers = new Set<net.Server>();
  private readonly conns = new Set<ServerConnection>();
  private readonly log: Logger;
  private readonly maxMessageLength: number;
  private closing = false;

  constructor(opts: TtrpcServerOptions = {}) {
    super();
    this.log = opts.log ?? logger('ttrpc-server');
    this.maxMessageLength = opts.maxMessageLength ?? MAX_MESSAGE_LENGTH;
  }

  /** Registers a service by its full name, e.g. "containerd.task.v2.Task". */
  register(service: string, methods: Record<string, RawHandler>, fallback?: RawFallback): void {
    if (this.services.has(service)) throw new Error(`ttrpc service ${service} is already registered`);
    const reg: ServiceRegistration = { methods: { ...methods } };
    if (fallback) reg.fallback = fallback;
    this.services.set(service, reg);
  }

  get connections(): ReadonlySet<ServerConnection> {
    return this.conns;
  }

  /**
   * Listens on a unix socket path (mode 0600: only root may talk to a shim). A stale socket file
   * left by a dead process is replaced; a live one is an EADDRINUSE error.
   */
  async listen(path: string): Promise<net.Server> {
    if (existsSync(path) && !(await isLive(path))) rmSync(path, { force: true });
    const srv = net.createServer((s) => this.serve(s));
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen({ path, readableAll: false, writableAll: false }, () => {
        srv.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, 0o600);
    srv.on('error', (e) => this.log.error('ttrpc listener error', { path, error: e.message }));
    this.netServers.add(srv);
    return srv;
  }

  /** Serves an already connected socket (a socketpair end, or a connection handed over). */
  serve(socket: net.Socket): ServerConnection {
    const conn = new ServerConnection(new FrameConnection(socket, this.maxMessageLength));
    if (this.closing) {
      conn.close('server closing');
      return conn;
    }
    this.conns.add(conn);
    conn.frames.on('frame', (f) => this.onFrame(conn, f));
    conn.frames.on('oversize', (h) => this.onOversize(conn, h));
    conn.frames.once('close', (reason) => {
      this.conns.delete(conn);
      conn.abortAll(reason ?? 'connection closed');
      if (reason) this.log.warn('ttrpc connection closed for a fault', { conn: conn.id, reason });
      else this.log.debug('ttrpc connection closed', { conn: conn.id });
      conn.emit('close', reason);
      this.emit('connectionClose', conn, reason);
    });
    this.emit('connection', conn);
    return conn;
  }

  /**
   * Stops listening, waits up to `graceMs` for calls in flight to answer, then closes every
   * connection.
   */
  async close(graceMs = 0): Promise<void> {
    this.closing = true;
    // net.Server.close() calls back only once every connection has ended, so start it, end the
    // connections, then wait for it.
    const stopped = Promise.all([...this.netServers].map((l) => new Promise<void>((resolve) => l.close(() => resolve()))));
    this.netServers.clear();
    const until = Date.now() + graceMs;
    while (Date.now() < until && [...this.conns].some((c) => c.activeCalls > 0)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const c of [...this.conns]) c.close();
    await stopped;
  }

  private onOversize(conn: ServerConnection, h: FrameHeader): void {
    this.log.warn('ttrpc frame over the size limit', { conn: conn.id, stream: h.streamId, length: h.length });
    this.sendStatus(conn, h.streamId, {
      code: Code.RESOURCE_EXHAUSTED,
      message: `message length ${h.length} exceed maximum message size of ${this.maxMessageLength}`,
      details: [],
    });
  }

  private onFrame(conn: ServerConnection, f: Frame): void {
    if (f.type === FrameType.Response) {
      conn.close(`protocol error: response frame on stream ${f.streamId} sent to a server`);
      return;
    }
    if (f.type === FrameType.Data) {
      // Stream data belongs to streaming calls, which this server does not offer.
      this.log.debug('ttrpc data frame ignored', { conn: conn.id, stream: f.streamId });
      return;
    }
    let req: WireRequest;
    try {
      req = decodeRequest(f.payload);
    } catch (e) {
      this.log.warn('undecodable ttrpc request', { conn: conn.id, stream: f.streamId, reason: (e as Error).message });
      this.sendStatus(conn, f.streamId, { code: Code.INVALID_ARGUMENT, message: `unmarshal request error: ${(e as Error).message}`, details: [] });
      return;
    }
    if (f.streamId % 2 !== 1) {
      this.sendStatus(conn, f.streamId, { code: Code.INVALID_ARGUMENT, message: 'StreamID must be odd for client initiated streams', details: [] });
      return;
    }
    if (f.streamId <= conn.lastStreamId) {
      // ttrpc 1.2 rule: ids only grow, so a late answer can never be taken for a new call's.
      this.sendStatus(conn, f.streamId, { code: Code.INVALID_ARGUMENT, message: 'StreamID cannot be re-used and must increment', details: [] });
      return;
    }
    conn.lastStreamId = f.streamId;
    if (f.flags & FrameFlags.RemoteOpen) {
      this.sendStatus(conn, f.streamId, { code: Code.UNIMPLEMENTED, message: `streaming call ${req.service}/${req.method} is not supported`, details: [] });
      return;
    }
    void this.dispatch(conn, f.streamId, req);
  }

  private async dispatch(conn: ServerConnection, streamId: number, req: WireRequest): Promise<void> {
    const ac = new AbortController();
    conn.track(streamId, ac);
    let timer: NodeJS.Timeout | undefined;
    let deadline: number | undefined;
    if (req.timeoutNano > 0) {
      const ms = req.timeoutNano / 1e6;
      deadline = Date.now() + ms;
      timer = setTimeout(() => ac.abort(new TtrpcError(Code.DEADLINE_EXCEEDED, 'context deadline exceeded')), Math.min(ms, 2 ** 31 - 1));
    }
    const ctx: CallContext = {
      service: req.service,
      method: req.method,
      metadata: new Metadata(req.metadata),
      deadline,
      signal: ac.signal,
      connection: conn,
      streamId,
    };
    let status: WireStatus | undefined;
    let payload: Uint8Array = EMPTY;
    try {
      const handler = this.resolve(req.service, req.method);
      payload = await handler(req.payload, ctx);
      if (payload.length > this.maxMessageLength) {
        throw new TtrpcError(Code.RESOURCE_EXHAUSTED, `response of ${payload.length} bytes exceeds ${this.maxMessageLength}`);
      }
    } catch (e) {
      status = statusOf(e);
      payload = EMPTY;
      if (status.code === Code.UNKNOWN || status.code === Code.INTERNAL) {
        this.log.debug('ttrpc handler failed', { conn: conn.id, call: `${req.service}/${req.method}`, error: status.message });
      }
    } finally {
      if (timer) clearTimeout(timer);
    }
    // A closed connection has no one to answer; abortAll already dropped the call.
    if (!conn.isActive(streamId)) return;
    conn.untrack(streamId);
    this.sendResponse(conn, streamId, status, payload);
  }

  private resolve(service: string, method: string): (payload: Buffer, ctx: CallContext) => Promise<Uint8Array> | Uint8Array {
    const reg = this.services.get(service);
    if (!reg) throw new TtrpcError(Code.UNIMPLEMENTED, `service ${service}`);
    const h = Object.hasOwn(reg.methods, method) ? reg.methods[method] : undefined;
    if (h) return h;
    const fb = reg.fallback;
    if (fb) return (p, ctx) => fb(method, p, ctx);
    throw new TtrpcError(Code.UNIMPLEMENTED, `method ${method}`);
  }

  private sendStatus(conn: ServerConnection, streamId: number, status: WireStatus): void {
    this.sendResponse(conn, streamId, status, EMPTY);
  }

  private sendResponse(conn: ServerConnection, streamId: number, status: WireStatus | undefined, payload: Uint8Array): void {
    const body = encodeResponse(status ? { status, payload: EMPTY } : { payload: asBuffer(payload) });
    conn.frames.send(streamId, FrameType.Response, body);
  }
}

const EMPTY = Buffer.alloc(0);

const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length));

/** Whether something accepts connections on `path`. */
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
