// What the main thread hands each vnodefs worker thread (all state is shared memory or fds).
import type { FuseNegotiated } from './protocol/FuseDispatcher.js';

export interface FuseWorkerData {
  index: number;
  /** the /dev/fuse fd this worker reads and answers on (the session fd or a clone of it; the
   * main thread owns it and closes it after the worker ended) */
  fd: number;
  kvSab: SharedArrayBuffer;
  arenaSab: SharedArrayBuffer;
  arenaSlots: number;
  arenaSlotSize: number;
  /** the epoch in this server's file handles (HandleArena) */
  arenaEpoch: number;
  /** an adopted connection's INIT terms (no INIT will come); absent for a fresh mount */
  negotiated?: FuseNegotiated;
  /** tests only: a worker that reads an OPEN of this path sets Ctl.HELD and never answers it
   * (a request in flight when the manager is killed) */
  holdOpenOf?: string;
  ctlSab: SharedArrayBuffer;
  /** FuseMetrics: this worker's counters and latency histograms (region `index`) */
  metricsSab: SharedArrayBuffer;
  cgroupRoot: string;
  procRoot: string;
  sysRoot: string;
  maxWrite: number;
  mountedAt: number;
  /** st_size of each file by path (fileSizes()), the same on every worker */
  sizes: Record<string, number>;
  /** poll this long for the next request before sleeping (0 = plain blocking read) */
  spinNs: number;
  /** this worker's CPU share per vNode (CpuBudget), 0 = none; vNodes are told apart by uid block */
  budget: { cpuPerSecond: number; windowMs: number; poolStart: number; blockSize: number };
}

/** Int32 slots of the control buffer. */
export const enum Ctl {
  INIT_DONE = 0,
  MINOR = 1,
  EXITED = 2,
  REQUESTS = 3,
  MALFORMED = 4,
  FAILED = 5,
  /** bumped to ask every vnodefs worker for a full garbage collection (at its next request) */
  GC_REQUEST = 7,
  /** heap in use (KiB) after the last requested collection: FUSE worker i at HEAP_KB + i (i < 8) */
  HEAP_KB = 8,
  /** the INIT terms a worker answered (with MINOR): fuse_init_out.flags, the kernel's flags2, max_readahead */
  INIT_FLAGS = 16,
  INIT_KERNEL_FLAGS2 = 17,
  INIT_READAHEAD = 18,
  /** tests: requests a worker holds unanswered (FuseWorkerData.holdOpenOf) */
  HELD = 19,
  /** requests the kernel resent (FUSE_UNIQUE_RESEND): read by a dead server, answered by us */
  RESENT = 20,
  SIZE = 24,
}
