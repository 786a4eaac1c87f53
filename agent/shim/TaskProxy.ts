// The manager's containerd.task.v2.Task service: containerd dials it once per task; every call is
// routed by task id to that pod's stock runc shim. Create is the one call we rewrite (the runc
// options that put vnode-runc in runc's place, and the vNode spec rewrite hook); Delete, Shutdown
// and Connect keep our bookkeeping; everything else passes through as bytes.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/log.js';
import { shimProtos, TASK_SERVICE, type CreateTaskRequest, type DeleteResponse, type Mount, type RuncOptions, type TaskApi } from '../proto/taskApi.js';
import { cleanupOrphan } from './orphanCleanup.js';
import { RuncShim, RuncShimError } from './RuncShim.js';
import { safeName, type TaskRecord, type TaskRegistry } from './TaskRegistry.js';
import { Code, TtrpcError } from './ttrpc/TtrpcError.js';
import type { CallContext, TtrpcServer } from './ttrpc/TtrpcServer.js';
import { ServiceDefinition } from './ttrpc/typedService.js';

/** The containerd a task came from: a runc shim daemon serves one. */
interface ShimTarget {
  namespace: string;
  containerdAddress: string;
  ttrpcAddress: string;
  publishBinary: string;
}
const SPARE_REFILL_DELAY_MS = 300;
const TRACE = process.env.VNODE_TRACE_PROXY === '1';
const targetKey = (t: ShimTarget): string => `${t.namespace}\0${t.containerdAddress}\0${t.ttrpcAddress}`;

export const SANDBOX_ID_ANNOTATION = 'io.kubernetes.cri.sandbox-id';
export const CONTAINER_TYPE_ANNOTATION = 'io.kubernetes.cri.container-type';

/** What the vNode layer sees of a Create before it is forwarded (it may rewrite config.json). */
export interface CreateContext {
  id: string;
  podId: string;
  sandbox: boolean;
  bundle: string;
  namespace: string;
  annotations: Record<string, string>;
  /** The rootfs mounts containerd asked for (the snapshot). */
  rootfs: Mount[];
}

/** How the vNode layer takes part in a task's life. */
export interface TaskHooks {
  /** Before Create is forwarded: may rewrite config.json and return other rootfs mounts. */
  prepareCreate(ctx: CreateContext): Promise<{ rootfs?: Mount[] }>;
  /** After a task's Delete succeeded, or its Create failed. */
  taskGone(id: string, podId: string): Promise<void>;
  /** After the last task of a pod is gone (its runc shim exited). */
  podGone(podId: string): Promise<void>;
  /** Before the Start of a pod's sandbox task is forwarded (its network must be ready). */
  beforeSandboxStart?(podId: string): Promise<void>;
}

export interface TaskProxyOptions {
  /** The stock containerd-shim-runc-v2 binary. */
  runcShimBinary: string;
  /** The runc binary the runc shim runs (vnode-runc). */
  runcBinary: string;
  /** runc's state root for vNode containers. */
  runcRoot: string;
  /** Where per-pod runc shim directories go. */
  podsDir: string;
  /** Where the runc shims' TTRPC sockets go. */
  socketsDir: string;
  /** Environment for the runc shims (and so for vnode-runc). */
  shimEnv: Record<string, string>;
  /** The vNode layer; absent: plain runc containers through the manager. */
  hooks?: TaskHooks;
}

export class TaskProxy {
  private readonly def = ServiceDefinition.fromRoot<TaskApi>(shimProtos(), TASK_SERVICE);
  private readonly runcOptionsType = shimProtos().lookupType('containerd.runc.v1.Options');
  private readonly shims = new Map<string, RuncShim>();
  /** Pods whose runc shim is being started, so concurrent Creates share one start. */
  private readonly starting = new Map<string, Promise<RuncShim>>();

  constructor(
    private readonly registry: TaskRegistry,
    private readonly opts: TaskProxyOptions,
    private readonly log: Logger,
  ) {}

