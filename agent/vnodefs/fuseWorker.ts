// A vnodefs worker thread: reads requests from /dev/fuse with a blocking read and answers them,
// never waiting on the main thread. Several run side by side, each on its own cloned fd.
import { writeSync } from 'node:fs';
import { workerData } from 'node:worker_threads';

import { fuseDevClone, fuseDevClose, fuseDevRead, fuseDevSetNonblock } from '../../addon/fuse.js';
import { CgroupReader } from '../cgroup/CgroupReader.js';
import { collectGarbage } from '../common/gc.js';
import { logger } from '../common/log.js';
import { FuseMetrics, isErrorReply } from './FuseMetrics.js';
import { HandleArena } from './HandleArena.js';
import { HostFactsReader } from './HostFactsReader.js';
import { InodeTable } from './InodeTable.js';
import { emptyDirs, procFiles } from './procFiles.js';
import { FuseDispatcher } from './protocol/FuseDispatcher.js';
import { IN_HEADER_SIZE, WRITE_IN_SIZE } from './protocol/fuseAbi.js';
import { SharedKv } from './SharedKv.js';
import { SysctlStore } from './SysctlStore.js';
import { ViewBuilder } from './ViewBuilder.js';
import { ViewResolver } from './ViewResolver.js';
import { VnodeFsOps } from './VnodeFsOps.js';
import { Ctl, type FuseWorkerData } from './workerProtocol.js';

const d = workerData as FuseWorkerData;
// Memory figures reused for 5 ms per group (see CgroupReaderOptions.memoryTtlMs): a reader
// looping on /proc/meminfo costs one memory.stat read per 5 ms per worker, not one per open.
const MEMORY_TTL_MS = 5;
const log = logger('vnodefs');
const ctl = new Int32Array(d.ctlSab);
const fd = d.clone ? fuseDevClone(d.sessionFd) : d.sessionFd;
if (d.spinNs > 0) fuseDevSetNonblock(fd);
const kv = new SharedKv(d.kvSab);
const ops = new VnodeFsOps({
  table: new InodeTable(procFiles.map((f) => ({ ...f, size: d.sizes[f.path] ?? f.size })), emptyDirs),
  arena: new HandleArena({ sab: d.arenaSab, slotsPerWorker: d.arenaSlots, slotSize: d.arenaSlotSize }),
  worker: d.index,
  resolver: new ViewResolver(d.procRoot),
  builder: new ViewBuilder(new CgroupReader({ root: d.cgroupRoot, limitTtlMs: 1000, openFiles: 512, memoryTtlMs: MEMORY_TTL_MS }), new HostFactsReader(d.procRoot, d.sysRoot), kv, d.procRoot),
  sysctl: new SysctlStore(kv, d.procRoot),
  mountedAt: d.mountedAt,
});
// Failed requests (bugs, never errno answers) are logged with their stack, at most 10 a minute
// per worker, and the count of those left out is logged when the next minute starts.
let logWindow = 0;
let logged = 0;
let unlogged = 0;
const dispatcher = new FuseDispatcher(ops, {
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

try {
  for (;;) {
    let n: number;
    try {
      n = fuseDevRead(fd, buf, d.spinNs);
    } catch (e) {
      const c = code(e);
      if (c === 'EINTR' || c === 'EAGAIN' || c === 'ENOENT') continue;
      // ENODEV: the filesystem was unmounted and the connection ended; ECONNABORTED: aborted.
      if (c !== 'ENODEV' && c !== 'ECONNABORTED') log.error('vnodefs read(/dev/fuse) failed', { worker: d.index, error: String(e) });
      break;
    }
    // Timed from the request's arrival (after a blocking read returns) to its reply written.
    const t0 = performance.now();
    const out = dispatcher.handle(buf, n);
    if (dispatcher.negotiatedMinor && Atomics.load(ctl, Ctl.INIT_DONE) === 0) {
      Atomics.store(ctl, Ctl.MINOR, dispatcher.negotiatedMinor);
      Atomics.store(ctl, Ctl.INIT_DONE, 1);
      Atomics.notify(ctl, Ctl.INIT_DONE);
    }
    if (out) {
      try {
        writeSync(fd, out);
      } catch (e) {
        // ENOENT: the request was interrupted or aborted before we answered; nothing to do.
        const c = code(e);
        if (c === 'ENODEV') break;
        if (c !== 'ENOENT') log.error('vnodefs write(/dev/fuse) failed', { worker: d.index, error: String(e) });
      }
    }
    metrics.record(d.index, n >= 8 ? buf.readUInt32LE(4) : 0, (performance.now() - t0) / 1000, isErrorReply(out));
    if ((dispatcher.stats.requests & 63) === 0) flushStats();
    const gcRequest = Atomics.load(ctl, Ctl.GC_REQUEST);
    if (gcRequest !== gcSeen) {
      gcSeen = gcRequest;
      const kb = collectGarbage();
      if (d.index < 7) Atomics.store(ctl, Ctl.HEAP_KB + d.index, kb);
    }
    if (dispatcher.destroyed) break;
  }
} finally {
  flushStats();
  if (d.clone) fuseDevClose(fd);
  Atomics.add(ctl, Ctl.EXITED, 1);
  Atomics.notify(ctl, Ctl.EXITED);
}
