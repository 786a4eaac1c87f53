// A seccomp listener on this thread's event loop that answers a few calls natively (addon/src/
// seccompwatch.cc: mknod of non-devices, sysinfo and sched_getaffinity(0) from figures JS gave it)
// and hands every other notification to JS, received and decoded.
import { native } from './native.js';
import { notificationOf, type SeccompNotification } from './seccomp.js';

const C = native.seccompWatchConstants as {
  ROUTE_MKNOD_MODE1: number;
  ROUTE_MKNOD_MODE2: number;
  ROUTE_SYSINFO64: number;
  ROUTE_AFFINITY64: number;
  NOTIFICATION: number;
  EVENTS: number;
  POLL_ERROR: number;
  RECV_FAILED: number;
  COUNTED: number;
  SYSINFO_FACTS: number;
};

/** What the addon can answer without JS. */
export const FastRoute = {
  /** mknod(path, mode, dev): CONTINUE unless a device other than the whiteout 0:0. */
  mknodMode1: C.ROUTE_MKNOD_MODE1,
  /** mknodat(dirfd, path, mode, dev): likewise. */
  mknodMode2: C.ROUTE_MKNOD_MODE2,
  /** sysinfo with 8-byte longs, from setSysinfo's figures while they hold. */
  sysinfo64: C.ROUTE_SYSINFO64,
  /** sched_getaffinity(0, len, ptr) with 8-byte longs, narrowed to setAffinity's CPUs while they hold. */
  affinity64: C.ROUTE_AFFINITY64,
} as const;

export interface Route {
  arch: number;
  nr: number;
  kind: number;
}

/** The container's sysinfo figures in bytes (undefined: the host's own), valid for Date.now() in [from, until). */
export interface SysinfoFacts {
  from: number;
  until: number;
  totalram?: number;
  freeram?: number;
  sharedram?: number;
  bufferram?: number;
  totalswap?: number;
  freeswap?: number;
  procs?: number;
  /** uptime counts from here (ms since the epoch), else from initStartSec after boot, else the host's */
  startedAtMs?: number;
  initStartSec?: number;
}

export interface FastCounts {
  /** per route (setRoutes' order): answered here, and found gone when answering */
  answered: number[];
  gone: number[];
  sendFailed: number;
  lastSendErrno: number;
  /** time spent answering here, ns */
  fastNs: number;
}

interface NativeSeccompWatcher {
  stop(): void;
  pause(): void;
  resume(): void;
  setRoutes(r: Int32Array): void;
  setSysinfo(f: Float64Array): void;
  setAffinity(mask: Buffer, count: number, from: number, until: number): void;
  takeCounts(): Float64Array;
  armCounted(): void;
  readonly active: boolean;
}
type Ctor = new (fd: number, words: BigUint64Array, cb: (kind: number, value: number) => void) => NativeSeccompWatcher;

/** One per thread: the addon writes a notification here just before calling back. */
const words = new BigUint64Array(12);
const facts = new Float64Array(C.SYSINFO_FACTS);

export interface SeccompWatcherEvents {
  /** a notification for JS; `events` the poll events of this turn (a hang-up may come with it) */
  notification(n: SeccompNotification, events: number): void;
  /** a turn with no notification for JS (answered natively, or none pending) */
  events(events: number): void;
  error(e: Error): void;
  /** answers were counted natively since armCounted() (once per arming, after that turn) */
  counted?(): void;
}

export class SeccompWatcher {
  private readonly w: NativeSeccompWatcher;
  private routes = 0;

  constructor(
    readonly fd: number,
    on: SeccompWatcherEvents,
  ) {
    this.w = new (native.SeccompWatcher as Ctor)(fd, words, (kind, value) => {
      if (kind === C.NOTIFICATION) on.notification(notificationOf(words), value);
      else if (kind === C.EVENTS) on.events(value);
      else if (kind === C.COUNTED) on.counted?.();
      else if (kind === C.POLL_ERROR) on.error(new Error(`seccomp listener fd ${fd}: poll failed (uv status ${value})`));
      else on.error(new Error(`seccomp listener fd ${fd}: ioctl(SECCOMP_IOCTL_NOTIF_RECV) failed: errno ${value}`));
    });
  }

  get active(): boolean {
    return this.w.active;
  }

  setRoutes(routes: readonly Route[]): void {
    this.w.setRoutes(Int32Array.from(routes.flatMap((r) => [r.arch | 0, r.nr | 0, r.kind])));
    this.routes = routes.length;
  }

  setSysinfo(f: SysinfoFacts): void {
    const v = [f.from, f.until, f.totalram, f.freeram, f.sharedram, f.bufferram, f.totalswap, f.freeswap, f.procs, f.startedAtMs, f.initStartSec];
    for (let i = 0; i < facts.length; i++) facts[i] = v[i] ?? NaN;
    this.w.setSysinfo(facts);
  }

  /** The CPUs sched_getaffinity shows (`cpus`), valid for Date.now() in [from, until). */
  setAffinity(cpus: readonly number[], from: number, until: number): void {
    const mask = Buffer.alloc(Math.min(1024, Math.ceil((Math.max(-1, ...cpus) + 1) / 8)));
    for (const c of cpus) if (c >= 0 && c < mask.length * 8) mask[c >> 3]! |= 1 << (c & 7);
    this.w.setAffinity(mask, cpus.length, from, until);
  }

  takeCounts(): FastCounts {
    const a = this.w.takeCounts();
    const k = this.routes;
    return { answered: [...a.subarray(0, k)], gone: [...a.subarray(k, 2 * k)], sendFailed: a[2 * k]!, lastSendErrno: a[2 * k + 1]!, fastNs: a[2 * k + 2]! };
  }

  /** Asks for one `counted` call back, after the next answer counted natively. */
  armCounted(): void {
    this.w.armCounted();
  }

  pause(): void {
    this.w.pause();
  }

  resume(): void {
    this.w.resume();
  }

  /** Stops watching and answering; the fd stays open (its owner closes it). */
  stop(): void {
    this.w.stop();
  }
}
