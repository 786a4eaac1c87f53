// The manager's seccomp listener server. runc connects to `socketPath` on every create and every
// exec of a vNode container (linux.seccomp.listenerPath) and sends the notify fd with its state
// JSON; the agent checks the message, asks the resolver which vNode container it belongs to,
// and hands the fd to the notification worker of that vNode. Unknown containers get their fd
// closed (their trapped calls then fail with ENOSYS). Every connection is tracked from attach to
// release (the listener hangs up when its last process is gone).
//
// Restarts: with a keeper (agent/common/FdKeeper.ts), every listener accepted is also put there
// under a `seccomp:` name carrying its target, and dropped when it is released (hang-up); a
// listener released because the agent closes stays kept. A new agent's adopt() takes them back,
// gets the calls the dead manager had received but not answered issued again (reissue.ts), and
// serves them as if runc had just handed them over.
//
// Threads: the answers run on worker threads (one vNode always on the same worker), so a busy
// manager main loop never delays a trapped syscall.
import { EventEmitter } from 'node:events';
import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import { rawCloseQuietly } from '../../addon/rawfd.js';
import { fdsocketPoll, POLLHUP, POLLIN } from '../../addon/fdsocket.js';
import type { FdKeeper } from '../common/FdKeeper.js';
import { logger, type Logger } from '../common/log.js';
import { freezerOf, reissueStuckNotifications, type ReissueResult } from './reissue.js';
import type { FdSocketServer } from '../../addon/fdsocket.js';
import { ListenerSocket, type ListenerMessage } from './ListenerSocket.js';
import type { FromWorker, ToWorker, WorkerData } from './agentProtocol.js';
import type { CallCounts, LoopOptions, LoopStats } from './NotifyLoop.js';
import { ListenerStateSchema, SeccompTargetSchema, type ListenerState, type SeccompTarget } from './SeccompTarget.js';
import { WORKER_RESOURCE_LIMITS } from '../common/workerLimits.js';

export interface SeccompAgentOptions {
  socketPath: string;
  /** Which vNode container a listener belongs to; undefined: not ours, refuse it. */
  resolve: (state: ListenerState) => SeccompTarget | undefined;
  /** Notification worker threads (default min(2, cpus)). */
  workers?: number;
  loop?: LoopOptions;
  /** CPU-seconds per second all workers together spend on one vNode's calls (0: no budget). */
  budget?: { cpuPerVnode: number; windowMs: number };
  log?: Logger;
  /** Where listeners are kept across a manager restart (absent: they die with the manager). */
  keeper?: FdKeeper;
  /** A socket already listening on socketPath; the agent owns the fd. */
  listenFd?: number;
  /** That socket is kept by the fd keeper across manager restarts (runc's connections made while
   * no manager runs wait in its backlog): its file stays when the agent closes. */
  socketKept?: boolean;
}

/** Name prefix of the agent's entries in the fd keeper. */
export const KEEPER_PREFIX = 'seccomp:';

/** What a kept listener's name carries: enough to serve it again without runc's state message. */
interface KeptListener {
  v: 1;
  /** the process runc made the listener for */
  pid: number;
  target: SeccompTarget;
}

export function keptListenerName(pid: number, target: SeccompTarget): string {
  return KEEPER_PREFIX + JSON.stringify({ v: 1, pid, target } satisfies KeptListener);
}

export function parseKeptListenerName(name: string): KeptListener | undefined {
  if (!name.startsWith(KEEPER_PREFIX)) return undefined;
  try {
    const o = JSON.parse(name.slice(KEEPER_PREFIX.length)) as Partial<KeptListener>;
    if (o.v !== 1 || !Number.isInteger(o.pid) || (o.pid ?? 0) <= 0) return undefined;
    return { v: 1, pid: o.pid!, target: SeccompTargetSchema.parse(o.target) };
  } catch {
    return undefined;
  }
}

export interface AdoptResult {
  /** listeners served again */
  adopted: number;
  /** kept listeners whose processes were all gone (or unreadable names): dropped */
  dropped: number;
  /** one per container cgroup frozen and thawed */
  reissued: ReissueResult[];
  ms: number;
}

