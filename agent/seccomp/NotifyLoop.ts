// The notification loop of one worker thread: one listener fd per container process tree (runc
// hands one over on create and one on every exec), each watched on this thread's event loop.
//
// Fairness: a ready listener is served one notification per turn, then the loop moves on (uv_poll
// is level-triggered, so the rest waits for the next turn): a flood from one container delays
// another by at most one cheap answer per listener. Handlers that need a namespace helper go
// through the FairScheduler, which takes turns between vNodes.
//
// Native answers: the addon's watcher (addon/src/seccompwatch.cc) answers mknod of non-devices
// (CONTINUE), sysinfo and sched_getaffinity(0) itself, the last two from the figures this loop
// handed it after its own handler last answered them on that listener, for as long as those
// figures are cached here anyway (5 ms for memory, 1 s for tasks and CPUs). Every other call,
// and every case of those that is not the plain success, comes here as before. Their counts and
// CPU time are taken from the watcher when counts are drained and, while listeners answer
// natively, every budget window: the window's timer stops once a window saw no native answer,
// and the watchers then say when the next one is counted (armCounted), so an idle worker sleeps.
//
// Safety: every handler reads the caller's memory, then checks ID_VALID, then acts; the
// namespace helper checks ID_VALID again once it has opened the caller's fds. A listener that
// hangs up (every filtered process gone) is released once its in-flight answers have settled.
import { statSync } from 'node:fs';
import { rawCloseQuietly } from '../../addon/rawfd.js';
import { Readiness } from '../../addon/fdwatch.js';
import { isSyscallError } from '../../addon/native.js';
import { nsAction, type NsActionRequest, type NsActionResult } from '../../addon/nsaction.js';
import { enableSyncWakeUp, notificationValid, respond, respondContinue, type SeccompNotification } from '../../addon/seccomp.js';
import { FastRoute, SeccompWatcher, type Route } from '../../addon/seccompwatch.js';
import { logger, type Logger } from '../common/log.js';
import { mountOverlays } from '../vnodefs/VnodeFs.js';
import { callerStatus, mountNamespaceOf } from './CallerProc.js';
import { ContainerFacts, FactsSources } from './ContainerFacts.js';
import { CpuBudget } from '../common/CpuBudget.js';
import { FairScheduler } from './FairScheduler.js';
import { handlers } from './handlers/registry.js';
import { CallerGone, type Answer, type CallerStatus, type Emulation, type HandlerEnv, type TrappedCall } from './handlers/types.js';
import type { SeccompTarget } from './SeccompTarget.js';
import { Errno, SyscallFault } from './SyscallFault.js';
import { numbersOf, syscallOf } from './syscallTable.js';
import { TargetMemory } from './TargetMemory.js';

export interface LoopOptions {
  /** Let the addon answer the calls of FAST_ROUTES itself (default true; false: every call comes to JS). */
  nativeAnswers?: boolean;
  /** Namespace helpers running at once in this worker (default 2). */
  helperConcurrency?: number;
  cgroupRoot?: string;
  /** This worker's CPU share per vNode (CpuBudget); a vNode over it is not read from until the next window. */
  budget?: { cpuPerSecond: number; windowMs: number };
}

export interface LoopStats {
  connections: number;
  received: number;
  answered: number;
  continued: number;
  failed: number;
  gone: number;
  internalErrors: number;
  /** of the answered and continued: answered by the addon itself (FAST_ROUTES) */
  native: number;
  /** budget windows in which native answers were collected (the window timer's turns: none while
   * no listener answers natively) */
  windows: number;
  byName: Record<string, number>;
}

/** How a trapped call ended: a value or errno answered for it, let through (CONTINUE), its caller
 * gone first, a failure of ours (answered EIO), or a syscall no handler takes (ENOSYS). */
export const CALL_OUTCOMES = ['answered', 'errno', 'continued', 'gone', 'internal_error', 'unhandled'] as const;
export type CallOutcome = (typeof CALL_OUTCOMES)[number];

