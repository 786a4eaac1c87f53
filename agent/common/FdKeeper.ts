// The fd keeper's client: file descriptors that must outlive the vnode-manager (a seccomp
// listener, a /dev/fuse connection) are handed to `vnode-keeper` (addon/launcher/keeper.c), a tiny
// process beside the manager that holds them by name; a new manager takes them back.
//
//   const keeper = ensureKeeper(cfg.runDir, join(TREE_BIN, 'vnode-keeper')); // starts one if none answers
//   keeper.put('fuse:/run/vnode/vnodefs', fd);   // the keeper holds its own copy; fd stays yours
//   keeper.drop('fuse:/run/vnode/vnodefs');      // true if it was kept
//   for (const { name, fd } of keeper.takeAll('fuse:')) ...   // copies, yours to close (rawClose);
//                                                              // the keeper keeps its entries
//   keeper.close();                              // the connection only; the keeper stays
//   await stopKeeper(cfg.runDir);                // for good (uninstall, `npm run local -- down`)
//
// Names are 1..4096 bytes of UTF-8 without NUL and carry their own metadata (JSON after a
// `kind:` prefix: `seccomp:`, `fuse:`); a put under an existing name replaces that entry. Every
// call is synchronous (a poll-bounded exchange with a local process that answers at once,
// microseconds; 2 s at most) and throws FdKeeperError when the keeper does not answer; the
// connection is remade once per call if the keeper was restarted. The keeper only holds fds:
// it never opens a path a client names, and only root may connect.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fdsocketConnect, fdsocketPoll, fdsocketRecv, fdsocketSend, POLLIN, POLLOUT } from '../../addon/fdsocket.js';
import { rawCloseQuietly } from '../../addon/rawfd.js';
import { KEEPER_SOCKET } from './keeperProcess.js';

export { KEEPER_BINARY_NAME, KEEPER_PIDFILE, KEEPER_SOCKET, runningKeeper, stopKeeper } from './keeperProcess.js';
const NAME_MAX = 4096;
const TIMEOUT_MS = 2000;

export class FdKeeperError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`fd keeper: ${message}`, options);
    this.name = 'FdKeeperError';
  }
}

export interface KeptFd {
  name: string;
  /** A copy of the kept fd (close-on-exec), owned by the caller. */
  fd: number;
}

export class FdKeeper {
  private fd = -1;

  private constructor(readonly socketPath: string) {}

  /** Connects to the keeper of runDir; throws FdKeeperError if none answers. */
  static connect(runDir: string): FdKeeper {
    const k = new FdKeeper(join(runDir, KEEPER_SOCKET));
    k.reconnect();
    k.request('L', '\u0001ping'); // a list of a prefix no name has: a ping
    return k;
  }

  private reconnect(): void {
    if (this.fd >= 0) rawCloseQuietly(this.fd);
    this.fd = -1;
    try {
      this.fd = fdsocketConnect(this.socketPath, true);
    } catch (e) {
      throw new FdKeeperError(`cannot connect to ${this.socketPath}: ${(e as Error).message}`, { cause: e });
    }
  }