export interface ConnectionInfo {
  connId: number;
  vnodeId: string;
  containerId: string;
  /** the process runc made the listener for (init on create, the new process on exec) */
  pid: number;
  status: string;
  worker: number;
  since: number;
}

interface WorkerSlot {
  index: number;
  worker: Worker;
  vnodes: Set<string>;
  /** heap in use (KiB) after the worker's last requested collection */
  heapAfterGcKb?: number;
  /** the worker thread ended (crashed): its vNodes' trapped calls get no answer */
  dead?: string;
}

/** vNode -> syscall -> outcome -> calls, since the manager started (a vNode's go with it). */
export type SyscallTotals = Map<string, Map<string, Map<string, number>>>;

/** How often the agent takes the workers' call counts when nobody asks (bounds their maps). */
const DRAIN_INTERVAL_MS = 15_000;

const closeQuietly = rawCloseQuietly;

export declare interface SeccompAgent {
  on(event: 'attached', l: (c: ConnectionInfo) => void): this;
  on(event: 'released', l: (c: ConnectionInfo, reason: string) => void): this;
  on(event: 'refused', l: (reason: string, state?: ListenerState) => void): this;
  /** A listener runc just handed over (not an adopted one): the container, the process the filter
   * is in, and runc's status of the container ("creating" during `runc create`). */
  on(event: 'listener', l: (a: { containerId: string; pid: number; status: string }) => void): this;
}

export class SeccompAgent extends EventEmitter {
  private readonly conns = new Map<number, ConnectionInfo>();
  private readonly byVnode = new Map<string, WorkerSlot>();
  private nextConn = 1;
  private nextReq = 1;
  private readonly statsWaiters = new Map<number, (s: LoopStats) => void>();
  private readonly callWaiters = new Map<number, (c: CallCounts) => void>();
  private readonly totals: SyscallTotals = new Map();
  private readonly gone = new Set<string>();
  /** connId -> its name in the keeper */
  private readonly keptNames = new Map<number, string>();
  private keeper: FdKeeper | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The listening socket is kept by the fd keeper: its file stays when the agent closes. */
  private keptSocket = false;

  private constructor(
    private readonly server: FdSocketServer,
    private readonly slots: WorkerSlot[],
    private readonly resolveTarget: SeccompAgentOptions['resolve'],
    private readonly log: Logger,
  ) {
    super();
  }