/** A count of calls per vNode, syscall and outcome, keyed "vnode\tsyscall\toutcome". */
export type CallCounts = Record<string, number>;

/** A call the addon answers itself, and the name and outcome it counts under. */
export interface FastEntry extends Route {
  name: string;
  outcome: 'continued' | 'answered';
}

/** What the addon answers without JS: mknod and mknodat on every ABI (decided from registers),
 * sysinfo and sched_getaffinity with x86_64's layout (others come here). */
export const FAST_ROUTES: readonly FastEntry[] = [
  ...numbersOf('mknod').map((x) => ({ arch: x.arch, nr: x.nr, kind: FastRoute.mknodMode1, name: 'mknod', outcome: 'continued' as const })),
  ...numbersOf('mknodat').map((x) => ({ arch: x.arch, nr: x.nr, kind: FastRoute.mknodMode2, name: 'mknodat', outcome: 'continued' as const })),
  ...numbersOf('sysinfo')
    .filter((x) => x.abi === 'x86_64')
    .map((x) => ({ arch: x.arch, nr: x.nr, kind: FastRoute.sysinfo64, name: 'sysinfo', outcome: 'answered' as const })),
  ...numbersOf('sched_getaffinity')
    .filter((x) => x.abi === 'x86_64')
    .map((x) => ({ arch: x.arch, nr: x.nr, kind: FastRoute.affinity64, name: 'sched_getaffinity', outcome: 'answered' as const })),
];

/** The emulated files of a vnodefs mount, as seen from the host. */
export function emulationFor(mountpoint: string): Emulation {
  const st = statSync(mountpoint, { bigint: true });
  const dev = st.dev;
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  const o = mountOverlays(mountpoint);
  return { protect: [major, minor], procOverlays: o.proc, sysOverlays: o.sys };
}

class Connection {
  watcher: SeccompWatcher | undefined;
  inflight = 0;
  hungUp = false;
  released = false;
  /** Over its vNode's budget: not watched until the next window. */
  paused = false;

  constructor(
    readonly connId: number,
    readonly fd: number,
    readonly target: SeccompTarget,
    readonly facts: ContainerFacts,
    readonly emulation: Emulation | undefined,
  ) {}
}

class Env implements HandlerEnv {
  private mem: TargetMemory | undefined;
  private st: CallerStatus | undefined;

  constructor(
    readonly call: TrappedCall,
    private readonly conn: Connection,
    private readonly loop: NotifyLoop,
    readonly log: Logger,
  ) {}

  get target(): SeccompTarget {
    return this.conn.target;
  }
  get facts(): ContainerFacts {
    return this.conn.facts;
  }
  get emulation(): Emulation | undefined {
    return this.conn.emulation;
  }

  memory(): TargetMemory {
    this.mem ??= new TargetMemory(this.call.tid);
    return this.mem;
  }

  ensureValid(): void {
    if (!notificationValid(this.conn.fd, this.call.id)) throw new CallerGone(`notification ${this.call.id} of tid ${this.call.tid}`);
  }

  status(): CallerStatus {
    this.st ??= callerStatus(this.call.tid);
    return this.st;
  }

  nsAction(req: Omit<NsActionRequest, 'pid' | 'listener' | 'id'>): Promise<NsActionResult> {
    const serial = mountNamespaceOf(this.call.tid);
    return this.loop.scheduler.run(this.conn.target.vnodeId, serial, async () => {
      const r = await nsAction({ ...req, pid: this.call.tid, listener: this.conn.fd, id: this.call.id });
      if (r.errno) this.log.debug('seccomp: namespace action refused', { syscall: this.call.name, path: req.path, stage: r.stage, code: r.code });
      return r;
    });
  }

  close(): void {
    this.mem?.close();
  }
}

