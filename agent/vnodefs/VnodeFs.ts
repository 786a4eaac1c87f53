// vnodefs: the FUSE filesystem that shows each container its own /proc and /sys figures.
// The main thread only mounts, starts the worker threads and writes shared tables (pod start
// times, sysctl resets); every request is answered on the workers, so a blocked or collecting
// main loop never delays a reader.
import { execFileSync } from 'node:child_process';
import { existsSync, fstatSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

import { fuseDevClone, fuseDevClose, fuseDevOpen, fuseMount, fuseUmount, MNT_DETACH, MS_NODEV, MS_NOSUID } from '../../addon/fuse.js';
import { logger } from '../common/log.js';
import { parseMountInfo } from '../common/mountinfo.js';
import { CgroupReader, detectLayout } from '../cgroup/CgroupReader.js';
import { fileSizes } from './fileSize.js';
import { FuseMetrics } from './FuseMetrics.js';
import { HandleArena, MAX_EPOCH } from './HandleArena.js';
import { FUSE_KERNEL_MINOR_VERSION, FUSE_MIN_KERNEL_MINOR, FUSE_NOTIFY_RESEND, OUT_HEADER_SIZE } from './protocol/fuseAbi.js';
import type { FuseNegotiated } from './protocol/FuseDispatcher.js';
import { LOAD_INTERVAL_MS } from './render/loadAverage.js';
import { CONTAINERS_DIR, containerHash, InodeTable, isContainerName } from './InodeTable.js';
import { dropKeptFill, pinSlot } from './VnodeFsOps.js';
import { bindPoints, emptyDirs, perContainerFiles, procFiles } from './procFiles.js';
import type { VnodeIdentity } from './render/renderIdentity.js';
import { SharedKv, type SharedKvStats } from './SharedKv.js';
import { cgroupExistsIn, START_SWEEP_INTERVAL_MS, StartTimes } from './StartTimes.js';
import { LoadSampler } from './LoadSampler.js';
import { LoadTable } from './LoadTable.js';
import { SysctlStore } from './SysctlStore.js';
import { VnodeIdentities } from './VnodeIdentities.js';
import { Ctl, type FuseWorkerData } from './workerProtocol.js';
import { WORKER_RESOURCE_LIMITS } from '../common/workerLimits.js';

const log = logger('vnodefs');

// Atomics.waitAsync is in Node 20 but not in the ES2023 lib typings.
type WaitAsync = (a: Int32Array, index: number, value: number, timeoutMs?: number) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

export interface VnodeFsOptions {
  /** where to mount (must exist) */
  mountpoint: string;
  /** FUSE worker threads; default max(2, min(4, cpus)) */
  workers?: number;
  /** one cloned /dev/fuse fd per worker (FUSE_DEV_IOC_CLONE) instead of all sharing one */
  cloneFds?: boolean;
  cgroupRoot?: string;
  procRoot?: string;
  sysRoot?: string;
  /** load average sampling interval; the kernel's is 5 s */
  loadIntervalMs?: number;
  /** shared table entries (sysctl values, start times, loads) */
  kvCapacity?: number;
  /** how long the first worker, when idle, polls for the next request before sleeping, ns (the
   * others sleep at once: a second spinning worker takes the CPU a woken reader needs) */
  spinNs?: number;
  /** CPU-seconds per second the workers together spend on one vNode's requests before
   * deferring them to the next window (0: no budget); vNodes are told apart by their host uid
   * block: `poolStart` and `blockSize` of the id pool. */
  budget?: { cpuPerVnode: number; windowMs: number; poolStart: number; blockSize: number };
  /** tests only: a worker that reads an OPEN of this path (e.g. 'proc/uptime') never answers it;
   * adopt() without FUSE_NOTIFY_RESEND */
  testing?: { holdOpenOf?: string; noResend?: boolean };
}

/** The terms of a FUSE connection a successor needs to adopt it (JSON; handoverState.ts). */
export interface VnodeFsConnection extends FuseNegotiated {
  version: 1;
  mountpoint: string;
  /** the FUSE connection number (the mount's device minor), checked against the mount at adopt */
  connection: number;
  /** the file-handle epoch of the server that wrote this; an adopter takes another */
  epoch: number;
  /** file times, seconds since the epoch */
  mountedAt: number;
}

/** What VnodeFs.handover() gives and VnodeFs.adopt() takes. */
export interface VnodeFsHandover {
  /** /dev/fuse fds of the connection, the session fd first */
  fds: number[];
  state: VnodeFsConnection;
}

export interface VnodeFsStats {
  requests: number;
  malformed: number;
  failed: number;
  openHandles: number;
  /** requests an earlier server read and never answered, resent by the kernel and answered here */
  resent: number;
}

const ARENA_SLOTS = 256;
const ARENA_SLOT_SIZE = 32 * 1024;
const MAX_WRITE = 32 * 1024;

/** The only /proc destinations runc 1.1 binds from config.json (libcontainer checkProcMount). */
const RUNC_PROC_DESTINATIONS = ['/proc/cpuinfo', '/proc/diskstats', '/proc/meminfo', '/proc/stat', '/proc/swaps', '/proc/uptime', '/proc/loadavg', '/proc/slabinfo', '/proc/net/dev'];

export interface ContainerBinding {
  /** in the vnodefs mount */
  source: string;
  /** in the container; also the host path it stands for */
  destination: string;
  /** a /proc/sys entry the vNode writes: bound without ro */
  writable: boolean;
  /** a directory bound as a whole (DMI, and the empty ones that hide a host directory) */
  dir: boolean;
  /** a /proc destination runc refuses in config.json: bound by the manager before runc start */
  inject: boolean;
  /** from the container's own directory (containers/<id>/), not the shared tree */
  own: boolean;
}

/** Paths of the files a container gets its own inode of (see perContainerFiles). */
const PER_CONTAINER_PATHS = new Set(perContainerFiles.map((f) => f.path));

/**
 * The files and directories a container should get (docs/vnodefs.md). With its id, the files
 * the kernel may cache come from the container's own directory (containers/<id>/...,
 * "Per-container files"); without (or for an id that is no file name), all from the shared tree.
 */
export function containerBindings(mountpoint: string, containerId?: string): ContainerBinding[] {
  const own = containerId !== undefined && isContainerName(containerId) ? join(mountpoint, CONTAINERS_DIR, containerId) : undefined;
  return bindPoints().map((b) => {
    const destination = `/${b.path}`;
    const inject = destination.startsWith('/proc/') && !RUNC_PROC_DESTINATIONS.includes(destination);
    const mine = own !== undefined && PER_CONTAINER_PATHS.has(b.path);
    return { source: mine ? join(own, b.path) : join(mountpoint, b.path), destination, writable: b.writable, dir: b.dir, inject, own: mine };
  });
}

/** How many files the namespace helper binds onto one new mount at most (kMaxOverlays in
 * addon/src/nsaction.cc): one more would be refused there, so it is checked here first. */
export const MAX_MOUNT_OVERLAYS = 64;

/**
 * What goes on top of a procfs or sysfs the pod mounts itself (the seccomp mount handler):
 * (file or directory in the vnodefs mount, path inside the new mount), every /proc one including
 * the /proc/sys entries (the new mount has none of the container's start-time binds).
 */
export function mountOverlays(mountpoint: string): { proc: [string, string][]; sys: [string, string][] } {
  const proc: [string, string][] = [];
  const sys: [string, string][] = [];
  for (const b of bindPoints()) {
    if (b.path.startsWith('proc/')) proc.push([join(mountpoint, b.path), b.path.slice('proc/'.length)]);
    else if (b.path.startsWith('sys/')) sys.push([join(mountpoint, b.path), b.path.slice('sys/'.length)]);
    else throw new Error(`vnodefs registry: ${b.path} is neither under proc/ nor sys/`);
  }
  for (const [kind, list] of [['proc', proc], ['sysfs', sys]] as const) {
    if (list.length > MAX_MOUNT_OVERLAYS) throw new Error(`vnodefs: ${list.length} files to bind on a new ${kind} mount, the namespace helper takes at most ${MAX_MOUNT_OVERLAYS}`);
  }
  return { proc, sys };
}

export class VnodeFs {
  readonly mountpoint: string;
  private readonly opts: Required<Omit<VnodeFsOptions, 'mountpoint' | 'testing'>>;
  private readonly kv: SharedKv;
  private readonly ctl = new Int32Array(new SharedArrayBuffer(Ctl.SIZE * 4));
  private arena: HandleArena | null = null;
  /** The workers' request counters and latency histograms (shared memory, see FuseMetrics). */
  readonly metrics: FuseMetrics;
  private readonly workers: Worker[] = [];
  /** The load sampler's and start-time sweep's timer (startSampler). */
  private samplerTimer: NodeJS.Timeout | null = null;
  /** the device fds the workers read (the session fd first); closed at unmount */
  private fds: number[] = [];
  private mounted = false;
  private connection: number | null = null;
  private negotiated: FuseNegotiated | null = null;
  /** this server's file-handle epoch (HandleArena) */
  private epoch = 1;
  /** file times (seconds): the connection's first mount, kept by adopters */
  private mountedAt = 0;
  private readonly holdOpenOf: string | undefined;
  private readonly noResend: boolean;
  private readonly sysctls: SysctlStore;
  private readonly identities: VnodeIdentities;
  /** the workers' tree, for the node ids of a container's files (forgetContainer) */
  private readonly table = new InodeTable(procFiles, emptyDirs, perContainerFiles);
  private readonly starts: StartTimes;

  constructor(o: VnodeFsOptions) {
    this.mountpoint = o.mountpoint;
    this.holdOpenOf = o.testing?.holdOpenOf;
    this.noResend = o.testing?.noResend ?? false;
    this.opts = {
      workers: o.workers ?? Math.max(2, Math.min(4, cpus().length)),
      cloneFds: o.cloneFds ?? true,
      cgroupRoot: o.cgroupRoot ?? '/sys/fs/cgroup',
      procRoot: o.procRoot ?? '/proc',
      sysRoot: o.sysRoot ?? '/sys',
      loadIntervalMs: o.loadIntervalMs ?? LOAD_INTERVAL_MS,
      kvCapacity: o.kvCapacity ?? 8192,
      spinNs: o.spinNs ?? Number(process.env.VNODEFS_SPIN_NS ?? 50_000),
      budget: o.budget ?? { cpuPerVnode: 0, windowMs: 50, poolStart: Number.MAX_SAFE_INTEGER, blockSize: 65536 },
    };
    this.kv = new SharedKv(this.opts.kvCapacity);
    this.metrics = new FuseMetrics({ workers: this.opts.workers });
    this.sysctls = new SysctlStore(this.kv, this.opts.procRoot);
    this.identities = new VnodeIdentities(this.kv);
    this.starts = new StartTimes(this.kv, cgroupExistsIn(detectLayout(this.opts.cgroupRoot)));
  }

  /** Mounts and starts the workers; resolves once the kernel's INIT has been answered. */
  async mount(timeoutMs = 5000): Promise<void> {
    if (this.mounted) throw new Error(`vnodefs already mounted on ${this.mountpoint}`);
    const session = fuseDevOpen();
    const data = `fd=${session},rootmode=40000,user_id=0,group_id=0,allow_other,subtype=vnodefs`;
    try {
      fuseMount('vnodefs', this.mountpoint, MS_NOSUID | MS_NODEV, data);
    } catch (e) {
      fuseDevClose(session);
      throw e;
    }
    this.mounted = true;
    this.fds = [session];
    try {
      for (let i = 1; i < this.opts.workers && this.opts.cloneFds; i++) this.fds.push(fuseDevClone(session));
    } catch (e) {
      await this.unmount().catch(() => undefined);
      throw e;
    }
    this.mountedAt = Math.floor(Date.now() / 1000);
    this.epoch = 1;
    this.startWorkers(undefined);
    const r = waitAsync(this.ctl, Ctl.INIT_DONE, 0, timeoutMs);
    const res = r.async ? await r.value : r.value;
    if (res === 'timed-out') {
      await this.unmount().catch(() => undefined);
      throw new Error(`vnodefs on ${this.mountpoint}: no FUSE INIT within ${timeoutMs} ms`);
    }
    this.negotiated = {
      minor: Atomics.load(this.ctl, Ctl.MINOR),
      flags: Atomics.load(this.ctl, Ctl.INIT_FLAGS) >>> 0,
      kernelFlags2: Atomics.load(this.ctl, Ctl.INIT_KERNEL_FLAGS2) >>> 0,
      maxReadahead: Atomics.load(this.ctl, Ctl.INIT_READAHEAD) >>> 0,
      maxWrite: MAX_WRITE,
    };
    // Workers hold the process alive only until the mount is up (waitAsync does not); after that
    // the owner decides the process's life and calls unmount().
    this.unrefThreads();
    this.connection = connectionId(this.mountpoint);
    log.info('vnodefs mounted', { mountpoint: this.mountpoint, workers: this.opts.workers, protocol: `7.${this.negotiated.minor}` });
  }

  /**
   * Serves a connection an earlier server (a manager since killed) mounted and initialised,
   * instead of mounting: `h` is what that server's handover() gave (its device fds, kept for it
   * by another process while it died, and the terms of its INIT). Nothing is mounted and no INIT
   * comes; readers blocked on the mount since the old server died are answered from now on.
   * Requests the old server had read but not answered are queued again first
   * (FUSE_NOTIFY_RESEND, kernel 6.9+), before any worker reads. The fds become this instance's
   * (closed at unmount; the keeper keeps its own copies). Register vNodes and start times before
   * adopting, so the first requests already see them. Resolves once the workers are started.
   */
  async adopt(h: VnodeFsHandover): Promise<{ resent: boolean }> {
    if (this.mounted) throw new Error(`vnodefs already mounted on ${this.mountpoint}`);
    const st = h.state;
    if (st.version !== 1) throw new Error(`vnodefs adopt: state version ${String(st.version)} is not 1`);
    if (st.mountpoint !== this.mountpoint) throw new Error(`vnodefs adopt: the connection is mounted on ${st.mountpoint}, not ${this.mountpoint}`);
    if (st.minor < FUSE_MIN_KERNEL_MINOR || st.minor > FUSE_KERNEL_MINOR_VERSION) throw new Error(`vnodefs adopt: protocol 7.${st.minor} is not one this server speaks`);
    if (st.maxWrite > MAX_WRITE * 32) throw new Error(`vnodefs adopt: max_write ${st.maxWrite} is larger than this server reads`);
    if (!h.fds.length) throw new Error('vnodefs adopt: no device fd');
    for (const fd of h.fds) {
      const rdev = fstatSync(fd).rdev;
      if (rdev !== FUSE_DEV_RDEV) throw new Error(`vnodefs adopt: fd ${fd} is not /dev/fuse (rdev ${rdev})`);
    }
    // Read from mountinfo, not stat(2): a stat of the mount would wait for a server, i.e. us.
    const conn = mountedConnection(this.mountpoint);
    if (conn === null) throw new Error(`vnodefs adopt: ${this.mountpoint} is not a vnodefs mount`);
    if (conn !== st.connection) throw new Error(`vnodefs adopt: ${this.mountpoint} is FUSE connection ${conn}, the state names ${st.connection}`);
    const use = h.fds.slice(0, this.opts.workers);
    const extra = h.fds.slice(this.opts.workers);
    this.fds = [...use];
    this.mounted = true;
    this.connection = conn;
    try {
      for (let i = use.length; i < this.opts.workers && this.opts.cloneFds; i++) this.fds.push(fuseDevClone(use[0]!));
    } catch (e) {
      this.mounted = false;
      for (const fd of this.fds.slice(use.length)) fuseDevClose(fd);
      this.fds = [];
      throw e;
    }
    this.negotiated = { minor: st.minor, flags: st.flags, kernelFlags2: st.kernelFlags2, maxReadahead: st.maxReadahead, maxWrite: st.maxWrite };
    this.mountedAt = st.mountedAt;
    this.epoch = nextEpoch(st.epoch);
    // Before any worker reads: a request resent while one of ours is answering it would be
    // answered twice (the second answer found no request).
    const resent = !this.noResend && notifyResend(this.fds[0]!);
    for (const fd of extra) fuseDevClose(fd);
    Atomics.store(this.ctl, Ctl.MINOR, st.minor);
    Atomics.store(this.ctl, Ctl.INIT_DONE, 1);
    this.startWorkers(this.negotiated);
    this.unrefThreads();
    log.info('vnodefs adopted its FUSE connection', { mountpoint: this.mountpoint, connection: conn, workers: this.opts.workers, protocol: `7.${st.minor}`, resent, epoch: this.epoch });
    if (!resent) log.warn('vnodefs: the kernel did not take FUSE_NOTIFY_RESEND (before 6.9): requests the old server had read stay unanswered until their callers are killed', { mountpoint: this.mountpoint });
    return { resent };
  }

  /** Creates a VnodeFs and adopts a connection (see adopt()). */
  static async adopt(o: VnodeFsOptions, h: VnodeFsHandover): Promise<VnodeFs> {
    const fs = new VnodeFs(o);
    await fs.adopt(h);
    return fs;
  }

  /**
   * What a keeper must hold for a successor to adopt this connection: the device fds the
   * workers read (dup them, or pass them with SCM_RIGHTS; they stay this instance's) and the
   * terms of INIT (JSON; handoverState.ts saves and loads it). Every fd matters: requests a
   * worker has read sit on that worker's fd until answered, and closing the last copy of an fd
   * ends them with an error. Ask again after adopt(): the epoch changes and clones may be added.
   */
  handover(): VnodeFsHandover {
    if (!this.mounted || !this.negotiated || this.connection === null) throw new Error(`vnodefs on ${this.mountpoint} is not serving`);
    return {
      fds: [...this.fds],
      state: { version: 1, mountpoint: this.mountpoint, connection: this.connection, ...this.negotiated, epoch: this.epoch, mountedAt: this.mountedAt },
    };
  }

  private startWorkers(negotiated: FuseNegotiated | undefined): void {
    const sizes = fileSizes(procFiles, this.opts.procRoot);
    this.arena = new HandleArena({ workers: this.opts.workers, slotsPerWorker: ARENA_SLOTS, slotSize: ARENA_SLOT_SIZE, epoch: this.epoch });
    for (let i = 0; i < this.opts.workers; i++) {
      const wd: FuseWorkerData = {
        index: i,
        fd: this.fds[Math.min(i, this.fds.length - 1)]!,
        kvSab: this.kv.sab,
        arenaSab: this.arena.sab,
        arenaSlots: ARENA_SLOTS,
        arenaSlotSize: ARENA_SLOT_SIZE,
        arenaEpoch: this.epoch,
        negotiated,
        holdOpenOf: this.holdOpenOf,
        ctlSab: this.ctl.buffer as SharedArrayBuffer,
        metricsSab: this.metrics.sab,
        cgroupRoot: this.opts.cgroupRoot,
        procRoot: this.opts.procRoot,
        sysRoot: this.opts.sysRoot,
        maxWrite: Math.max(MAX_WRITE, negotiated?.maxWrite ?? 0),
        mountedAt: this.mountedAt,
        sizes,
        spinNs: i === 0 ? this.opts.spinNs : 0,
        budget: { cpuPerSecond: this.opts.budget.cpuPerVnode / this.opts.workers, windowMs: this.opts.budget.windowMs, poolStart: this.opts.budget.poolStart, blockSize: this.opts.budget.blockSize },
      };
      const w = new Worker(new URL('./fuseWorker.js', import.meta.url), { workerData: wd, name: `vnodefs-${i}`, resourceLimits: WORKER_RESOURCE_LIMITS });
      w.on('error', (e) => log.error('vnodefs worker died', { worker: i, error: e.stack }));
      this.workers.push(w);
    }
    this.startSampler();
  }

  /** Every container's load average (LoadSampler, a few cgroup reads per tick) and, every 30 s, the
   * sweep of pod start times whose cgroup is gone (StartTimes), on the main thread: a thread of
   * their own cost ~7 MiB of V8 heap (BENCH manager-memory), and a tick late by a busy main loop
   * only shifts a load average sample. */
  private startSampler(): void {
    const sampler = new LoadSampler(new LoadTable(this.kv, this.opts.procRoot), new CgroupReader({ root: this.opts.cgroupRoot }));
    let sweptAt = Date.now();
    const tick = (): void => {
      try {
        sampler.tick();
      } catch (e) {
        log.error('vnodefs load sampling failed', { error: e instanceof Error ? e.stack : String(e) });
      }
      if (Date.now() - sweptAt < START_SWEEP_INTERVAL_MS) return;
      sweptAt = Date.now();
      try {
        const n = this.starts.sweep(sweptAt);
        if (n) log.info('vnodefs dropped start times of pods whose cgroup is gone', { entries: n });
      } catch (e) {
        log.error('vnodefs start time sweep failed', { error: e instanceof Error ? e.stack : String(e) });
      }
    };
    tick();
    this.samplerTimer = setInterval(tick, this.opts.loadIntervalMs);
  }

  private unrefThreads(): void {
    for (const w of this.workers) w.unref();
    this.samplerTimer?.unref();
  }

  /** Tests only: requests a worker read and holds unanswered (FuseWorkerData.holdOpenOf). */
  heldRequests(): number {
    return Atomics.load(this.ctl, Ctl.HELD);
  }

  /**
   * The pod's start time for every container under cgroupPath (e.g. the pod cgroup). Never
   * fails the pod: with the shared table full even after dropping the start times of pods whose
   * cgroup is gone, it is logged and not stored, and the pod's uptime counts from its cgroup's
   * creation instead. Returns whether it was stored.
   */
  setStartTime(cgroupPath: string, startedAtMs: number): boolean {
    const stored = this.starts.set(cgroupPath, startedAtMs);
    if (!stored) log.error('vnodefs shared table full: pod start time not stored (its /proc/uptime counts from its cgroup creation)', { cgroupPath, ...this.kv.stats() });
    return stored;
  }

  /** Forgets a pod's start time (when the pod is gone). */
  clearStartTime(cgroupPath: string): void {
    this.starts.clear(cgroupPath);
  }

  /** The shared table's fill, and its entries by kind (start, sysctl, load). */
  tableStats(): SharedKvStats & { entries: Record<string, number> } {
    const entries: Record<string, number> = {};
    for (const [k] of this.kv.entries()) {
      const kind = k.slice(0, k.indexOf(':'));
      entries[kind] = (entries[kind] ?? 0) + 1;
    }
    return { ...this.kv.stats(), entries };
  }

  /** Values a vNode wrote to its emulated /proc/sys entries. */
  sysctlValues(vnodeId: string): Record<string, string> {
    return this.sysctls.written(vnodeId);
  }

  /** Every vNode's written /proc/sys values (kept across a manager restart: sysctlPersistence.ts). */
  sysctlSnapshot(): Record<string, Record<string, string>> {
    return this.sysctls.snapshot();
  }

  /** Puts saved /proc/sys values back for the vNodes `keep` accepts (live ones); returns how many. */
  restoreSysctls(snap: Record<string, Record<string, string>>, keep: (vnodeId: string) => boolean): number {
    return this.sysctls.restore(snap, keep);
  }

  /** Forgets a vNode's /proc/sys values (when the vNode is deleted). */
  dropVnode(vnodeId: string): void {
    this.sysctls.drop(vnodeId);
  }

  /**
   * Names the vNode that owns a host id range: its processes then read that vNode's DMI files
   * and boot_id. Must happen before its containers start (a caller of no registered vNode gets
   * EIO for those files, never the host's); registering a range again replaces its owner.
   */
  registerVnode(v: VnodeIdentity): void {
    this.identities.register(v);
  }

  /** Forgets the vNode whose id range starts at uidStart (when it is deleted). */
  forgetVnode(uidStart: number): void {
    this.identities.forget(uidStart);
  }

  /**
   * A container was deleted: its page-cache pin and kept renderings go ("Per-container files" in
   * docs/vnodefs.md). The kernel may keep its inodes in the dentry cache for long after (until
   * memory pressure), so waiting for their FORGET would let the shared table fill with the pods
   * that came and went.
   */
  forgetContainer(id: string): void {
    if (!isContainerName(id)) return;
    this.kv.delete(pinSlot(containerHash(id)));
    if (this.arena) for (const ino of this.table.containerFiles(id)) dropKeptFill(this.kv, this.arena, ino);
  }

  /** Asks every vnodefs worker thread for a full garbage collection at its next request. */
  requestGc(): void {
    Atomics.add(this.ctl, Ctl.GC_REQUEST, 1);
  }

  /** Heap in use (KiB) of each vnodefs thread after its last requested collection (0: none yet). */
  heapAfterGc(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < Math.min(this.opts.workers, 7); i++) out[`vnodefs${i}`] = Atomics.load(this.ctl, Ctl.HEAP_KB + i);
    return out;
  }

  /** Mounted, every FUSE worker running, and the mount still in this mount namespace. Reads no
   * file of the mount: a hung worker must not hang the probe that reports it. */
  health(mountinfo: { mountPoint: string; fsType: string }[]): { ok: boolean; detail: string } {
    if (!this.mounted) return { ok: false, detail: 'not mounted' };
    const exited = Atomics.load(this.ctl, Ctl.EXITED);
    if (exited > 0) return { ok: false, detail: `${exited} of ${this.opts.workers} FUSE workers ended` };
    if (!mountinfo.some((m) => m.mountPoint === this.mountpoint && m.fsType === 'fuse.vnodefs')) return { ok: false, detail: `${this.mountpoint} is no longer a vnodefs mount` };
    return { ok: true, detail: `${this.opts.workers} workers, ${this.stats().requests} requests` };
  }

  stats(): VnodeFsStats {
    return {
      requests: Atomics.load(this.ctl, Ctl.REQUESTS),
      malformed: Atomics.load(this.ctl, Ctl.MALFORMED),
      failed: Atomics.load(this.ctl, Ctl.FAILED),
      openHandles: this.arena?.inUse() ?? 0,
      resent: Atomics.load(this.ctl, Ctl.RESENT),
    };
  }

  /**
   * Detaches the mount and stops the threads. Workers end when the kernel ends the connection
   * (no bind mount or open file left); if something still holds it after `graceMs`, the
   * connection is aborted through fusectl so nothing hangs.
   */
  async unmount(graceMs = 2000): Promise<void> {
    if (!this.mounted) return;
    this.mounted = false;
    if (this.samplerTimer) clearInterval(this.samplerTimer);
    this.samplerTimer = null;
    try {
      fuseUmount(this.mountpoint, MNT_DETACH);
    } catch (e) {
      log.warn('vnodefs umount failed', { mountpoint: this.mountpoint, error: String(e) });
    }
    if (!(await this.waitWorkersExit(graceMs)) && this.connection !== null) {
      abortConnection(this.connection);
      await this.waitWorkersExit(graceMs);
    }
    await Promise.all(this.workers.map((w) => w.terminate().catch(() => 0)));
    this.workers.length = 0;
    for (const fd of this.fds) fuseDevClose(fd);
    this.fds = [];
  }

  private async waitWorkersExit(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    // waitAsync alone does not keep the event loop alive.
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      for (;;) {
        const exited = Atomics.load(this.ctl, Ctl.EXITED);
        if (exited >= this.workers.length) return true;
        const left = deadline - Date.now();
        if (left <= 0) return false;
        const r = waitAsync(this.ctl, Ctl.EXITED, exited, left);
        if (r.async) await r.value;
      }
    } finally {
      clearInterval(keepAlive);
    }
  }
}

