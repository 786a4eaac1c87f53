// A vnode-manager run from the staged install tree for one test bed, with its own run and state
// dirs, its log in a file, and a clean stop (or a SIGKILL, for restart tests).
import { spawn, spawnSync } from 'node:child_process';
import { mountPointsUnder, readMountInfo } from '../../agent/common/mountinfo.js';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { checkHealth } from '../../agent/cli/health.js';
import { join } from 'node:path';
import { stopKeeper } from '../../agent/common/keeperProcess.js';
import { isAlive, processes, waitFor } from './hostState.js';
import { TREE_DIR } from './TestBed.js';

export class ManagerProcess {
  pid = 0;
  readonly log: string;

  constructor(
    readonly runDir: string,
    readonly stateDir: string,
    readonly extraEnv: Record<string, string> = {},
    /** The vnode-manager to run; default: the staged tree's (an installer test runs the installed one). */
    readonly binary = join(TREE_DIR, 'bin/vnode-manager'),
  ) {
    this.log = join(stateDir, '..', 'manager.log');
  }

  /** The environment containerd must pass on, so the launcher finds this manager. */
  get clientEnv(): Record<string, string> {
    return { VNODE_RUN_DIR: this.runDir };
  }

  /** Metrics on a free port (VNODE_METRICS_PORT=0) unless the caller names one: beds run beside a
   * local node that has 9713. `vnode status` tells where. */
  async start(): Promise<void> {
    mkdirSync(this.stateDir, { recursive: true });
    mkdirSync(this.runDir, { recursive: true });
    const fd = openSync(this.log, 'a');
    const p = spawn(this.binary, [], {
      env: { PATH: process.env.PATH, VNODE_RUN_DIR: this.runDir, VNODE_STATE_DIR: this.stateDir, VNODE_LOG_LEVEL: 'debug', VNODE_METRICS_PORT: '0', ...this.extraEnv },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    closeSync(fd);
    p.unref();
    this.pid = p.pid!;
    writeFileSync(this.pidFile, String(this.pid));
    const exited = new Promise<never>((_r, reject) => p.once('exit', (c) => reject(new Error(`vnode-manager exited with ${c}:\n${this.tail()}`))));
    exited.catch(() => undefined);
    // Answering, not only listening: the fd keeper holds the socket across managers, and a killed
    // manager without one leaves its socket file behind.
    await Promise.race([waitFor('vnode-manager to answer', async () => (await checkHealth(this.runDir, 2000)).ok, 20_000), exited]);
  }

  /** Where the pid is kept, so another process (npm run local -- down) can stop this manager. */
  get pidFile(): string {
    return join(this.stateDir, '..', 'manager.pid');
  }

  /**
   * Stops the manager. A SIGKILL (a restart test) leaves its fd keeper (bin/vnode-keeper, which
   * the manager started beside itself) for the next manager; any other stop is for good (as an
   * uninstall) and stops the keeper too, and unmounts what the manager leaves mounted for its
   * successor (vnodefs), unless keepFds.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', opts: { keepFds?: boolean } = {}): Promise<void> {
    if (!(opts.keepFds ?? signal === 'SIGKILL')) {
      try {
        await this.stopManager(signal);
      } finally {
        await retireManagerHost(this.runDir);
      }
      return;
    }
    await this.stopManager(signal);
  }

  private async stopManager(signal: NodeJS.Signals): Promise<void> {
    if (!this.pid && existsSync(this.pidFile)) {
      const pid = Number(readFileSync(this.pidFile, 'utf8'));
      // Only if it still is a vnode-manager (pids are reused).
      if (pid && processes().some((p) => p.pid === pid && p.cmdline.includes('agent/main.js'))) this.pid = pid;
    }
    const pid = this.pid;
    if (!pid || !isAlive(pid)) return;
    process.kill(pid, signal);
    try {
      await waitFor('vnode-manager exit', () => !isAlive(pid), 10_000);
    } catch {
      process.kill(pid, 'SIGKILL');
      await waitFor('vnode-manager exit after SIGKILL', () => !isAlive(pid), 5_000);
    }
    this.pid = 0;
  }

  tail(lines = 60): string {
    try {
      return readFileSync(this.log, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no manager log)';
    }
  }
}


/**
 * What an uninstall does after the manager stopped for good: the fd keeper it started beside
 * itself is stopped (closing the FUSE connection and listeners it kept for a next manager), and
 * what the manager left mounted under its run dir for that successor (vnodefs, log views) is
 * unmounted.
 */
export async function retireManagerHost(runDir: string): Promise<void> {
  await stopKeeper(runDir);
  for (const mp of mountPointsUnder(runDir, readMountInfo(), { strictlyBelow: true })) spawnSync('umount', ['-l', mp]);
}