export class NotifyLoop {
  readonly scheduler: FairScheduler;
  private readonly conns = new Map<number, Connection>();
  private readonly sources: FactsSources;
  private readonly routes: readonly FastEntry[];
  private readonly log: Logger;
  readonly stats: LoopStats = { connections: 0, received: 0, answered: 0, continued: 0, failed: 0, gone: 0, internalErrors: 0, native: 0, windows: 0, byName: {} };
  /** Calls since the last drainCalls(): the agent takes them in batches (metrics, `vnode inspect`),
   * so a trapped call costs one map increment here and no message. */
  private calls = new Map<string, number>();
  private readonly budget: CpuBudget | undefined;
  /** Times a listener was left unread for a window because its vNode used its budget. */
  throttled = 0;
  /** Takes native answers into the budget every window, while there are some (collectWhileBusy). */
  private collectTimer: NodeJS.Timeout | undefined;

  constructor(
    opts: LoopOptions,
    private readonly onReleased: (connId: number, reason: string) => void,
    log?: Logger,
  ) {
    this.routes = opts.nativeAnswers === false ? [] : FAST_ROUTES;
    this.budget = opts.budget && opts.budget.cpuPerSecond > 0 ? new CpuBudget(opts.budget.cpuPerSecond, opts.budget.windowMs) : undefined;
    this.scheduler = new FairScheduler(opts.helperConcurrency ?? 2);
    this.sources = new FactsSources({ cgroupRoot: opts.cgroupRoot });
    this.log = log ?? logger('seccomp');
  }

  /** Takes ownership of `fd` (a seccomp listener) and serves it until it hangs up. */
  attach(connId: number, fd: number, target: SeccompTarget, statePid: number): void {
    let emulation: Emulation | undefined;
    if (target.fsMountpoint) {
      try {
        emulation = emulationFor(target.fsMountpoint);
      } catch (e) {
        this.log.warn('seccomp: vnodefs mountpoint unusable, nothing emulated for this container', { mountpoint: target.fsMountpoint, error: (e as Error).message });
      }
    }
    const conn = new Connection(connId, fd, target, new ContainerFacts(target, statePid, this.sources), emulation);
    if (process.env.VNODE_SECCOMP_NO_SYNC !== "1") enableSyncWakeUp(fd);
    conn.watcher = this.watch(conn);
    this.conns.set(connId, conn);
    this.stats.connections = this.conns.size;
  }

  private watch(conn: Connection): SeccompWatcher {
    const w = new SeccompWatcher(conn.fd, {
      notification: (n, ev) => this.notified(conn, n, ev),
      events: (ev) => this.events(conn, ev),
      error: (e) => this.log.error('seccomp: listener failed', { connId: conn.connId, error: e.message }),
      counted: () => this.collectWhileBusy(),
    });
    if (this.routes.length > 0) {
      w.setRoutes(this.routes);
      if (this.budget) w.armCounted();
    }
    return w;
  }

  /**
   * Native answers' CPU time is charged to their vNode's budget once per window (they never come
   * through JS): a timer runs while listeners answer natively. A window without one stops it and
   * arms every watcher, whose next native answer (counted after its turn) starts it again.
   */
  private collectWhileBusy(): void {
    if (this.collectTimer || !this.budget) return;
    this.collectTimer = setInterval(() => {
      this.stats.windows++;
      let busy = false;
      for (const c of this.conns.values()) if (this.collectConn(c)) busy = true;
      if (busy) return;
      clearInterval(this.collectTimer);
      this.collectTimer = undefined;
      for (const c of this.conns.values()) c.watcher?.armCounted();
    }, this.budget.windowMs).unref();
  }

  /** Leaves a listener whose vNode used its budget unread until the next window: its callers wait in the kernel. */
  private pause(conn: Connection): void {
    if (conn.paused || !this.budget) return;
    conn.paused = true;
    this.throttled++;
    conn.watcher?.pause();
    setTimeout(() => {
      conn.paused = false;
      if (conn.released || conn.hungUp || this.conns.get(conn.connId) !== conn) return;
      conn.watcher?.resume();
    }, this.budget.untilNextWindow() + 1);
  }

