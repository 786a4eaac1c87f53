// A unix stream socket server that receives file descriptors (SCM_RIGHTS), which Node's net
// module drops. One connection carries one message: the peer sends bytes and fds and closes (the
// way runc hands over a seccomp listener with its state JSON). Received fds belong to the message
// handler, which must close them.
import { closeSync, chmodSync, unlinkSync } from 'node:fs';
import { FdWatcher, Readiness } from './fdwatch.js';
import { fn, isSyscallError } from './native.js';

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

export interface FdMessage {
  data: Buffer;
  fds: number[];
  /** Credentials of the sender at connect time (SO_PEERCRED). */
  peer: PeerCred;
}

interface Received {
  data: Buffer;
  fds: number[];
  truncated: boolean;
}

export const fdsocketListen = fn<(path: string, backlog: number) => number>('fdsocketListen');
export const fdsocketConnect = fn<(path: string, seqpacket?: boolean) => number>('fdsocketConnect');
/** poll(2) on one fd, blocking the calling thread up to timeoutMs: revents, 0 on timeout. */
export const fdsocketPoll = fn<(fd: number, events: number, timeoutMs: number) => number>('fdsocketPoll');
export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const fdsocketAccept = fn<(fd: number) => number | null>('fdsocketAccept');
export const fdsocketRecv = fn<(fd: number, maxBytes: number, maxFds: number) => Received | null>('fdsocketRecv');
export const fdsocketSend = fn<(fd: number, data: Buffer, fds: number[]) => number>('fdsocketSend');
export const fdsocketPeerCred = fn<(fd: number) => PeerCred>('fdsocketPeerCred');

export interface FdSocketServerOptions {
  /** File mode of the socket (default 0600: only root may hand us fds). */
  mode?: number;
  /** A message larger than this is refused and its fds closed (default 1 MiB). */
  maxBytes?: number;
  /** Per recvmsg call (default 16). */
  maxFds?: number;
  /**
   * When a message is complete before EOF (default: only at EOF). runc 1.1 keeps its connection to
   * a seccomp listener open until it exits, so its message is complete once its JSON parses.
   */
  complete?: (data: Buffer, fds: number) => boolean;
  /** A connection that has not delivered a message within this many ms fails (default: none). */
  timeoutMs?: number;
}

class Connection {
  private readonly chunks: Buffer[] = [];
  private readonly fds: number[] = [];
  private size = 0;
  private readonly watcher: FdWatcher;
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly fd: number,
    private readonly peer: PeerCred,
    private readonly opts: Options,
    private readonly done: (c: Connection, msg: FdMessage | Error) => void,
  ) {
    this.watcher = new FdWatcher(fd, Readiness.readable | Readiness.disconnect, () => this.drain(), (s) => this.fail(new Error(`fd socket poll failed (uv status ${s})`)));
    if (opts.timeoutMs) this.timer = setTimeout(() => this.fail(new Error(`fd socket: pid ${peer.pid} sent no complete message in ${opts.timeoutMs} ms`)), opts.timeoutMs);
  }

  private drain(): void {
    while (!this.closed) {
      let r: Received | null;
      try {
        r = fdsocketRecv(this.fd, 65536, this.opts.maxFds);
      } catch (e) {
        this.fail(e as Error);
        return;
      }
      if (r === null) return;
      this.fds.push(...r.fds);
      if (r.truncated) {
        this.fail(new Error(`fd socket: control data truncated (more than ${this.opts.maxFds} fds in one sendmsg)`));
        return;
      }
      const eof = r.data.length === 0 && r.fds.length === 0;
      this.size += r.data.length;
      if (this.size > this.opts.maxBytes) {
        this.fail(new Error(`fd socket: message from pid ${this.peer.pid} exceeds ${this.opts.maxBytes} bytes`));
        return;
      }
      if (r.data.length) this.chunks.push(r.data);
      const data = Buffer.concat(this.chunks);
      if (eof && this.opts.complete && !this.opts.complete(data, this.fds.length)) {
        this.fail(new Error(`fd socket: pid ${this.peer.pid} closed after ${data.length} bytes and ${this.fds.length} fds without a complete message`));
        return;
      }
      if (eof || this.opts.complete?.(data, this.fds.length)) {
        const msg: FdMessage = { data, fds: this.fds.splice(0), peer: this.peer };
        this.close();
        this.done(this, msg);
        return;
      }
    }
  }

  private fail(err: Error): void {
    for (const f of this.fds.splice(0)) closeQuietly(f);
    this.close();
    this.done(this, err);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.watcher.stop();
    for (const f of this.fds.splice(0)) closeQuietly(f);
    closeQuietly(this.fd);
  }
}

