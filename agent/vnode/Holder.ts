// One vNode's holder process: pid 1 of its pid namespace and the owner of its user, mount, uts,
// ipc, net and cgroup namespaces. Spawned by the addon (clone + maps + release), identified
// across manager restarts by pid + start time + uid_map, watched through a pidfd.
import { closeSync, existsSync, readFileSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { FdWatcher, Readiness } from '../../addon/fdwatch.js';
import { NamespaceFlags as F, spawnHolder } from '../../addon/holder.js';
import { isSyscallError } from '../../addon/native.js';
import { pidfdOpen, pidfdSendSignal, pidfdWait, type ExitInfo } from '../../addon/pidfd.js';
import type { IdRange } from './IdAllocator.js';

export const HOLDER_NAMESPACES = F.CLONE_NEWUSER | F.CLONE_NEWPID | F.CLONE_NEWNS | F.CLONE_NEWUTS | F.CLONE_NEWIPC | F.CLONE_NEWNET | F.CLONE_NEWCGROUP;

/** The install tree (bin/vnode): Config.treeDir, $VNODE_TREE, or the tree this code runs from
 * (staged lib/app/agent/vnode -> tree; development dist/agent/vnode -> build/opt/vnode). */
export function locateTree(treeDir?: string): string {
  const candidates = [
    treeDir,
    process.env.VNODE_TREE,
    fileURLToPath(new URL('../../../../', import.meta.url)),
    fileURLToPath(new URL('../../../build/opt/vnode/', import.meta.url)),
  ];
  for (const c of candidates) if (c && existsSync(join(c, 'bin/vnode'))) return c.replace(/\/$/, '');
  throw new Error(`vnode install tree not found (looked for bin/vnode in ${candidates.filter(Boolean).join(', ')}); run node scripts/build.mjs`);
}

/** Start time of a process in clock ticks after boot (/proc/<pid>/stat field 22), or undefined
 * when there is no such process. */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parentheses: fields resume after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const v = Number(rest[22 - 3]);
  return Number.isSafeInteger(v) ? v : undefined;
}

/** The state letter of /proc/<pid>/stat (R, S, D, Z, ...), or undefined when gone. */
function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** The first line of a process's uid_map as [inside, outside, count]. */
function uidMapOf(pid: number): [number, number, number] | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).map(Number);
    return f.length === 3 ? (f as [number, number, number]) : undefined;
  } catch {
    return undefined;
  }
}

export interface HolderSpawnOptions {
  treeDir: string;
  hostname: string;
  rootDir: string;
  idRange: IdRange;
  timeoutMs: number;
}

export class Holder {
  private readonly watcher: FdWatcher;
  private exitInfo: ExitInfo | null | undefined;
  private readonly waiters: Array<(e: ExitInfo | null) => void> = [];
  private closed = false;

  private constructor(
    readonly pid: number,
    readonly startTime: number,
    private readonly pidfd: number,
    /** Spawned by this manager (we reap it) rather than adopted after a restart. */
    readonly isChild: boolean,
    private readonly onExit: (h: Holder, e: ExitInfo | null) => void,
  ) {
    this.watcher = new FdWatcher(pidfd, Readiness.readable, () => this.checkExit()).unref();
  }

  /** Starts a holder and resolves when it is ready. It stays uncommitted (it exits if our end of
   * its control socket closes) until commit(): call that once the record naming it is on disk. */
  static async spawn(o: HolderSpawnOptions, onExit: (h: Holder, e: ExitInfo | null) => void): Promise<{ holder: Holder; commit: () => void }> {
    const map = `0 ${o.idRange.uidStart} ${o.idRange.size}\n`;
    const gmap = `0 ${o.idRange.gidStart} ${o.idRange.size}\n`;
    const s = await spawnHolder({
      path: join(o.treeDir, 'bin/vnode'),
      argv: ['vnode-holder', '--hostname', o.hostname, '--root', o.rootDir, '--commit'],
      env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'],
      uidMap: map,
      gidMap: gmap,
      nsFlags: HOLDER_NAMESPACES,
      timeoutMs: o.timeoutMs,
    });
    const startTime = processStartTime(s.pid);
    const holder = new Holder(s.pid, startTime ?? 0, s.pidfd, true, onExit);
    let controlFd = s.controlFd;
    const commit = (): void => {
      if (controlFd < 0) return;
      try {
        writeSync(controlFd, 'C');
      } finally {
        closeSync(controlFd);
        controlFd = -1;
      }
    };
    if (startTime === undefined) {
      closeSync(controlFd);
      await holder.kill();
      throw new Error(`holder pid ${s.pid} vanished right after it reported ready`);
    }
    return { holder, commit };
  }

  /** Re-attaches to a holder recorded before a manager restart, if that exact process (pid,
   * start time, id map) is still alive; null otherwise. */
  static adopt(pid: number, startTime: number, idRange: IdRange, onExit: (h: Holder, e: ExitInfo | null) => void): Holder | null {
    if (processStartTime(pid) !== startTime) return null;
    let pidfd: number;
    try {
      pidfd = pidfdOpen(pid);
    } catch (e) {
      if (isSyscallError(e, 'ESRCH')) return null;
      throw e;
    }
    // Checked again after the pidfd pins the process: the pid cannot be reused from here on.
    const map = uidMapOf(pid);
    // A zombie (dead, its reaper not done yet) is as gone as a missing pid.
    const state = processState(pid);
    const dead = state === undefined || state === 'Z' || state === 'X';
    if (dead || processStartTime(pid) !== startTime || !map || map[0] !== 0 || map[1] !== idRange.uidStart || map[2] !== idRange.size) {
      closeSync(pidfd);
      return null;
    }
    return new Holder(pid, startTime, pidfd, false, onExit);
  }

  get alive(): boolean {
    return this.exitInfo === undefined && processStartTime(this.pid) === this.startTime;
  }

  private checkExit(): void {
    if (this.exitInfo !== undefined) return;
    let info: ExitInfo | null;
    try {
      info = pidfdWait(this.pidfd);
      if (info === null) return; // exited but not yet a zombie: poll fires again
    } catch (e) {
      if (!isSyscallError(e, 'ECHILD')) throw e;
      info = null; // not our child: its parent (init) reaps it
    }
    this.exitInfo = info;
    this.watcher.stop();
    for (const w of this.waiters.splice(0)) w(info);
    this.onExit(this, info);
  }

  /** Resolves once the holder is gone (with its status when it was our child). */
  exited(): Promise<ExitInfo | null> {
    if (this.exitInfo !== undefined) return Promise.resolve(this.exitInfo);
    this.watcher.ref(); // someone waits: keep the process alive until it is known
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** SIGKILL: the kernel then kills every process of the vNode's pid namespace. */
  async kill(): Promise<ExitInfo | null> {
    if (this.exitInfo === undefined) {
      try {
        pidfdSendSignal(this.pidfd, 'SIGKILL');
      } catch (e) {
        if (!isSyscallError(e, 'ESRCH')) throw e;
      }
    }
    const r = await this.exited();
    this.close();
    return r;
  }

  /** Lets go of the holder without killing it (manager shutdown: holders outlive the manager). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher.stop();
    closeSync(this.pidfd);
  }
}
