// A vnodefs worker thread: reads requests from /dev/fuse with a blocking read and answers them,
// never waiting on the main thread. Several run side by side, each on its own cloned fd.
import { writeSync } from 'node:fs';
import { workerData } from 'node:worker_threads';

import { fuseDevRead, fuseDevSetNonblock } from '../../addon/fuse.js';
import { CgroupReader, MEMORY_FIGURES_TTL_MS } from '../cgroup/CgroupReader.js';
import { CpuBudget, vnodeBucket } from '../common/CpuBudget.js';
import { collectGarbage } from '../common/gc.js';
import { logger } from '../common/log.js';
import { FuseMetrics, isErrorReply } from './FuseMetrics.js';
import { HandleArena } from './HandleArena.js';
import { HostFactsReader } from './HostFactsReader.js';
import { InodeTable } from './InodeTable.js';
import { emptyDirs, perContainerFiles, procFiles } from './procFiles.js';
import { FuseDispatcher } from './protocol/FuseDispatcher.js';
import { FUSE_AUTO_INVAL_DATA, IN_HEADER_SIZE, WRITE_IN_SIZE } from './protocol/fuseAbi.js';
import { SharedKv } from './SharedKv.js';
import { SysctlStore } from './SysctlStore.js';
import { ViewBuilder } from './ViewBuilder.js';
import { ViewResolver } from './ViewResolver.js';
import { VnodeFsOps } from './VnodeFsOps.js';
import { Ctl, type FuseWorkerData } from './workerProtocol.js';

const d = workerData as FuseWorkerData;
const log = logger('vnodefs');
const ctl = new Int32Array(d.ctlSab);
const fd = d.fd;
if (d.spinNs > 0) fuseDevSetNonblock(fd);
const kv = new SharedKv(d.kvSab);
const sized = <F extends { path: string; size: number }>(f: F): F => ({ ...f, size: d.sizes[f.path] ?? f.size });
const ops = new VnodeFsOps({
  table: new InodeTable(procFiles.map(sized), emptyDirs, perContainerFiles.map(sized)),
  arena: new HandleArena({ sab: d.arenaSab, slotsPerWorker: d.arenaSlots, slotSize: d.arenaSlotSize, epoch: d.arenaEpoch }),
  worker: d.index,
  resolver: new ViewResolver(d.procRoot),
  builder: new ViewBuilder(new CgroupReader({ root: d.cgroupRoot, limitTtlMs: 1000, openFiles: 512, memoryTtlMs: MEMORY_FIGURES_TTL_MS }), new HostFactsReader(d.procRoot, d.sysRoot), kv, d.procRoot),
  sysctl: new SysctlStore(kv, d.procRoot),
  mountedAt: d.mountedAt,
  kv,
  // A connection an earlier release set up without FUSE_AUTO_INVAL_DATA would keep cached pages
  // forever: its per-container files are read like the others, every read reaching us.
  // The INIT terms: this worker's own, an adopted connection's, or those another worker answered.
  pageCache: (): boolean => ((dispatcher.negotiated?.flags ?? (Atomics.load(ctl, Ctl.INIT_DONE) ? Atomics.load(ctl, Ctl.INIT_FLAGS) : 0)) & FUSE_AUTO_INVAL_DATA) !== 0,
});
// Failed requests (bugs, never errno answers) are logged with their stack, at most 10 a minute
// per worker, and the count of those left out is logged when the next minute starts.
let logWindow = 0;
let logged = 0;
let unlogged = 0;
const dispatcher = new FuseDispatcher(ops, {
  negotiated: d.negotiated,
  maxWrite: d.maxWrite,
  entryValid: 60,
  attrValid: 60,
  onError: (e, h) => {
    const now = Date.now();
    if (now - logWindow >= 60_000) {
      if (unlogged > 0) log.error('vnodefs requests failed without a log line', { worker: d.index, count: unlogged });
      logWindow = now;
      logged = 0;
      unlogged = 0;
    }
    if (logged++ >= 10) {
      unlogged++;
      return;
    }
    const path = ops.pathOf(h.nodeid);
    log.error('vnodefs request failed (answered EIO)', { worker: d.index, opcode: h.opcode, path, pid: h.pid, error: e instanceof Error ? e.stack : String(e) });
  },
});

const metrics = new FuseMetrics({ sab: d.metricsSab });

let gcSeen = Atomics.load(ctl, Ctl.GC_REQUEST);
const buf = Buffer.allocUnsafe(IN_HEADER_SIZE + WRITE_IN_SIZE + d.maxWrite + 4096);
let lastStats = { requests: 0, malformed: 0, failed: 0 };

function flushStats(): void {
  const s = dispatcher.stats;
  Atomics.add(ctl, Ctl.REQUESTS, s.requests - lastStats.requests);
  Atomics.add(ctl, Ctl.MALFORMED, s.malformed - lastStats.malformed);
  Atomics.add(ctl, Ctl.FAILED, s.failed - lastStats.failed);
  lastStats = { requests: s.requests, malformed: s.malformed, failed: s.failed };
}

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