  private send(data: Buffer, fds: number[]): void {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      try {
        fdsocketSend(this.fd, data, fds);
        return;
      } catch (e) {
        if ((e as { code?: string }).code !== 'EAGAIN') throw e;
      }
      if (!fdsocketPoll(this.fd, POLLOUT, Math.max(1, deadline - Date.now())) && Date.now() >= deadline) throw new FdKeeperError('the keeper is not reading');
    }
  }

  /** One answer packet (with the fd it carries, if any). */
  private recv(): { data: Buffer; fd?: number } {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const r = fdsocketRecv(this.fd, 1 + NAME_MAX + 1, 1);
      if (r) {
        if (r.data.length === 0) {
          for (const f of r.fds) rawCloseQuietly(f);
          throw new FdKeeperError('the keeper closed the connection');
        }
        if (r.fds.length > 1 || r.truncated) {
          for (const f of r.fds) rawCloseQuietly(f);
          throw new FdKeeperError('malformed answer');
        }
        return { data: r.data, fd: r.fds[0] };
      }
      const left = deadline - Date.now();
      if (left <= 0 || !fdsocketPoll(this.fd, POLLIN, left)) throw new FdKeeperError(`no answer within ${TIMEOUT_MS} ms`);
    }
  }

  /** Sends one request and reads its answers up to the final one; retried once on a new connection. */
  private request(op: string, name: string | false, fd?: number, onItem?: (k: KeptFd) => void): string {
    const body = name === false ? Buffer.from(op, 'latin1') : Buffer.concat([Buffer.from(op, 'latin1'), Buffer.from(name, 'utf8')]);
    for (let attempt = 0; ; attempt++) {
      let items = 0;
      try {
        if (this.fd < 0) this.reconnect();
        this.send(body, fd === undefined ? [] : [fd]);
        for (;;) {
          const a = this.recv();
          const tag = String.fromCharCode(a.data[0]!);
          if (tag === 'I') {
            const item = { name: a.data.subarray(1).toString('utf8'), fd: a.fd ?? -1 };
            if (item.fd < 0) throw new FdKeeperError(`entry ${item.name} came without its fd`);
            items++;
            if (onItem) onItem(item);
            else rawCloseQuietly(item.fd);
            continue;
          }
          if (a.fd !== undefined) rawCloseQuietly(a.fd);
          return a.data.toString('latin1');
        }
      } catch (e) {
        // A keeper restarted since we connected: one new connection. A LIST is not retried once
        // items arrived (the caller would see duplicates).
        if (attempt > 0 || items > 0) throw e instanceof FdKeeperError ? e : new FdKeeperError((e as Error).message, { cause: e });
        if (this.fd >= 0) rawCloseQuietly(this.fd);
        this.fd = -1;
      }
    }
  }

  private static checkName(name: string): void {
    const n = Buffer.byteLength(name, 'utf8');
    if (n === 0 || n > NAME_MAX || name.includes('\u0000')) throw new FdKeeperError(`name must be 1..${NAME_MAX} bytes without NUL (got ${n})`);
  }

  /** The keeper keeps its own copy of fd under name (replacing an entry of that name); fd stays the caller's. */
  put(name: string, fd: number): void {
    FdKeeper.checkName(name);
    const a = this.request('P', name, fd);
    if (a !== 'O') throw new FdKeeperError(`put ${name.slice(0, 80)}: ${a}`);
  }

  /** Closes the entry; true if there was one. */
  drop(name: string): boolean {
    FdKeeper.checkName(name);
    const a = this.request('D', name);
    if (a !== 'O1' && a !== 'O0') throw new FdKeeperError(`drop: ${a}`);
    return a === 'O1';
  }

  /** Copies of every entry whose name starts with prefix; the caller owns (and closes) the fds. */
  takeAll(prefix = ''): KeptFd[] {
    if (Buffer.byteLength(prefix) > NAME_MAX) throw new FdKeeperError('prefix too long');
    const out: KeptFd[] = [];
    try {
      const a = this.request('L', prefix, undefined, (k) => out.push(k));
      if (a !== 'Z') throw new FdKeeperError(`list: ${a}`);
    } catch (e) {
      for (const k of out) rawCloseQuietly(k.fd);
      throw e;
    }
    return out;
  }

  /** Asks the keeper to exit: refused ('busy') while it holds fds unless forced. */
  exit(force = false): boolean {
    const a = this.request(force ? 'F' : 'X', false);
    if (a === 'O') {
      this.close();
      return true;
    }
    return false;
  }

  /** Closes this connection; the keeper and what it holds stay. */
  close(): void {
    if (this.fd >= 0) rawCloseQuietly(this.fd);
    this.fd = -1;
  }
}

/**
 * The keeper of runDir, started first (detached, its own session; it outlives this process) if
 * none answers on runDir/keeper.sock. binary: the install tree's bin/vnode-keeper.
 */
export function ensureKeeper(runDir: string, binary: string): FdKeeper {
  try {
    return FdKeeper.connect(runDir);
  } catch {
    // none, or a dead one's socket: start one
  }
  const r = spawnSync(binary, ['--detach', runDir], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000, encoding: 'utf8' });
  // Exit 3: another keeper took the lock meanwhile (two managers racing); connect to it.
  if (r.status !== 0 && r.status !== 3) throw new FdKeeperError(`${binary} did not start (exit ${r.status ?? r.signal}): ${(r.stderr || r.error?.message || '').trim()}`);
  return FdKeeper.connect(runDir);
}