  /** A notification the watcher received and did not answer itself. */
  private notified(conn: Connection, n: SeccompNotification, events: number): void {
    this.stats.received++;
    if (this.budget) {
      const t0 = performance.now();
      this.dispatch(conn, n);
      this.budget.charge(conn.target.vnodeId, performance.now() - t0);
      if (this.budget.over(conn.target.vnodeId)) this.pause(conn);
    } else {
      this.dispatch(conn, n);
    }
    this.events(conn, events);
  }

  private events(conn: Connection, events: number): void {
    if (events & Readiness.disconnect && !conn.hungUp) {
      conn.hungUp = true;
      conn.watcher?.stop();
      this.maybeRelease(conn, 'hang-up');
    }
  }

  private dispatch(conn: Connection, n: SeccompNotification): void {
    const sc = syscallOf(n.arch, n.nr);
    const h = sc && handlers.get(sc.name);
    if (!sc || !h) {
      // Not ours: the profile and the handlers disagree. ENOSYS, as without a listener.
      this.answer(conn, n.id, { kind: 'errno', errno: Errno.ENOSYS }, sc?.name ?? 'unknown', 'unhandled');
      return;
    }
    this.stats.byName[sc.name] = (this.stats.byName[sc.name] ?? 0) + 1;
    const call: TrappedCall = { id: n.id, tid: n.pid, abi: sc.abi, name: sc.name, args: sc.abi === 'i386' ? n.args.map((a) => a & 0xffffffffn) : n.args };
    const env = new Env(call, conn, this, this.log);
    let r: Answer | Promise<Answer>;
    try {
      r = h.handle(env);
    } catch (e) {
      env.close();
      this.settle(conn, call, e);
      return;
    }
    if (!(r instanceof Promise)) {
      env.close();
      this.answer(conn, call.id, r, call.name);
      if (conn.watcher && (call.name === 'sysinfo' || call.name === 'sched_getaffinity') && this.routes.length > 0) this.refreshFast(conn, call.name);
      return;
    }
    conn.inflight++;
    r.then(
      (a) => this.answer(conn, call.id, a, call.name),
      (e: unknown) => this.settle(conn, call, e),
    ).finally(() => {
      env.close();
      conn.inflight--;
      this.maybeRelease(conn, 'hang-up');
    });
  }

  private settle(conn: Connection, call: TrappedCall, e: unknown): void {
    if (e instanceof CallerGone) {
      this.stats.gone++;
      this.count(conn, call.name, 'gone');
      return;
    }
    if (e instanceof SyscallFault) {
      if (e.errno === Errno.ESRCH) {
        this.stats.gone++;
        this.count(conn, call.name, 'gone');
        return;
      }
      this.answer(conn, call.id, { kind: 'errno', errno: e.errno }, call.name);
      return;
    }
    // A bug of ours: the caller gets EIO (never CONTINUE: that would skip the check that failed).
    this.stats.internalErrors++;
    this.log.error('seccomp: handler failed', { syscall: call.name, tid: call.tid, container: conn.target.containerId, error: (e as Error)?.stack ?? String(e) });
    this.answer(conn, call.id, { kind: 'errno', errno: isSyscallError(e) && e.errno !== 0 ? Math.abs(e.errno) : Errno.EIO }, call.name, 'internal_error');
  }

  private count(conn: Connection, name: string, outcome: CallOutcome, n = 1): void {
    const k = `${conn.target.vnodeId}\t${name}\t${outcome}`;
    this.calls.set(k, (this.calls.get(k) ?? 0) + n);
  }

  /** Hands the watcher the figures its handler just answered from, with the window they hold for. */
  private refreshFast(conn: Connection, name: string): void {
    try {
      if (name === 'sysinfo') conn.watcher!.setSysinfo(conn.facts.sysinfoFacts());
      else {
        const v = conn.facts.visibleCpusWindow();
        conn.watcher!.setAffinity(v.list, v.from, v.until);
      }
    } catch (e) {
      this.log.warn('seccomp: figures not handed to the native answers', { syscall: name, error: (e as Error).message });
    }
  }

