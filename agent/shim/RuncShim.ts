// One stock containerd-shim-runc-v2 per pod, started and owned by the manager. It runs in a
// private directory (not containerd's bundle): the runc shim writes `address` into its cwd and
// removes the socket named there when it exits, which must never be the manager's own socket;
// the private dir also holds the `log` fifo the shim daemon writes, drained into our log.
import { spawn, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { constants, existsSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../common/log.js';
import { TtrpcClient } from './ttrpc/TtrpcClient.js';

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
}

export class RuncShimError extends Error {
  override name = 'RuncShimError';
}

export class RuncShim extends EventEmitter<{ exit: [reason: string | undefined] }> {
  private logPipe: net.Socket | undefined;
  private closed = false;

  private constructor(
    readonly podId: string,
    readonly namespace: string,
    readonly address: string,
    readonly dir: string,
    readonly client: TtrpcClient,
    log: Logger,
  ) {
    super();
    log.debug('runc shim connected', { podId, address });
    client.once('close', (reason) => {
      this.closed = true;
      this.logPipe?.destroy();
      this.emit('exit', reason);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Starts the pod's runc shim (`containerd-shim-runc-v2 ... start`) and connects to it. */
  static async start(s: RuncShimStart, log: Logger): Promise<RuncShim> {
    mkdirSync(s.dir, { recursive: true, mode: 0o711 });
    // The runc shim groups tasks by this annotation; its socket name derives from it.
    writeFileSync(join(s.dir, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', annotations: { 'io.containerd.runc.v2.group': s.podId } }));
    const logPipe = openLogFifo(s.dir, log.child({ runcShim: s.podId }));
    let address: string;
    try {
      address = await runStart(s);
    } catch (e) {
      logPipe.destroy();
      throw e;
    }
    const client = await TtrpcClient.connect(address, { connectTimeoutMs: 5000, metadata: { [NAMESPACE_METADATA_KEY]: s.namespace } });
    const shim = new RuncShim(s.podId, s.namespace, address, s.dir, client, log);
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
    this.client.close();
    this.logPipe?.destroy();
  }

  /** Removes the private directory (after the shim has exited). */
  removeDir(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function runStart(s: RuncShimStart): Promise<string> {
  return new Promise((resolve, reject) => {
    const args = ['-namespace', s.namespace, '-address', s.containerdAddress, '-publish-binary', s.publishBinary, '-id', s.firstTaskId, 'start'];
    const p = spawn(s.binary, args, {
      cwd: s.dir,
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', TTRPC_ADDRESS: s.ttrpcAddress, ...s.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new RuncShimError(`runc shim start for pod ${s.podId} timed out`));
    }, 15_000);
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(new RuncShimError(`cannot run ${s.binary}: ${e.message}`));
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      const address = out.trim();
      if (code !== 0 || !address) reject(new RuncShimError(`runc shim start for pod ${s.podId} failed (exit ${code}): ${(err || out).trim()}`));
      else resolve(address);
    });
    // No runtime options on stdin: the shim's own cgroup stays where it is started.
    p.stdin.end();
  });
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
