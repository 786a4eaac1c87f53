// One stock containerd-shim-runc-v2 per pod, started and owned by the manager. It runs in a
// private directory (not containerd's bundle): the runc shim writes `address` into its cwd and
// removes the socket named there when it exits, which must never be the manager's own socket;
// the private dir also holds the `log` fifo the shim daemon writes, drained into our log.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, constants, existsSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { unixListen } from '../../addon/unixListen.js';
import type { Logger } from '../common/log.js';
import { TtrpcClient } from './ttrpc/TtrpcClient.js';
import { isLive } from './ttrpc/TtrpcServer.js';

export const NAMESPACE_METADATA_KEY = 'containerd-namespace-ttrpc';

export interface RuncShimStart {
  podId: string;
  /** The task id the shim is started for (the runc shim names itself after it). */
  firstTaskId: string;
  namespace: string;
  containerdAddress: string;
  ttrpcAddress: string;
  publishBinary: string;
  /** Private working directory of this pod's shim. */
  dir: string;
  /** The stock runc shim binary. */
  binary: string;
  /** Extra environment for the shim and the runc (vnode-runc) it runs. */
  env: Record<string, string>;
  /** The shim's TTRPC socket. */
  socketPath: string;
}

export class RuncShimError extends Error {
  override name = 'RuncShimError';
}

export class RuncShim extends EventEmitter<{ exit: [reason: string | undefined] }> {
  private logPipe: net.Socket | undefined;
  private closed = false;
  /** close() was ours (the manager stopping or a spare retired), not the daemon dying. */
  closedByUs = false;
  /** The daemon's pid (0 when re-adopted from an earlier manager and unknown). */
  pid = 0;

  private constructor(
    /** The pod this shim serves ("spare-N" until a warm spare is given to a pod). */
    public podId: string,
    readonly namespace: string,
    readonly address: string,
    public dir: string,
    readonly client: TtrpcClient,
    log: Logger,
  ) {
    super();
    log.debug('runc shim connected', { podId, address });
    client.once('close', (reason) => {
      this.closed = true;
      this.logPipe?.destroy();
      // A killed shim cannot remove its socket; a live one keeps listening and is left alone.
      const path = address.replace(/^unix:\/\//, '');
      if (existsSync(path)) void isLive(path).then((live) => live || rmSync(path, { force: true }));
      this.emit('exit', reason);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Starts the pod's runc shim daemon and connects to it. Like `containerd-shim-runc-v2 start`
   * does, but without that extra Go process: we bind the TTRPC socket and hand it over as fd 3.
   */
  static async start(s: RuncShimStart, log: Logger): Promise<RuncShim> {
    mkdirSync(s.dir, { recursive: true, mode: 0o711 });
    mkdirSync(dirname(s.socketPath), { recursive: true, mode: 0o700 });
    // The daemon removes the socket named in ./address when it exits.
    writeFileSync(join(s.dir, 'address'), `unix://${s.socketPath}`);
    const logPipe = openLogFifo(s.dir, log.child({ runcShim: s.podId }));
    rmSync(s.socketPath, { force: true });
    let child: ChildProcess;
    const fd = unixListen(s.socketPath);
    try {
      child = spawn(s.binary, ['-namespace', s.namespace, '-id', s.firstTaskId, '-address', s.containerdAddress], {
        cwd: s.dir,
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', TTRPC_ADDRESS: s.ttrpcAddress, GOMAXPROCS: '4', ...s.env },
        stdio: ['ignore', 'ignore', 'ignore', fd],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    child.unref();
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (e) => resolve(e));
    });
    if (spawned) {
      logPipe.destroy();
      rmSync(s.socketPath, { force: true });
      throw new RuncShimError(`cannot run ${s.binary}: ${spawned.message}`);
    }
    const address = `unix://${s.socketPath}`;
    let client: TtrpcClient;
    try {
      client = await TtrpcClient.connect(address, { connectTimeoutMs: 5000, metadata: { [NAMESPACE_METADATA_KEY]: s.namespace } });
    } catch (e) {
      child.kill('SIGKILL');
      logPipe.destroy();
      rmSync(s.socketPath, { force: true });
      throw new RuncShimError(`runc shim for pod ${s.podId} did not answer: ${(e as Error).message}`);
    }
    const shim = new RuncShim(s.podId, s.namespace, address, s.dir, client, log);
    shim.pid = child.pid ?? 0;
    shim.logPipe = logPipe;
    return shim;
  }

  /** Reconnects to a runc shim started by an earlier manager; undefined when it is gone. */
  static async reconnect(rec: { podId: string; namespace: string; address: string; dir: string }, log: Logger): Promise<RuncShim | undefined> {
    let client: TtrpcClient;
    try {
      client = await TtrpcClient.connect(rec.address, { connectTimeoutMs: 2000, metadata: { [NAMESPACE_METADATA_KEY]: rec.namespace } });
    } catch {
      return undefined;
    }
    const shim = new RuncShim(rec.podId, rec.namespace, rec.address, rec.dir, client, log);
    if (existsSync(join(rec.dir, 'log'))) shim.logPipe = openLogFifo(rec.dir, log.child({ runcShim: rec.podId }));
    return shim;
  }

  close(): void {
    this.closedByUs = true;
    this.client.close();
    this.logPipe?.destroy();
  }

  /** Gives a warm spare to a pod: its private dir is renamed (the daemon's cwd follows the inode). */
  assign(podId: string, dir: string): void {
    rmSync(dir, { recursive: true, force: true });
    renameSync(this.dir, dir);
    this.podId = podId;
    this.dir = dir;
  }

  /** Removes the private directory (after the shim has exited). */
  removeDir(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Creates (if needed) and drains the `log` fifo the runc shim daemon dup2s onto its stderr. */
function openLogFifo(dir: string, log: Logger): net.Socket {
  const path = join(dir, 'log');
  if (!existsSync(path)) {
    const r = spawnSyncMkfifo(path);
    if (r) throw new RuncShimError(`mkfifo ${path}: ${r}`);
  }
  // O_RDWR: opening never blocks and the pipe never sees EOF while we hold it.
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  const sock = new net.Socket({ fd, readable: true, writable: false });
  let buf = '';
  sock.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) log.debug('runc shim', { line });
    }
    if (buf.length > 65536) buf = '';
  });
  sock.on('error', () => undefined);
  return sock;
}

function spawnSyncMkfifo(path: string): string | undefined {
  const r = spawnSync('mkfifo', ['-m', '0600', path], { encoding: 'utf8' });
  return r.status === 0 ? undefined : (r.stderr || r.error?.message || `exit ${r.status}`);
}