/** /dev/fuse: character device 10:229, as st_rdev (major << 8 | minor for small numbers). */
const FUSE_DEV_RDEV = (10 << 8) | 229;

/** A handle epoch in [1, MAX_EPOCH] other than the previous server's. Random rather than counted:
 * a server killed before its successor's state was saved would otherwise share an epoch with it. */
function nextEpoch(previous: number): number {
  for (;;) {
    const e = 1 + Math.floor(Math.random() * MAX_EPOCH);
    if (e !== previous) return e;
  }
}

/**
 * Writes FUSE_NOTIFY_RESEND on a device fd: the kernel moves every request read from any fd of
 * the connection and not yet answered back to the pending queue (kernel 6.9+). False when the
 * kernel does not know the notification (EINVAL).
 */
export function notifyResend(fd: number): boolean {
  const b = Buffer.alloc(OUT_HEADER_SIZE);
  b.writeUInt32LE(OUT_HEADER_SIZE, 0);
  b.writeInt32LE(FUSE_NOTIFY_RESEND, 4);
  b.writeBigUInt64LE(0n, 8);
  try {
    writeSync(fd, b);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EINVAL') return false;
    throw e;
  }
}

/** The FUSE connection number of the vnodefs mount on `mountpoint`, from mountinfo (no request
 * to the file system), or null when none is mounted there. */
