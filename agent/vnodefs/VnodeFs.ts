// vnodefs: the FUSE filesystem that shows each container its own /proc and /sys figures.
// The main thread only mounts, starts the worker threads and writes shared tables (pod start
// times, sysctl resets); every request is answered on the workers, so a blocked or collecting
// main loop never delays a reader.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

import { fuseDevClose, fuseDevOpen, fuseMount, fuseUmount, MNT_DETACH, MS_NODEV, MS_NOSUID } from '../../addon/fuse.js';
import { logger } from '../common/log.js';
import { detectLayout } from '../cgroup/CgroupReader.js';
import { fileSizes } from './fileSize.js';
import { FuseMetrics } from './FuseMetrics.js';
import { HandleArena } from './HandleArena.js';
import { LOAD_INTERVAL_MS } from './render/loadAverage.js';
import { bindPoints, procFiles } from './procFiles.js';
import type { VnodeIdentity } from './render/renderIdentity.js';
import { SharedKv, type SharedKvStats } from './SharedKv.js';
import { cgroupExistsIn, StartTimes } from './StartTimes.js';
import { SysctlStore } from './SysctlStore.js';
import { VnodeIdentities } from './VnodeIdentities.js';
import { Ctl, type FuseWorkerData, type SamplerWorkerData } from './workerProtocol.js';

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
}

export interface VnodeFsStats {
  requests: number;
  malformed: number;
  failed: number;
  openHandles: number;
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
  /** a /proc destination runc refuses in config.json: bound by vnode-inject before runc start */
  inject: boolean;
}

/** The files and directories a container should get (docs/vnodefs.md). */
export function containerBindings(mountpoint: string): ContainerBinding[] {
  return bindPoints().map((b) => {
    const destination = `/${b.path}`;
    const inject = destination.startsWith('/proc/') && !RUNC_PROC_DESTINATIONS.includes(destination);
    return { source: join(mountpoint, b.path), destination, writable: b.writable, dir: b.dir, inject };
  });
}

/** How many files the namespace helper binds onto one new mount at most (kMaxOverlays in
 * addon/src/nsaction.cc): one more would be refused there, so it is checked here first. */
export const MAX_MOUNT_OVERLAYS = 64;

