// The unix socket runc hands seccomp listeners to. runc 1.1 sends its state JSON and the fd in
// one sendmsg but never closes the connection (it is only closed when runc exits, which for a
// foreground `runc exec` is when the process ends), so a message is complete as soon as the
// bytes received parse as JSON, not at EOF. Received fds belong to the message handler.
import { chmodSync, unlinkSync } from 'node:fs';
import { FdWatcher, Readiness } from '../../addon/fdwatch.js';
import { fdsocketAccept, fdsocketListen, fdsocketPeerCred, fdsocketRecv, type PeerCred } from '../../addon/fdsocket.js';
import { rawCloseQuietly } from '../../addon/rawfd.js';

export interface ListenerMessage {
  data: Buffer;
  fds: number[];
  peer: PeerCred;
}

const MAX_BYTES = 64 * 1024;
const MAX_FDS = 8;

class Incoming {
  private readonly chunks: Buffer[] = [];
  private readonly fds: number[] = [];
  private size = 0;
  private readonly watcher: FdWatcher;
  private readonly timer: NodeJS.Timeout;
  private done = false;

  constructor(
    private readonly fd: number,
    private readonly peer: PeerCred,
    timeoutMs: number,
    private readonly finish: (c: Incoming, m: ListenerMessage | Error) => void,
  ) {
    this.watcher = new FdWatcher(fd, Readiness.readable | Readiness.disconnect, () => this.drain());
    this.timer = setTimeout(() => this.fail(new Error(`listener socket: pid ${peer.pid} sent no complete message in ${timeoutMs} ms`)), timeoutMs);
  }

  private drain(): void {
    while (!this.done) {
      let r: ReturnType<typeof fdsocketRecv>;
      try {
        r = fdsocketRecv(this.fd, MAX_BYTES, MAX_FDS);
      } catch (e) {
        this.fail(e as Error);
        return;
      }
      if (r === null) return;
      this.fds.push(...r.fds);
      if (r.truncated) return this.fail(new Error(`listener socket: more than ${MAX_FDS} fds from pid ${this.peer.pid}`));
      const eof = r.data.length === 0 && r.fds.length === 0;
      this.size += r.data.length;
      if (this.size > MAX_BYTES) return this.fail(new Error(`listener socket: message from pid ${this.peer.pid} exceeds ${MAX_BYTES} bytes`));
      if (r.data.length) this.chunks.push(r.data);
      const data = Buffer.concat(this.chunks);
      if (this.fds.length && complete(data)) return this.deliver(data);
      if (eof) return this.fail(new Error(`listener socket: pid ${this.peer.pid} closed after ${data.length} bytes and ${this.fds.length} fds without a complete message`));
    }
  }

  private deliver(data: Buffer): void {
    this.end();
    this.finish(this, { data, fds: this.fds.splice(0), peer: this.peer });
  }

  private fail(e: Error): void {
    this.end();
    for (const f of this.fds.splice(0)) rawCloseQuietly(f);
    this.finish(this, e);
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.watcher.stop();
    rawCloseQuietly(this.fd);
  }

  abort(): void {
    this.end();
    for (const f of this.fds.splice(0)) rawCloseQuietly(f);
  }
}

function complete(data: Buffer): boolean {
  try {
    JSON.parse(data.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

export class ListenerSocket {
  private readonly incoming = new Set<Incoming>();
  private readonly watcher: FdWatcher;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly onMessage: (m: ListenerMessage) => void,
    private readonly onError: (e: Error) => void,
    private readonly timeoutMs: number,
  ) {
    this.watcher = new FdWatcher(fd, Readiness.readable, () => this.acceptAll());
  }

  /** Listens on path (mode 0600: only root may hand us listeners). */
  static listen(path: string, onMessage: (m: ListenerMessage) => void, onError: (e: Error) => void, timeoutMs = 10_000): ListenerSocket {
    try {
      unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const fd = fdsocketListen(path, 512);
    try {
      chmodSync(path, 0o600);
    } catch (e) {
      rawCloseQuietly(fd);
      throw e;
    }
    return new ListenerSocket(path, fd, onMessage, onError, timeoutMs);
  }

  private acceptAll(): void {
    for (;;) {
      let c: number | null;
      try {
        c = fdsocketAccept(this.fd);
      } catch (e) {
        this.onError(e as Error);
        return;
      }
      if (c === null) return;
      let peer: PeerCred;
      try {
        peer = fdsocketPeerCred(c);
      } catch (e) {
        rawCloseQuietly(c);
        this.onError(e as Error);
        continue;
      }
      const inc = new Incoming(c, peer, this.timeoutMs, (x, m) => {
        this.incoming.delete(x);
        if (m instanceof Error) return this.onError(m);
        try {
          this.onMessage(m);
        } catch (e) {
          this.onError(e as Error);
        }
      });
      this.incoming.add(inc);
    }
  }

  get pending(): number {
    return this.incoming.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher.stop();
    for (const i of this.incoming) i.abort();
    this.incoming.clear();
    rawCloseQuietly(this.fd);
    try {
      unlinkSync(this.path);
    } catch {
      // gone already
    }
  }
}