export function mountedConnection(mountpoint: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): number | null {
  // The last one listed is on top.
  const m = parseMountInfo(mountinfo).filter((x) => x.fsType === 'fuse.vnodefs' && x.mountPoint === mountpoint).pop();
  return m ? Number(m.device.split(':')[1]) : null;
}

/** The FUSE connection number: the minor of the mount's anonymous device. */
function connectionId(mountpoint: string): number | null {
  try {
    const dev = statSync(mountpoint).dev;
    return (dev & 0xff) | ((dev >>> 12) & ~0xff);
  } catch {
    return null;
  }
}

/** Writes to fusectl's abort file, mounting fusectl on a private directory if needed. */
function abortConnection(conn: number): void {
  const std = '/sys/fs/fuse/connections';
  if (existsSync(join(std, String(conn), 'abort'))) {
    writeFileSync(join(std, String(conn), 'abort'), '1');
    return;
  }
  let dir: string | null = null;
  try {
    mkdirSync('/run', { recursive: true });
    dir = mkdtempSync('/run/vnodefs-fusectl-');
    fuseMountCtl(dir);
    writeFileSync(join(dir, String(conn), 'abort'), '1');
  } catch (e) {
    log.warn('vnodefs could not abort its FUSE connection', { connection: conn, error: String(e) });
  } finally {
    if (dir) {
      try {
        fuseUmount(dir, MNT_DETACH);
      } catch {
        /* not mounted */
      }
      rmdirSync(dir);
    }
  }
}

function fuseMountCtl(dir: string): void {
  execFileSync('mount', ['-t', 'fusectl', 'fusectl', dir]);
}