/**
 * What goes on top of a procfs or sysfs the pod mounts itself (the seccomp mount handler):
 * (file or directory in the vnodefs mount, path inside the new mount), every /proc one including
 * the /proc/sys entries (the new mount has none of vnode-inject's binds).
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
  private readonly opts: Required<Omit<VnodeFsOptions, 'mountpoint'>>;
  private readonly kv: SharedKv;
  private readonly ctl = new Int32Array(new SharedArrayBuffer(Ctl.SIZE * 4));
  private arena: HandleArena | null = null;
  /** The workers' request counters and latency histograms (shared memory, see FuseMetrics). */
  readonly metrics: FuseMetrics;
  private readonly workers: Worker[] = [];
  private sampler: Worker | null = null;
  private sessionFd = -1;
  private mounted = false;
  private connection: number | null = null;
  private readonly sysctls: SysctlStore;
  private readonly identities: VnodeIdentities;
  private readonly starts: StartTimes;

  constructor(o: VnodeFsOptions) {
    this.mountpoint = o.mountpoint;
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
    this.sessionFd = fuseDevOpen();
    const data = `fd=${this.sessionFd},rootmode=40000,user_id=0,group_id=0,allow_other,subtype=vnodefs`;
    try {
      fuseMount('vnodefs', this.mountpoint, MS_NOSUID | MS_NODEV, data);
    } catch (e) {
      fuseDevClose(this.sessionFd);
      this.sessionFd = -1;
      throw e;
    }
    this.mounted = true;
    const mountedAt = Math.floor(Date.now() / 1000);
    const sizes = fileSizes(procFiles, this.opts.procRoot);
    this.arena = new HandleArena({ workers: this.opts.workers, slotsPerWorker: ARENA_SLOTS, slotSize: ARENA_SLOT_SIZE });
    for (let i = 0; i < this.opts.workers; i++) {
      const wd: FuseWorkerData = {
        index: i,
        sessionFd: this.sessionFd,
        clone: this.opts.cloneFds && i > 0,
        kvSab: this.kv.sab,
        arenaSab: this.arena.sab,
        arenaSlots: ARENA_SLOTS,
        arenaSlotSize: ARENA_SLOT_SIZE,
        ctlSab: this.ctl.buffer as SharedArrayBuffer,
        metricsSab: this.metrics.sab,
        cgroupRoot: this.opts.cgroupRoot,
        procRoot: this.opts.procRoot,
        sysRoot: this.opts.sysRoot,
        maxWrite: MAX_WRITE,
        mountedAt,
        sizes,
        spinNs: i === 0 ? this.opts.spinNs : 0,
        budget: { cpuPerSecond: this.opts.budget.cpuPerVnode / this.opts.workers, windowMs: this.opts.budget.windowMs, poolStart: this.opts.budget.poolStart, blockSize: this.opts.budget.blockSize },
      };
      const w = new Worker(new URL('./fuseWorker.js', import.meta.url), { workerData: wd, name: `vnodefs-${i}` });
      w.on('error', (e) => log.error('vnodefs worker died', { worker: i, error: e.stack }));
      this.workers.push(w);
    }
    const sd: SamplerWorkerData = { kvSab: this.kv.sab, ctlSab: this.ctl.buffer as SharedArrayBuffer, cgroupRoot: this.opts.cgroupRoot, procRoot: this.opts.procRoot, intervalMs: this.opts.loadIntervalMs };
    this.sampler = new Worker(new URL('./samplerWorker.js', import.meta.url), { workerData: sd, name: 'vnodefs-sampler' });
    this.sampler.on('error', (e) => log.error('vnodefs sampler died', { error: e.stack }));
    const r = waitAsync(this.ctl, Ctl.INIT_DONE, 0, timeoutMs);
    const res = r.async ? await r.value : r.value;
    if (res === 'timed-out') {
      await this.unmount().catch(() => undefined);
      throw new Error(`vnodefs on ${this.mountpoint}: no FUSE INIT within ${timeoutMs} ms`);
    }
    // Workers hold the process alive only until the mount is up (waitAsync does not); after that
    // the owner decides the process's life and calls unmount().
    for (const w of this.workers) w.unref();
    this.sampler.unref();
    this.connection = connectionId(this.mountpoint);
    log.info('vnodefs mounted', { mountpoint: this.mountpoint, workers: this.opts.workers, protocol: `7.${Atomics.load(this.ctl, Ctl.MINOR)}` });
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

  /** Asks every vnodefs thread for a full garbage collection: the FUSE workers at their next
   * request, the sampler at once (its sleep is cut short; it samples early, which is harmless). */
  requestGc(): void {
    Atomics.add(this.ctl, Ctl.GC_REQUEST, 1);
    Atomics.notify(this.ctl, Ctl.STOP_SAMPLER);
  }

  /** Heap in use (KiB) of each vnodefs thread after its last requested collection (0: none yet). */
  heapAfterGc(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < Math.min(this.opts.workers, 7); i++) out[`vnodefs${i}`] = Atomics.load(this.ctl, Ctl.HEAP_KB + i);
    out.vnodefsSampler = Atomics.load(this.ctl, Ctl.HEAP_KB + 7);
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
    Atomics.store(this.ctl, Ctl.STOP_SAMPLER, 1);
    Atomics.notify(this.ctl, Ctl.STOP_SAMPLER);
    try {
      fuseUmount(this.mountpoint, MNT_DETACH);
    } catch (e) {
      log.warn('vnodefs umount failed', { mountpoint: this.mountpoint, error: String(e) });
    }
    if (!(await this.waitWorkersExit(graceMs)) && this.connection !== null) {
      abortConnection(this.connection);
      await this.waitWorkersExit(graceMs);
    }
    await Promise.all([...this.workers, ...(this.sampler ? [this.sampler] : [])].map((w) => w.terminate().catch(() => 0)));
    this.workers.length = 0;
    this.sampler = null;
    if (this.sessionFd >= 0) fuseDevClose(this.sessionFd);
    this.sessionFd = -1;
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
