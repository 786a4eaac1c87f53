// The manager's end of the launcher socket (<runDir>/launch.sock): one call per connection,
// dispatched by entry name to a registered handler. A malformed or oversized request gets an
// exit-70 answer naming the problem and harms no other call.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../common/log.js';
import { decodeLaunchRequest, encodeLaunchAnswer, LaunchProtocolError, MAX_LAUNCH_MESSAGE, type LaunchAnswer, type LaunchRequest } from './launchProtocol.js';

/** How long a launcher may take to send its request. */
const REQUEST_TIMEOUT_MS = 30_000;

export type LaunchHandler = (req: LaunchRequest) => Promise<LaunchAnswer>;

export class LaunchServer {
  private readonly server: net.Server;
  private readonly handlers = new Map<string, LaunchHandler>();
  private readonly sockets = new Set<net.Socket>();
  private answered: ((entry: string) => void) | undefined;

  constructor(
    readonly path: string,
    private readonly log: Logger,
  ) {
    // allowHalfOpen: the launcher shuts its write side after the request; the answer still goes back.
    this.server = net.createServer({ allowHalfOpen: true }, (s) => this.serve(s));
  }

  /** Connections open now. */
  get connections(): number {
    return this.sockets.size;
  }

  handle(entry: string, h: LaunchHandler): void {
    this.handlers.set(entry, h);
  }

  /** Called with the entry after each answered request (the manager's idle collection counts pod work). */
  onAnswered(cb: (entry: string) => void): void {
    this.answered = cb;
  }

  private kept = false;

  /**
   * Listens on the path, or serves `fd`, a socket already listening there (the server owns the
   * fd). `kept`: the fd keeper holds that socket across manager restarts (launchers that connect
   * while no manager runs wait in its backlog), so its file stays when the server closes.
   */
  async listen(fd?: number, kept = false): Promise<void> {
    if (fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o711 });
      rmSync(this.path, { force: true });
    }
    this.kept = kept;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(fd === undefined ? this.path : { fd }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    // Only root may ask the manager to act (containerd, runc shims and CNI run as root).
    chmodSync(this.path, 0o600);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (!this.kept) rmSync(this.path, { force: true });
  }

  private serve(sock: net.Socket): void {
    const accepted = performance.now();
    this.sockets.add(sock);
    // A caller that connects and never finishes its request must not hold a socket forever.
    sock.setTimeout(REQUEST_TIMEOUT_MS, () => {
      this.log.warn('launch request timed out', { ms: REQUEST_TIMEOUT_MS });
      sock.destroy();
    });
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', (e) => this.log.debug('launch connection error', { error: e.message }));
    const chunks: Buffer[] = [];
    let size = 0;
    let want = -1;
    const onData = (d: Buffer): void => {
      chunks.push(d);
      size += d.length;
      if (want < 0 && size >= 4) {
        want = Buffer.concat(chunks).readUInt32LE(0);
        if (want > MAX_LAUNCH_MESSAGE) {
          sock.off('data', onData);
          this.answer(sock, { kind: 'exit', code: 70, stderr: `request of ${want} bytes exceeds ${MAX_LAUNCH_MESSAGE}\n` });
          return;
        }
      }
      if (want >= 0 && size >= want + 4) {
        sock.off('data', onData);
        sock.setTimeout(0); // the handler may take its time (vNode creation, CNI)
        void this.dispatch(sock, Buffer.concat(chunks).subarray(4, 4 + want), accepted);
      }
    };
    sock.on('data', onData);
  }

  private async dispatch(sock: net.Socket, body: Buffer, accepted: number): Promise<void> {
    const t0 = performance.now();
    let req: LaunchRequest;
    try {
      req = decodeLaunchRequest(body);
    } catch (e) {
      const msg = e instanceof LaunchProtocolError ? e.message : String(e);
      this.log.warn('malformed launch request', { reason: msg });
      this.answer(sock, { kind: 'exit', code: 70, stderr: `vnode-manager: malformed request: ${msg}\n` });
      return;
    }
    const h = this.handlers.get(req.entry);
    if (!h) {
      this.answer(sock, { kind: 'exit', code: 70, stderr: `vnode-manager: no handler for ${req.entry}\n` });
      return;
    }
    let ans: LaunchAnswer;
    try {
      ans = await h(req);
    } catch (e) {
      this.log.error('launch handler failed', { entry: req.entry, argv: req.argv, error: e instanceof Error ? e.stack : String(e) });
      ans = { kind: 'exit', code: 1, stderr: `${req.entry}: ${e instanceof Error ? e.message : String(e)}\n` };
    }
    this.answer(sock, ans);
    this.answered?.(req.entry);
    this.log.debug('launch request answered', { entry: req.entry, argv: req.argv.slice(1, 16).join(' ').slice(0, 240), kind: ans.kind, ms: +(performance.now() - t0).toFixed(1), readMs: +(t0 - accepted).toFixed(1) });
  }

  private answer(sock: net.Socket, a: LaunchAnswer): void {
    if (!sock.destroyed) sock.end(encodeLaunchAnswer(a));
  }
}
