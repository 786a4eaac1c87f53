// seccomp user notification: receive a trapped syscall, check it is still pending, answer it
// (value, error or continue), install an fd in the caller. The policy lives in agent/seccomp.
import { FdWatcher, Readiness } from './fdwatch.js';
import { fn, isSyscallError, native as raw } from './native.js';

export interface SeccompNotification {
  id: bigint;
  /** The caller's pid in the listener owner's pid namespace (0 if not visible there). */
  pid: number;
  flags: number;
  nr: number;
  arch: number;
  instructionPointer: bigint;
  args: bigint[];
}

const native = {
  recv: fn<(fd: number, knownReady: boolean, out: BigUint64Array) => boolean>('seccompRecv'),
  send: fn<(fd: number, id: bigint, val: bigint | number, error: number, flags: number) => boolean>('seccompSend'),
  idValid: fn<(fd: number, id: bigint) => boolean>('seccompIdValid'),
  addFd: fn<(fd: number, id: bigint, srcFd: number, newFd: number, newFdFlags: number, flags: number) => number>('seccompAddFd'),
  setFlags: fn<(fd: number, flags: number) => void>('seccompSetFlags'),
  sizes: fn<() => { notif: number; resp: number; data: number; builtNotif: number; builtResp: number; builtData: number }>('seccompNotifSizes'),
};

export const SeccompConstants = raw.seccompConstants as {
  SECCOMP_USER_NOTIF_FLAG_CONTINUE: number;
  SECCOMP_ADDFD_FLAG_SETFD: number;
  SECCOMP_ADDFD_FLAG_SEND: number;
  SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: number;
};

/** The addon writes each received notification here (per thread: each worker loads this module). */
const words = new BigUint64Array(12);

/** The next pending notification, or null when none is pending (or its caller went away).
 * `knownReady`: the caller's own poll just reported the fd readable and nothing has received from
 * it since (saves a poll; RECV would block on an fd with nothing pending). */
export function recvNotification(fd: number, knownReady = false): SeccompNotification | null {
  if (!native.recv(fd, knownReady, words)) return null;
  return notificationOf(words);
}

/** The notification the addon wrote into `w` (id, pid, flags, nr, arch, ip, args[6]). */
export function notificationOf(w: BigUint64Array): SeccompNotification {
  return {
    id: w[0]!,
    pid: Number(w[1]!),
    flags: Number(w[2]!),
    nr: Number(w[3]!) | 0,
    arch: Number(w[4]!),
    instructionPointer: w[5]!,
    args: [w[6]!, w[7]!, w[8]!, w[9]!, w[10]!, w[11]!],
  };
}

/** Answers with a return value (error 0) or a positive errno. False: the caller is gone. */
export function respond(fd: number, id: bigint, answer: { val?: bigint | number; errno?: number }): boolean {
  const errno = answer.errno ?? 0;
  if (errno < 0) throw new RangeError(`seccomp respond: errno must be positive, got ${errno}`);
  return native.send(fd, id, answer.val ?? 0, -errno, 0);
}

/** Lets the kernel run the syscall as if it had not been trapped. False: the caller is gone. */
export function respondContinue(fd: number, id: bigint): boolean {
  return native.send(fd, id, 0, 0, SeccompConstants.SECCOMP_USER_NOTIF_FLAG_CONTINUE);
}

/** Whether the notification is still pending: check after reading the caller's memory, since the
 * pid may have been reused in between. */
export function notificationValid(fd: number, id: bigint): boolean {
  return native.idValid(fd, id);
}

export interface AddFdOptions {
  /** Install at this fd number in the caller (SETFD) instead of the lowest free one. */
  targetFd?: number;
  /** O_CLOEXEC on the new fd. */
  cloexec?: boolean;
  /** Also answer the notification with the new fd number, atomically (SEND). */
  send?: boolean;
}

/** Installs a copy of our `srcFd` in the trapped caller; returns its number there. */
export function addFd(fd: number, id: bigint, srcFd: number, opts: AddFdOptions = {}): number {
  let flags = 0;
  if (opts.targetFd !== undefined) flags |= SeccompConstants.SECCOMP_ADDFD_FLAG_SETFD;
  if (opts.send) flags |= SeccompConstants.SECCOMP_ADDFD_FLAG_SEND;
  const O_CLOEXEC = 0o2000000;
  return native.addFd(fd, id, srcFd, opts.targetFd ?? 0, opts.cloexec ? O_CLOEXEC : 0, flags);
}

/** Asks the kernel to wake the handler on the trapping CPU (kernel 6.6+), which roughly halves
 * the round trip. Returns false on kernels without it; the listener works either way. */
export function enableSyncWakeUp(fd: number): boolean {
  try {
    native.setFlags(fd, SeccompConstants.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
    return true;
  } catch (e) {
    if (isSyscallError(e, 'EINVAL')) return false;
    throw e;
  }
}

/** The kernel's notification struct sizes beside the ones this addon was built with. */
export function notifSizes(): ReturnType<typeof native.sizes> {
  return native.sizes();
}

/** Watches a listener fd and hands every notification to `onNotification`; `onClosed` runs once
 * when every filtered process is gone (the fd hangs up). The fd stays owned by the caller. */
export class SeccompListener {
  private readonly watcher: FdWatcher;
  private ended = false;

  constructor(
    readonly fd: number,
    private readonly onNotification: (n: SeccompNotification) => void,
    private readonly onClosed: () => void = () => undefined,
    private readonly onError: (e: Error) => void = () => undefined,
  ) {
    this.watcher = new FdWatcher(fd, Readiness.readable | Readiness.disconnect, (ev) => this.ready(ev), (s) => this.onError(new Error(`seccomp listener fd ${fd}: poll failed (uv status ${s})`)));
  }

  private ready(events: number): void {
    for (;;) {
      let n: SeccompNotification | null;
      try {
        n = recvNotification(this.fd);
      } catch (e) {
        this.onError(e as Error);
        return;
      }
      if (n === null) break;
      try {
        this.onNotification(n);
      } catch (e) {
        this.onError(e as Error);
      }
    }
    if (events & Readiness.disconnect && !this.ended) {
      this.ended = true;
      this.watcher.stop();
      this.onClosed();
    }
  }

  stop(): void {
    this.watcher.stop();
  }
}