  /** Takes one listener's native answers into the stats, the call counts and the budget; whether it had any. */
  private collectConn(conn: Connection): boolean {
    if (!conn.watcher || this.routes.length === 0) return false;
    const c = conn.watcher.takeCounts();
    let any = c.sendFailed > 0 || c.fastNs > 0;
    for (let i = 0; i < this.routes.length; i++) {
      const r = this.routes[i]!;
      const answered = c.answered[i] ?? 0;
      const gone = c.gone[i] ?? 0;
      if (answered + gone === 0) continue;
      any = true;
      this.stats.received += answered + gone;
      this.stats.byName[r.name] = (this.stats.byName[r.name] ?? 0) + answered + gone;
      this.stats.native += answered;
      if (r.outcome === 'continued') this.stats.continued += answered;
      else this.stats.answered += answered;
      this.stats.gone += gone;
      if (answered) this.count(conn, r.name, r.outcome, answered);
      if (gone) this.count(conn, r.name, 'gone', gone);
    }
    if (c.sendFailed > 0) this.log.error('seccomp: NOTIF_SEND failed', { connId: conn.connId, times: c.sendFailed, errno: c.lastSendErrno });
    if (this.budget && c.fastNs > 0) {
      this.budget.charge(conn.target.vnodeId, c.fastNs / 1e6);
      if (this.budget.over(conn.target.vnodeId)) this.pause(conn);
    }
    return any;
  }

  /** Takes every listener's native answers in (see collectConn). */
  collect(): void {
    for (const c of this.conns.values()) this.collectConn(c);
  }

  /** The loop's figures, native answers included. */
  currentStats(): LoopStats {
    this.collect();
    return this.stats;
  }

  /** The call counts since the last drain, handed over and reset. */
  drainCalls(): CallCounts {
    this.collect();
    const out = Object.fromEntries(this.calls);
    this.calls = new Map();
    return out;
  }

  private answer(conn: Connection, id: bigint, a: Answer, name: string, outcome?: CallOutcome): void {
    if (conn.released) return;
    let delivered: boolean;
    try {
      if (a.kind === 'sent') delivered = true;
      else if (a.kind === 'continue') delivered = respondContinue(conn.fd, id);
      else if (a.kind === 'errno') delivered = respond(conn.fd, id, { errno: a.errno });
      else delivered = respond(conn.fd, id, { val: a.val });
    } catch (e) {
      this.log.error('seccomp: NOTIF_SEND failed', { connId: conn.connId, error: (e as Error).message });
      return;
    }
    if (!delivered) this.stats.gone++;
    else if (a.kind === 'continue') this.stats.continued++;
    else if (a.kind === 'errno') this.stats.failed++;
    else this.stats.answered++;
    this.count(conn, name, !delivered ? 'gone' : (outcome ?? (a.kind === 'continue' ? 'continued' : a.kind === 'errno' ? 'errno' : 'answered')));
  }

  private maybeRelease(conn: Connection, reason: string): void {
    if (conn.released || !conn.hungUp || conn.inflight > 0) return;
    this.release(conn, reason);
  }

  private release(conn: Connection, reason: string): void {
    this.collectConn(conn);
    conn.released = true;
    conn.watcher?.stop();
    rawCloseQuietly(conn.fd);
    this.conns.delete(conn.connId);
    this.stats.connections = this.conns.size;
    this.onReleased(conn.connId, reason);
  }

  /** Releases every listener now (shutdown); pending callers then get ENOSYS from the kernel. */
  stopAll(): void {
    clearInterval(this.collectTimer);
    this.collectTimer = undefined;
    for (const c of [...this.conns.values()]) this.release(c, 'stopped');
  }
}