type Options = Required<Omit<FdSocketServerOptions, 'complete' | 'timeoutMs'>> & Pick<FdSocketServerOptions, 'complete' | 'timeoutMs'>;

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed: nothing to release
  }
}

export class FdSocketServer {
  private readonly conns = new Set<Connection>();
  private readonly watcher: FdWatcher;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly opts: Options,
    private readonly onMessage: (m: FdMessage) => void,
    private readonly onError: (e: Error) => void,
  ) {
    this.watcher = new FdWatcher(fd, Readiness.readable, () => this.acceptAll(), (s) => onError(new Error(`fd socket ${path}: poll failed (uv status ${s})`)));
  }

  /**
   * Listens on `path` (a stale socket file there is replaced), or serves `listenFd`, a socket an
   * earlier process bound there and listens on (a kept listener: it takes ownership of the fd).
   */
  static listen(path: string, onMessage: (m: FdMessage) => void, onError: (e: Error) => void, opts: FdSocketServerOptions = {}, listenFd?: number): FdSocketServer {
    const o: Options = { mode: 0o600, maxBytes: 1 << 20, maxFds: 16, ...opts };
    if (listenFd !== undefined) return new FdSocketServer(path, listenFd, o, onMessage, onError);
    try {
      unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const fd = fdsocketListen(path, 512);
    try {
      chmodSync(path, o.mode);
    } catch (e) {
      closeQuietly(fd);
      throw e;
    }
    return new FdSocketServer(path, fd, o, onMessage, onError);
  }

  private acceptAll(): void {
    for (;;) {
      let c: number | null;
      try {
        c = fdsocketAccept(this.fd);
      } catch (e) {
        // EMFILE and friends: report and keep serving; the peer retries or fails on its side.
        this.onError(e as Error);
        return;
      }
      if (c === null) return;
      let peer: PeerCred;
      try {
        peer = fdsocketPeerCred(c);
      } catch (e) {
        closeQuietly(c);
        this.onError(e as Error);
        continue;
      }
      const conn = new Connection(c, peer, this.opts, (cn, m) => {
        this.conns.delete(cn);
        if (m instanceof Error) {
          this.onError(m);
          return;
        }
        try {
          this.onMessage(m);
        } catch (e) {
          this.onError(e as Error);
        }
      });
      this.conns.add(conn);
    }
  }

  /** Number of connections still being read. */
  get pending(): number {
    return this.conns.size;
  }

  /** Stops serving; `keepPath`: the socket file stays (another process keeps listening on it). */
  close(opts: { keepPath?: boolean } = {}): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher.stop();
    for (const c of this.conns) c.close();
    this.conns.clear();
    closeQuietly(this.fd);
    if (opts.keepPath) return;
    try {
      unlinkSync(this.path);
    } catch {
      // gone already
    }
  }
}

/** Connects to `path`, sends `data` with `fds` in one sendmsg and closes (the peer side of
 * FdSocketServer; runc does the same in C). */
export function sendMessageWithFds(path: string, data: Buffer, fds: number[]): void {
  const fd = fdsocketConnect(path);
  try {
    let off = 0;
    let first = true;
    while (off < data.length || first) {
      try {
        off += fdsocketSend(fd, data.subarray(off), first ? fds : []);
        first = false;
      } catch (e) {
        if (isSyscallError(e, 'EAGAIN')) throw new Error(`sendMessageWithFds ${path}: peer is not reading (message of ${data.length} bytes)`);
        throw e;
      }
    }
  } finally {
    closeQuietly(fd);
  }
}