  static async start(opts: SeccompAgentOptions): Promise<SeccompAgent> {
    const log = opts.log ?? logger('seccomp');
    const n = Math.max(1, opts.workers ?? Math.min(2, cpus().length));
    const slots: WorkerSlot[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const wd: WorkerData = { index: i, loop: { ...opts.loop, ...(opts.budget ? { budget: { cpuPerSecond: opts.budget.cpuPerVnode / n, windowMs: opts.budget.windowMs } } : {}) } };
        const worker = new Worker(new URL('./notifyWorker.js', import.meta.url), { workerData: wd, resourceLimits: WORKER_RESOURCE_LIMITS });
        slots.push({ index: i, worker, vnodes: new Set() });
        await new Promise<void>((resolve, reject) => {
          const onMsg = (m: FromWorker): void => {
            if (m.t === 'ready') {
              worker.off('error', reject);
              worker.off('message', onMsg);
              resolve();
            }
          };
          worker.on('message', onMsg);
          worker.once('error', reject);
        });
      }
    } catch (e) {
      await Promise.allSettled(slots.map((s) => s.worker.terminate()));
      throw new Error(`seccomp agent: a notification worker failed to start: ${(e as Error).message}`, { cause: e });
    }
    let agent: SeccompAgent | undefined;
    const server = ListenerSocket.listen(
      opts.socketPath,
      (m) => agent?.onMessage(m),
      (e) => log.warn('seccomp: listener socket', { error: e.message }),
      10_000,
      opts.listenFd,
    );
    agent = new SeccompAgent(server, slots, opts.resolve, log);
    agent.keeper = opts.keeper;
    agent.keptSocket = !!opts.socketKept;
    for (const s of slots) {
      s.worker.on('message', (m: FromWorker) => agent!.onWorker(s, m));
      s.worker.on('error', (e) => {
        s.dead = e.message;
        log.error('seccomp: notification worker crashed', { worker: s.index, error: e.stack ?? e.message });
      });
      s.worker.on('exit', (code) => {
        if (!agent!.closed) s.dead ??= `exited with ${code}`;
      });
    }
    agent.drainTimer = setInterval(() => void agent!.syscallTotals(), DRAIN_INTERVAL_MS).unref();
    return agent;
  }

  get socketPath(): string {
    return this.server.path;
  }

  /** Listeners being served now. */
  connections(): ConnectionInfo[] {
    return [...this.conns.values()];
  }

  private refuse(reason: string, fds: number[], state?: ListenerState): void {
    for (const f of fds) closeQuietly(f);
    this.log.warn('seccomp: listener refused', { reason, container: state?.state.id });
    this.emit('refused', reason, state);
  }

  private onMessage(m: ListenerMessage): void {
    if (this.closed) return this.refuse('agent closed', m.fds);
    if (m.peer.uid !== 0) return this.refuse(`sender uid ${m.peer.uid} is not root`, m.fds);
    let state: ListenerState;
    try {
      state = ListenerStateSchema.parse(JSON.parse(m.data.toString('utf8')));
    } catch (e) {
      return this.refuse(`state message from pid ${m.peer.pid} is not runc's: ${(e as Error).message.slice(0, 300)}`, m.fds);
    }
    const idx = state.fds.indexOf('seccompFd');
    const fd = idx >= 0 ? m.fds[idx] : undefined;
    if (fd === undefined || state.fds.length !== m.fds.length) return this.refuse(`fds ${JSON.stringify(state.fds)} do not match the ${m.fds.length} received`, m.fds, state);
    for (const f of m.fds) if (f !== fd) closeQuietly(f);
    let target: SeccompTarget | undefined;
    try {
      const t = this.resolveTarget(state);
      target = t && SeccompTargetSchema.parse(t);
    } catch (e) {
      return this.refuse(`resolver failed: ${(e as Error).message}`, [fd], state);
    }
    if (!target) return this.refuse(`container ${state.state.id} is not a vNode container`, [fd], state);
    const name = keptListenerName(state.pid, target);
    if (this.keeper) {
      try {
        this.keeper.put(name, fd);
      } catch (e) {
        this.log.warn('seccomp: listener not kept (it will not survive a manager restart)', { container: target.containerId, error: (e as Error).message });
      }
    }
    this.attachListener(fd, target, state.pid, state.state.status, name);
    // Said at once, from runc's own message: a container being created is set up but runs
    // nothing yet (VNodePods binds its /proc/sys entries now, off its start's path).
    this.emit('listener', { containerId: target.containerId, pid: state.pid, status: state.state.status });
  }

  private attachListener(fd: number, target: SeccompTarget, pid: number, status: string, keptName: string): void {
    const slot = this.slotFor(target.vnodeId);
    const info: ConnectionInfo = {
      connId: this.nextConn++,
      vnodeId: target.vnodeId,
      containerId: target.containerId,
      pid,
      status,
      worker: slot.index,
      since: Date.now(),
    };
    this.conns.set(info.connId, info);
    if (this.keeper) this.keptNames.set(info.connId, keptName);
    const msg: ToWorker = { t: 'attach', connId: info.connId, fd, target, statePid: pid };
    slot.worker.postMessage(msg);
  }

  /** Forgets a released listener in the keeper, unless it was released because the agent closes. */
  private unkeep(connId: number, reason: string): void {
    const name = this.keptNames.get(connId);
    this.keptNames.delete(connId);
    if (!name || !this.keeper || reason === 'stopped') return;
    try {
      this.keeper.drop(name);
    } catch (e) {
      this.log.warn('seccomp: cannot drop a released listener from the keeper', { error: (e as Error).message });
    }
  }

  /**
   * Takes every listener kept by an earlier manager and serves it again: those whose processes
   * are all gone are dropped; every container's cgroup is frozen and thawed first, so that calls
   * the dead manager had received but not answered are issued again (reissue.ts). Call once,
   * right after start.
   */
  async adopt(): Promise<AdoptResult> {
    const t0 = performance.now();
    const out: AdoptResult = { adopted: 0, dropped: 0, reissued: [], ms: 0 };
    if (!this.keeper || this.closed) return out;
    let kept;
    try {
      kept = this.keeper.takeAll(KEEPER_PREFIX);
    } catch (e) {
      this.log.warn('seccomp: cannot take the kept listeners', { error: (e as Error).message });
      return out;
    }
    const live: { fd: number; name: string; l: KeptListener }[] = [];
    for (const k of kept) {
      const l = parseKeptListenerName(k.name);
      const revents = l ? fdsocketPoll(k.fd, POLLIN, 0) : POLLHUP;
      if (!l || revents & POLLHUP) {
        closeQuietly(k.fd);
        out.dropped++;
        try {
          this.keeper.drop(k.name);
        } catch {
          // the next release or adoption tries again
        }
        continue;
      }
      live.push({ fd: k.fd, name: k.name, l });
    }
    // One freeze per container cgroup, before any listener is read again: a call re-issued now
    // waits in the kernel until its worker reads it, and no answer of ours can race the thaw.
    const frozen = new Set<string>();
    for (const { l } of live) {
      // The listener's own process, or (an exec'd process gone, its children left) the init's.
      let pid = l.pid;
      let f = freezerOf(pid);
      if (!('kind' in f)) f = freezerOf((pid = l.target.rootPid));
      const key = 'kind' in f ? f.dir : `pid:${pid}`;
      if (frozen.has(key)) continue;
      frozen.add(key);
      const r = await reissueStuckNotifications(pid);
      out.reissued.push(r);
      if (!r.ok)
        this.log.warn('seccomp: cannot freeze a container to get its pending calls issued again; a call the old manager received stays blocked until it is interrupted', {
          container: l.target.containerId,
          pid,
          reason: r.reason,
        });
    }
    for (const { fd, name, l } of live) {
      this.attachListener(fd, l.target, l.pid, 'adopted', name);
      out.adopted++;
    }
    out.ms = performance.now() - t0;
    this.log.info('seccomp: kept listeners adopted', { adopted: out.adopted, dropped: out.dropped, frozen: out.reissued.length, ms: Math.round(out.ms) });
    return out;
  }

  /** One vNode stays on one worker (its fairness queue lives there); new vNodes go to the least loaded. */
  private slotFor(vnodeId: string): WorkerSlot {
    let s = this.byVnode.get(vnodeId);
    if (!s) {
      s = this.slots.reduce((a, b) => (b.vnodes.size < a.vnodes.size ? b : a));
      s.vnodes.add(vnodeId);
      this.byVnode.set(vnodeId, s);
    }
    return s;
  }

  private onWorker(slot: WorkerSlot, m: FromWorker): void {
    switch (m.t) {
      case 'attached': {
        const c = this.conns.get(m.connId);
        if (c) this.emit('attached', c);
        break;
      }
      case 'attachFailed':
      case 'released': {
        const c = this.conns.get(m.connId);
        this.conns.delete(m.connId);
        const reason = m.t === 'released' ? m.reason : `attach failed: ${m.error}`;
        this.unkeep(m.connId, m.t === 'released' ? m.reason : 'attach failed');
        if (c) {
          if (![...this.conns.values()].some((x) => x.vnodeId === c.vnodeId)) {
            slot.vnodes.delete(c.vnodeId);
            this.byVnode.delete(c.vnodeId);
          }
          this.emit('released', c, reason);
        }
        break;
      }
      case 'gcDone':
        slot.heapAfterGcKb = m.heapKb;
        break;
      case 'calls': {
        this.callWaiters.get(m.req)?.(m.calls);
        this.callWaiters.delete(m.req);
        break;
      }
      case 'stats': {
        this.statsWaiters.get(m.req)?.(m.stats);
        this.statsWaiters.delete(m.req);
        break;
      }
      default:
        break;
    }
  }

  /** Asks every notification worker for a full garbage collection. */
  requestGc(): void {
    for (const s of this.slots) s.worker.postMessage({ t: 'gc' } satisfies ToWorker);
  }

  /** Heap in use (KiB) of each worker after its last requested collection. */
  heapAfterGc(): Record<string, number> {
    return Object.fromEntries(this.slots.map((s) => [`seccomp${s.index}`, s.heapAfterGcKb ?? 0]));
  }

  /** Counters of every worker. */
  async stats(): Promise<LoopStats[]> {
    return Promise.all(
      this.slots.map(
        (s) =>
          new Promise<LoopStats>((resolve) => {
            const req = this.nextReq++;
            this.statsWaiters.set(req, resolve);
            s.worker.postMessage({ t: 'stats', req } satisfies ToWorker);
          }),
      ),
    );
  }

  /**
   * Every vNode's trapped calls by syscall and outcome: the workers' counts since the last drain
   * are taken (one message each) and added up here. A worker that does not answer within
   * timeoutMs is left for the next time.
   */
  async syscallTotals(timeoutMs = 1000): Promise<SyscallTotals> {
    const live = this.slots.filter((s) => !s.dead);
    const batches = await Promise.all(live.map((s) => this.ask<CallCounts>(s, this.callWaiters, (req) => ({ t: 'drainCalls', req }), timeoutMs)));
    for (const b of batches) {
      for (const [k, n] of Object.entries(b ?? {})) {
        const [vnode = '', name = '', outcome = ''] = k.split('\t');
        if (this.gone.has(vnode)) continue;
        let byName = this.totals.get(vnode);
        if (!byName) this.totals.set(vnode, (byName = new Map()));
        let byOutcome = byName.get(name);
        if (!byOutcome) byName.set(name, (byOutcome = new Map()));
        byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + n);
      }
    }
    this.gone.clear();
    return this.totals;
  }

  /** A torn-down vNode's counts go with it (label cardinality stays the live vNodes'). */
  forgetVnode(vnodeId: string): void {
    this.totals.delete(vnodeId);
    // Counts still in a worker's batch are dropped at the next drain, unless the vNode is back by then.
    this.gone.add(vnodeId);
  }

  /** Each worker answers a stats request within timeoutMs (its event loop turns), and none crashed. */
  async health(timeoutMs = 1000): Promise<{ ok: boolean; detail: string }> {
    const dead = this.slots.filter((s) => s.dead);
    if (dead.length) return { ok: false, detail: `notification worker ${dead.map((s) => `${s.index} (${s.dead})`).join(', ')} died` };
    const answers = await Promise.all(this.slots.map((s) => this.ask<LoopStats>(s, this.statsWaiters, (req) => ({ t: 'stats', req }), timeoutMs)));
    const silent = answers.flatMap((a, i) => (a ? [] : [i]));
    if (silent.length) return { ok: false, detail: `notification worker ${silent.join(', ')} did not answer within ${timeoutMs} ms` };
    return { ok: true, detail: `${this.slots.length} workers, ${this.conns.size} listeners` };
  }

  private ask<T>(s: WorkerSlot, waiters: Map<number, (v: T) => void>, msg: (req: number) => ToWorker, timeoutMs: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      const req = this.nextReq++;
      const timer = setTimeout(() => {
        waiters.delete(req);
        resolve(undefined);
      }, timeoutMs);
      waiters.set(req, (v) => {
        clearTimeout(timer);
        resolve(v);
      });
      s.worker.postMessage(msg(req));
    });
  }

  /** Stops listening, releases every listener and ends the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.drainTimer);
    this.server.close({ keepPath: this.keptSocket });
    await Promise.all(
      this.slots.map(
        (s) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => resolve(), 2000);
            s.worker.on('message', (m: FromWorker) => {
              if (m.t === 'stopped') {
                clearTimeout(t);
                resolve();
              }
            });
            s.worker.postMessage({ t: 'stop' } satisfies ToWorker);
          }),
      ),
    );
    await Promise.allSettled(this.slots.map((s) => s.worker.terminate()));
    this.conns.clear();
  }
}