// Per-vNode budget: a request whose vNode used its share of the current window is kept (a copy)
// and answered in a later window; its reader waits, the other vNodes' requests go first.
const budget = d.budget.cpuPerSecond > 0 ? new CpuBudget(d.budget.cpuPerSecond, d.budget.windowMs) : undefined;
/** Deferred requests, oldest first; bounded (beyond it requests are answered at once). */
const deferred: { key: number; req: Buffer }[] = [];
const MAX_DEFERRED = 4096;
/** fuse_in_header.uid: the requester's host uid. */
const UID_OFFSET = 24;

const OP_OPEN = 14;

/** Tests only (holdOpenOf): the request stays read and unanswered, as when the manager dies while
 * answering it; this thread sleeps until the process ends. */
function hold(): never {
  Atomics.add(ctl, Ctl.HELD, 1);
  Atomics.notify(ctl, Ctl.HELD);
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

/** Answers one request in `b` (n bytes); false when the connection is gone. */
function serve(b: Buffer, n: number, key: number): boolean {
  // Timed from the request's arrival (after a blocking read returns) to its reply written.
  const t0 = performance.now();
  // unique bit 63 (FUSE_UNIQUE_RESEND): a request an earlier server read and never answered.
  if (n >= IN_HEADER_SIZE && b.readUInt32LE(12) & 0x80000000) Atomics.add(ctl, Ctl.RESENT, 1);
  if (d.holdOpenOf !== undefined && n >= IN_HEADER_SIZE && b.readUInt32LE(4) === OP_OPEN && b.readUInt32LE(20) === 0 && ops.pathOf(b.readUInt32LE(16)) === d.holdOpenOf) hold();
  const out = dispatcher.handle(b, n);
  const neg = dispatcher.negotiated;
  if (neg && Atomics.load(ctl, Ctl.INIT_DONE) === 0) {
    Atomics.store(ctl, Ctl.MINOR, neg.minor);
    Atomics.store(ctl, Ctl.INIT_FLAGS, neg.flags);
    Atomics.store(ctl, Ctl.INIT_KERNEL_FLAGS2, neg.kernelFlags2);
    Atomics.store(ctl, Ctl.INIT_READAHEAD, neg.maxReadahead);
    Atomics.store(ctl, Ctl.INIT_DONE, 1);
    Atomics.notify(ctl, Ctl.INIT_DONE);
  }
  if (out) {
    try {
      writeSync(fd, out);
    } catch (e) {
      // ENOENT: the request was interrupted or aborted before we answered; nothing to do.
      const c = code(e);
      if (c === 'ENODEV') return false;
      if (c !== 'ENOENT') log.error('vnodefs write(/dev/fuse) failed', { worker: d.index, error: String(e) });
    }
  }
  const ms = performance.now() - t0;
  if (budget && key !== 0) budget.charge(key, ms);
  metrics.record(d.index, n >= 8 ? b.readUInt32LE(4) : 0, ms / 1000, isErrorReply(out));
  if ((dispatcher.stats.requests & 63) === 0) flushStats();
  return !dispatcher.destroyed;
}

/** Serves the deferred requests whose vNode has budget again, oldest first. */
function serveDeferred(): boolean {
  for (let i = 0; i < deferred.length; ) {
    const r = deferred[i]!;
    if (budget!.over(r.key)) {
      i++;
      continue;
    }
    deferred.splice(i, 1);
    if (!serve(r.req, r.req.length, r.key)) return false;
  }
  return true;
}

try {
  for (;;) {
    if (deferred.length && !serveDeferred()) break;
    let n: number;
    try {
      n = fuseDevRead(fd, buf, d.spinNs, deferred.length ? budget!.untilNextWindow() : -1);
    } catch (e) {
      const c = code(e);
      if (c === 'EINTR' || c === 'EAGAIN' || c === 'ENOENT') continue;
      // ENODEV: the filesystem was unmounted and the connection ended; ECONNABORTED: aborted.
      if (c !== 'ENODEV' && c !== 'ECONNABORTED') log.error('vnodefs read(/dev/fuse) failed', { worker: d.index, error: String(e) });
      break;
    }
    if (n < 0) continue; // the window turned with nothing read: serve what waits
    const key = budget && n >= IN_HEADER_SIZE ? vnodeBucket(buf.readUInt32LE(UID_OFFSET), d.budget.poolStart, d.budget.blockSize) : 0;
    if (key !== 0 && deferred.length < MAX_DEFERRED && budget!.over(key)) {
      deferred.push({ key, req: Buffer.from(buf.subarray(0, n)) });
      continue;
    }
    if (!serve(buf, n, key)) break;
    const gcRequest = Atomics.load(ctl, Ctl.GC_REQUEST);
    if (gcRequest !== gcSeen) {
      gcSeen = gcRequest;
      const kb = collectGarbage();
      if (d.index < 7) Atomics.store(ctl, Ctl.HEAP_KB + d.index, kb);
    }
  }
} finally {
  flushStats();
  Atomics.add(ctl, Ctl.EXITED, 1);
  Atomics.notify(ctl, Ctl.EXITED);
}
