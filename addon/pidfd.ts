// pidfds: a handle on a process that cannot be confused by pid reuse; signals, fd copies, exit.
import { constants } from 'node:os';
import { FdWatcher, Readiness } from './fdwatch.js';
import { fn, isSyscallError } from './native.js';

export interface ExitInfo {
  pid: number;
  /** true: `status` is the exit code; false: `status` is the signal that ended it. */
  exited: boolean;
  status: number;
}

export const pidfdOpen = fn<(pid: number, flags?: number) => number>('pidfdOpen');
export const pidfdGetfd = fn<(pidfd: number, targetFd: number) => number>('pidfdGetfd');
const sendSignal = fn<(pidfd: number, signal: number) => void>('pidfdSendSignal');
/** Reaps through the pidfd (WNOHANG): null while running; throws ECHILD if not our child. */
export const pidfdWait = fn<(pidfd: number) => ExitInfo | null>('pidfdWait');

export function pidfdSendSignal(pidfd: number, signal: NodeJS.Signals | number): void {
  const n = typeof signal === 'number' ? signal : constants.signals[signal];
  if (n === undefined) throw new RangeError(`unknown signal ${String(signal)}`);
  sendSignal(pidfd, n);
}

/** Resolves when the process exits: with its status when it is our child (and reaps it), with
 * null when it is not (its status belongs to its parent). The pidfd stays open. */
export function waitForExit(pidfd: number): Promise<ExitInfo | null> {
  return new Promise((resolve, reject) => {
    // A pidfd turns readable once the process has exited (as a zombie when it is our child).
    const w = new FdWatcher(pidfd, Readiness.readable, () => {
      let r: ExitInfo | null;
      try {
        r = pidfdWait(pidfd);
        if (r === null) return; // not a zombie yet: poll fires again
      } catch (e) {
        w.stop();
        if (isSyscallError(e, 'ECHILD')) resolve(null);
        else reject(e as Error);
        return;
      }
      w.stop();
      resolve(r);
    });
  });
}