  /**
   * Cleans up after a previous manager. containerd never reconnects a dropped shim connection
   * while it runs, so every task of a manager that died is already dead in containerd's view
   * (it ran `shim delete` for each and published their exit): whatever of them still runs is
   * killed and deleted, their runc shims stopped and their pods let go of their vNodes.
   */
  async restore(): Promise<void> {
    const { pods, tasks } = this.registry.load();
    for (const p of pods) {
      const own = tasks.filter((t) => t.podId === p.podId);
      const shim = await RuncShim.reconnect(p, this.log);
      if (shim) {
        const m = this.def.methods;
        for (const t of own) {
          const call = (method: 'Kill' | 'Delete', payload: Uint8Array) =>
            shim.client.callRaw(TASK_SERVICE, method, Buffer.from(payload), { timeoutMs: 3000 }).catch(() => undefined);
          await call('Kill', m.Kill.request.encode({ id: t.id, signal: 9, all: true }));
          await call('Delete', m.Delete.request.encode({ id: t.id }));
        }
        await this.shutdownShim(shim);
        // Containers force-deleted behind its back may keep it from shutting down.
        if (!(await closedWithin(shim, 1000))) killVerified(p.pid, p.dir, this.log);
        shim.close();
      } else {
        // Gone with its containers; a dead daemon cannot remove its socket.
        rmSync(p.address.replace(/^unix:\/\//, ''), { force: true });
      }
      for (const t of own) {
        this.registry.removeTask(t.id);
        await this.taskGone(t.id, p.podId);
      }
      this.registry.removePod(p.podId);
      rmSync(p.dir, { recursive: true, force: true });
      await this.podGone(p.podId);
      this.log.warn('cleaned up a pod of a previous manager', { podId: p.podId, tasks: own.length, shimWasAlive: !!shim });
    }
    for (const t of tasks.filter((x) => !pods.some((p) => p.podId === x.podId))) this.registry.removeTask(t.id);
    // Spares of an earlier manager: shut them down.
    if (existsSync(this.opts.podsDir)) {
      for (const d of readdirSync(this.opts.podsDir)) {
        if (!d.startsWith('spare-')) continue;
        const dir = join(this.opts.podsDir, d);
        let address = '';
        try {
          address = readFileSync(join(dir, 'address'), 'utf8').trim();
        } catch {
          // never finished starting
        }
        const shim = address ? await RuncShim.reconnect({ podId: d, namespace: 'k8s.io', address, dir }, this.log) : undefined;
        if (shim) await this.retireSpare(Promise.resolve(shim));
        else rmSync(dir, { recursive: true, force: true });
      }
    }
    this.log.info('restored central shim state', { pods: this.shims.size, tasks: this.registry.taskCount });
  }

  register(server: TtrpcServer): void {
    const m = this.def.methods;
    server.register(
      TASK_SERVICE,
      {
        Create: async (payload, ctx) => this.create(m.Create.request.decode(payload), ctx, payload),
        Delete: async (payload, ctx) => {
          const req = m.Delete.request.decode(payload);
          this.log.debug('Delete', { id: req.id, execId: req.execId });
          // A task whose runc shim died was force-deleted already (reapDeadShim): its tombstone answers.
          if (!req.execId && !this.shimOf(req.id)) {
            const tomb = this.registry.takeTombstone(req.id);
            if (tomb) return m.Delete.response.encode({ pid: tomb.pid, exitStatus: tomb.exitStatus, exitedAt: tomb.exitedAt ?? undefined });
          }
          const res = await this.forward('Delete', req.id, payload, ctx);
          if (!req.execId) {
            const r = m.Delete.response.decode(res);
            const podId = this.registry.task(req.id)?.podId;
            this.registry.removeTask(req.id, { pid: r.pid, exitStatus: r.exitStatus, exitedAt: r.exitedAt ?? null });
            if (podId) {
              await this.taskGone(req.id, podId);
              // The pod's last task: it leaves its vNode now, not when its runc shim gets round to
              // exiting, so StopPodSandbox returns with nothing of the pod left.
              if (this.registry.tasksOfPod(podId).length === 0) await this.podGone(podId);
            }
          }
          return res;
        },
        Start: async (payload, ctx) => {
          const req = m.Start.request.decode(payload);
          const task = req.execId ? undefined : this.registry.task(req.id);
          if (task?.sandbox && this.opts.hooks?.beforeSandboxStart) {
            try {
              await this.opts.hooks.beforeSandboxStart(task.podId);
            } catch (e) {
              throw new TtrpcError(Code.FAILED_PRECONDITION, `task ${req.id}: ${(e as Error).message}`);
            }
          }
          return this.forward('Start', req.id, payload, ctx);
        },
        Shutdown: async (payload, ctx) => {
          const req = m.Shutdown.request.decode(payload);
          this.log.debug('Shutdown', { id: req.id, known: !!this.registry.task(req.id) });
          // Shutdown(id) means "forget id"; the runc shim exits by itself once it has no containers.
          const shim = this.shimOf(req.id);
          if (shim && !shim.isClosed) {
            try {
              await shim.client.callRaw(TASK_SERVICE, 'Shutdown', payload, { signal: ctx.signal, timeoutMs: 3000 });
            } catch (e) {
              if (!(e instanceof TtrpcError) || e.code !== Code.UNAVAILABLE) throw e;
            }
          }
          return m.Shutdown.response.encode({});
        },
        Pause: async () => unsupported('Pause'),
        Resume: async () => unsupported('Resume'),
        Checkpoint: async () => unsupported('Checkpoint'),
      },
      async (method, payload, ctx) => {
        let id: string;
        try {
          id = readTaskId(payload, method);
        } catch (e) {
          // Field 1 not first (legal protobuf, though containerd never does it): decode properly.
          const def = (this.def.methods as Record<string, { request: { decode(b: Uint8Array): { id?: string } } } | undefined>)[method];
          if (!def) throw new TtrpcError(Code.UNIMPLEMENTED, `method ${method} is not part of ${TASK_SERVICE}`);
          id = def.request.decode(payload).id ?? '';
          if (!id) throw e;
        }
        return this.forward(method, id, payload, ctx);
      },
    );
  }

  private async create(req: CreateTaskRequest, ctx: CallContext, _raw: Buffer): Promise<Uint8Array> {
    safeName(req.id);
    const start = this.registry.startInfo(req.id);
    if (!start) throw new TtrpcError(Code.FAILED_PRECONDITION, `task ${req.id}: Create without a shim start (containerd must run containerd-shim-vnode-v2 start first)`);
    if (start.bundle !== req.bundle) throw new TtrpcError(Code.INVALID_ARGUMENT, `task ${req.id}: bundle ${req.bundle} differs from the start's ${start.bundle}`);
    const annotations = readAnnotations(req.bundle);
    const podId = annotations[SANDBOX_ID_ANNOTATION] ?? req.id;
    safeName(podId);
    const sandbox = (annotations[CONTAINER_TYPE_ANNOTATION] ?? 'sandbox') === 'sandbox';
    let rootfs = req.rootfs;
    if (this.opts.hooks) {
      try {
        rootfs = (await this.opts.hooks.prepareCreate({ id: req.id, podId, sandbox, bundle: req.bundle, namespace: start.namespace, annotations, rootfs })).rootfs ?? rootfs;
      } catch (e) {
        await this.taskGone(req.id, podId);
        throw e instanceof TtrpcError ? e : new TtrpcError(Code.FAILED_PRECONDITION, `task ${req.id}: ${(e as Error).message}`);
      }
    }

    const t0 = performance.now();
    let shim: RuncShim;
    try {
      shim = await this.shimFor(podId, req.id, start);
    } catch (e) {
      // No runc shim: what prepareCreate set up goes, and the pod with it if nothing else holds it.
      await this.taskGone(req.id, podId);
      await this.podGoneIfIdle(podId);
      throw e;
    }
    const t1 = performance.now();
    // containerd sends runtimeoptions.v1.Options (or nothing) for a non-runc runtime; the runc
    // shim needs its own options: vnode-runc in runc's place, and vNode's runc root.
    const options: Partial<RuncOptions> = { binaryName: this.opts.runcBinary, root: this.opts.runcRoot };
    const forwarded = this.def.methods.Create.request.encode({
      ...req,
      rootfs,
      options: { type_url: 'containerd.runc.v1.Options', value: this.runcOptionsType.encode(this.runcOptionsType.fromObject(options)).finish() },
    });
    const rec: TaskRecord = { ...start, podId, sandbox, createdAt: Date.now() };
    this.registry.addTask(rec);
    try {
      const res = await shim.client.callRaw(TASK_SERVICE, 'Create', Buffer.from(forwarded), { signal: ctx.signal, metadata: ctx.metadata, ...(ctx.deadline ? { deadline: ctx.deadline } : {}) });
      this.log.debug('created', { id: req.id, podId, shimMs: +(t1 - t0).toFixed(2), createMs: +(performance.now() - t1).toFixed(2) });
      return res;
    } catch (e) {
      this.registry.removeTask(req.id);
      await this.taskGone(req.id, podId);
      // containerd will not Shutdown a task it never got: a pod shim left with nothing must go.
      if (this.registry.tasksOfPod(podId).length === 0) await this.shutdownShim(shim);
      this.log.warn('create failed in the runc shim', { id: req.id, podId, error: (e as Error).message });
      throw e;
    }
  }

  private async shimFor(podId: string, firstTaskId: string, start: ShimTarget): Promise<RuncShim> {
    const live = this.shims.get(podId);
    if (live && !live.isClosed) return live;
    let p = this.starting.get(podId);
    if (!p) {
      p = this.takeSpare(start)
        .then((spare) => {
          if (spare) {
            spare.assign(podId, join(this.opts.podsDir, podId));
            return spare;
          }
          return this.spawnShim(podId, firstTaskId, start);
        })
        .then((shim) => {
          this.adopt(shim);
          this.registry.setPod({ podId, namespace: shim.namespace, address: shim.address, dir: shim.dir, pid: shim.pid });
          return shim;
        });
      this.starting.set(podId, p);
      p.finally(() => {
        this.starting.delete(podId);
        // Refill once this pod's start has moved on, not while it competes for the CPU.
        setTimeout(() => this.refillSpare(start), SPARE_REFILL_DELAY_MS).unref();
      }).catch(() => undefined);
    }
    try {
      return await p;
    } catch (e) {
      throw new TtrpcError(Code.UNAVAILABLE, e instanceof RuncShimError ? e.message : `runc shim for pod ${podId}: ${(e as Error).message}`);
    }
  }

  private spawnShim(name: string, firstTaskId: string, t: ShimTarget): Promise<RuncShim> {
    return RuncShim.start(
      {
        podId: name,
        firstTaskId,
        namespace: t.namespace,
        containerdAddress: t.containerdAddress,
        ttrpcAddress: t.ttrpcAddress,
        publishBinary: t.publishBinary,
        dir: join(this.opts.podsDir, name),
        binary: this.opts.runcShimBinary,
        env: this.opts.shimEnv,
        socketPath: join(this.opts.socketsDir, createHash('sha256').update(`${t.namespace}/${name}/${Date.now()}`).digest('hex').slice(0, 24)),
      },
      this.log,
    );
  }

  /*
   * A warm spare: one idle runc shim daemon per containerd, started after a pod took the last
   * one, so spawning a daemon (5-12 ms from Node) is off the pod's start path. The daemon's -id
   * only names what its own `delete` action would clean up, which we never run.
   */
  private spare: { key: string; shim: Promise<RuncShim | undefined> } | undefined;
  private spareSeq = 0;

  private async takeSpare(t: ShimTarget): Promise<RuncShim | undefined> {
    const s = this.spare;
    if (!s || s.key !== targetKey(t)) return undefined;
    this.spare = undefined;
    const shim = await s.shim;
    return shim && !shim.isClosed ? shim : undefined;
  }

  private refillSpare(t: ShimTarget): void {
    if (this.closing || (this.spare && this.spare.key === targetKey(t))) return;
    const old = this.spare;
    const name = `spare-${process.pid}-${++this.spareSeq}`;
    this.spare = {
      key: targetKey(t),
      shim: this.spawnShim(name, name, t).catch((e: unknown) => {
        this.log.warn('cannot start a spare runc shim', { error: (e as Error).message });
        return undefined;
      }),
    };
    if (old) void this.retireSpare(old.shim);
  }

  private async retireSpare(p: Promise<RuncShim | undefined>): Promise<void> {
    const shim = await p;
    if (!shim) return;
    await this.shutdownShim(shim);
    shim.close();
    shim.removeDir();
  }

  /** Asks a runc shim with no containers left to exit. */
  private async shutdownShim(shim: RuncShim): Promise<void> {
    try {
      await shim.client.callRaw(TASK_SERVICE, 'Shutdown', Buffer.from(this.def.methods.Shutdown.request.encode({ id: shim.podId })), { timeoutMs: 3000 });
    } catch {
      // it exits with its connection anyway
    }
  }

  private adopt(shim: RuncShim): void {
    this.shims.set(shim.podId, shim);
    shim.once('exit', (reason) => {
      if (this.shims.get(shim.podId) === shim) this.shims.delete(shim.podId);
      const left = this.registry.tasksOfPod(shim.podId);
      this.log.info('runc shim exited', { podId: shim.podId, reason, tasksLeft: left.length });
      if (left.length === 0) {
        this.registry.removePod(shim.podId);
        shim.removeDir();
        void this.podGone(shim.podId);
      } else if (!shim.closedByUs) {
        void this.reapDeadShim(shim, left).catch((e: unknown) => this.log.error('cleanup after a dead runc shim failed', { podId: shim.podId, error: (e as Error).message }));
      }
    });
  }

  /**
   * A runc shim died under its containers (kill -9, OOM): what containerd does for a dead shim of
   * the runc handler, so nothing outlives it here either: each container is force-deleted with the
   * runc and root the shim recorded (its processes killed), its rootfs unmounted, its record kept as
   * a tombstone (exit 137) for containerd's Delete, and the pod leaves its vNode.
   */
  private async reapDeadShim(shim: RuncShim, tasks: TaskRecord[]): Promise<void> {
    this.log.warn('runc shim died under its containers: force-deleting them', { podId: shim.podId, tasks: tasks.map((t) => t.id) });
    for (const t of tasks) {
      const r = cleanupOrphan(t.bundle, t.id, t.namespace);
      for (const w of r.warnings) this.log.warn('dead shim cleanup', { id: t.id, warning: w });
      const ms = Date.now();
      this.registry.removeTask(t.id, { pid: r.pid, exitStatus: r.exitStatus, exitedAt: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 } });
      await this.taskGone(t.id, shim.podId);
    }
    this.registry.removePod(shim.podId);
    shim.removeDir();
    await this.podGone(shim.podId);
  }

  private shimOf(id: string): RuncShim | undefined {
    const podId = this.registry.task(id)?.podId ?? this.registry.tombstone(id)?.podId;
    return podId ? this.shims.get(podId) : undefined;
  }

  private async forward(method: string, id: string, payload: Buffer, ctx: CallContext): Promise<Uint8Array> {
    const shim = this.shimOf(id);
    if (!shim) throw new TtrpcError(Code.NOT_FOUND, `task ${id} not found`);
    const t0 = performance.now();
    try {
      return await shim.client.callRaw(TASK_SERVICE, method, payload, { signal: ctx.signal, metadata: ctx.metadata, ...(ctx.deadline ? { deadline: ctx.deadline } : {}) });
    } finally {
      if (TRACE) this.log.info('proxied', { method, ms: +(performance.now() - t0).toFixed(2) });
    }
  }

  /** Asks a live task's runc shim to kill and delete it (for `shim delete` of a task we still hold). */
  async forceDelete(id: string): Promise<DeleteResponse | undefined> {
    const shim = this.shimOf(id);
    if (!shim || shim.isClosed) return undefined;
    const m = this.def.methods;
    try {
      await shim.client.callRaw(TASK_SERVICE, 'Kill', Buffer.from(m.Kill.request.encode({ id, signal: 9, all: true })), { timeoutMs: 3000 });
    } catch {
      // already stopped
    }
    const res = m.Delete.response.decode(await shim.client.callRaw(TASK_SERVICE, 'Delete', Buffer.from(m.Delete.request.encode({ id })), { timeoutMs: 5000 }));
    const podId = this.registry.task(id)?.podId;
    this.registry.removeTask(id, { pid: res.pid, exitStatus: res.exitStatus, exitedAt: res.exitedAt ?? null });
    if (podId) await this.taskGone(id, podId);
    return res;
  }

  /**
   * Forgets a task whose runc shim could not delete it (the shim died under it): its record and
   * vNode rootfs, and, when it was the pod's last task and no shim serves the pod any more, the
   * pod itself, as the shim's exit would have done with no task left.
   */
  async dropTask(id: string): Promise<void> {
    const podId = this.registry.task(id)?.podId;
    this.registry.removeTask(id);
    if (!podId) return;
    await this.taskGone(id, podId);
    if (await this.podGoneIfIdle(podId)) this.log.warn('forgot a pod whose runc shim died under its tasks', { podId });
  }

  /** The pod's end when no task, no live runc shim and no shim start holds it any more (as a shim's exit does). */
  private async podGoneIfIdle(podId: string): Promise<boolean> {
    const shim = this.shims.get(podId);
    if (this.registry.tasksOfPod(podId).length > 0 || (shim && !shim.isClosed) || this.starting.has(podId)) return false;
    const rec = this.registry.pod(podId);
    this.registry.removePod(podId);
    if (rec) rmSync(rec.dir, { recursive: true, force: true });
    await this.opts.hooks?.podGone(podId).catch((e: unknown) => this.log.error('pod cleanup failed', { podId, error: String(e) }));
    return true;
  }

  /** Sizes of the in-memory tables (the manager's state entry). */
  stats(): { shims: number; starting: number; spare: number } {
    return { shims: this.shims.size, starting: this.starting.size, spare: this.spare ? 1 : 0 };
  }

  private async taskGone(id: string, podId: string): Promise<void> {
    try {
      await this.opts.hooks?.taskGone(id, podId);
    } catch (e) {
      this.log.error('task cleanup failed', { id, podId, error: (e as Error).message });
    }
  }

  /** The vNode layer lets go of the pod (idempotent: called at its last Delete and when its shim exits). */
  private async podGone(podId: string): Promise<void> {
    try {
      await this.opts.hooks?.podGone(podId);
    } catch (e) {
      this.log.error('pod cleanup failed', { podId, error: (e as Error).message });
    }
  }

  /** Whether any task of the pod is known (vnode-cni DEL releases a pod's vNode only if not). */
  podHasTasks(podId: string): boolean {
    return this.registry.tasksOfPod(podId).length > 0 || this.starting.has(podId);
  }

  hasTask(id: string): boolean {
    return !!this.registry.task(id);
  }

  private closing = false;

  /** Stops serving: the spare is shut down; pods' runc shims keep running for the next manager. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.spare) await this.retireSpare(this.spare.shim);
    this.spare = undefined;
    for (const s of this.shims.values()) s.close();
    this.shims.clear();
  }
}

function closedWithin(shim: RuncShim, ms: number): Promise<boolean> {
  if (shim.isClosed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    shim.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** SIGKILLs a runc shim by pid, only if that pid still is the shim working in `dir`. */
function killVerified(pid: number, dir: string, log: Logger): void {
  if (!pid) return;
  try {
    if (readlinkSync(`/proc/${pid}/cwd`) !== dir) return;
    process.kill(pid, 'SIGKILL');
    log.info('killed an orphaned runc shim', { pid, dir });
  } catch {
    // gone, or not ours
  }
}

function unsupported(method: string): never {
  throw new TtrpcError(Code.UNIMPLEMENTED, `${method} is not supported by vNode`);
}

function readAnnotations(bundle: string): Record<string, string> {
  let spec: { annotations?: Record<string, string> };
  try {
    spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as typeof spec;
  } catch (e) {
    throw new TtrpcError(Code.INVALID_ARGUMENT, `bundle ${bundle}: cannot read config.json: ${(e as Error).message}`);
  }
  return spec.annotations ?? {};
}

/**
 * Every Task request has the task id as field 1 (a string): read just that, so pass-through calls
 * are never fully decoded.
 */
export function readTaskId(payload: Buffer, method: string): string {
  // field 1, wire type 2 => tag byte 0x0a, then a varint length.
  if (payload.length < 2 || payload[0] !== 0x0a) throw new TtrpcError(Code.INVALID_ARGUMENT, `${method}: request has no task id`);
  let len = 0;
  let shift = 0;
  let i = 1;
  for (; i < payload.length && i < 6; i++) {
    const b = payload[i]!;
    len |= (b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) break;
  }
  i++;
  if (len === 0 || i + len > payload.length) throw new TtrpcError(Code.INVALID_ARGUMENT, `${method}: malformed task id`);
  return payload.toString('utf8', i, i + len);
}
