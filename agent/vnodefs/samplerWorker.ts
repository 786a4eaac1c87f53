// The load sampler's thread: one LoadSampler tick every interval until told to stop, and every
// 30 s a sweep of the pod start times whose cgroup is gone (StartTimes.ts).
import { workerData } from 'node:worker_threads';

import { CgroupReader } from '../cgroup/CgroupReader.js';
import { collectGarbage } from '../common/gc.js';
import { logger } from '../common/log.js';
import { LoadSampler } from './LoadSampler.js';
import { LoadTable } from './LoadTable.js';
import { SharedKv } from './SharedKv.js';
import { cgroupExistsIn, START_SWEEP_INTERVAL_MS, StartTimes } from './StartTimes.js';
import { Ctl, type SamplerWorkerData } from './workerProtocol.js';

const d = workerData as SamplerWorkerData;
const ctl = new Int32Array(d.ctlSab);
const kv = new SharedKv(d.kvSab);
const reader = new CgroupReader({ root: d.cgroupRoot });
const sampler = new LoadSampler(new LoadTable(kv, d.procRoot), reader);
const starts = new StartTimes(kv, cgroupExistsIn(reader.layout));
const log = logger('vnodefs');
let sweptAt = Date.now();
let gcSeen = Atomics.load(ctl, Ctl.GC_REQUEST);

// Atomics.wait doubles as the sleep and the stop signal.
while (Atomics.load(ctl, Ctl.STOP_SAMPLER) === 0) {
  try {
    sampler.tick();
  } catch (e) {
    log.error('vnodefs load sampling failed', { error: e instanceof Error ? e.stack : String(e) });
  }
  if (Date.now() - sweptAt >= START_SWEEP_INTERVAL_MS) {
    sweptAt = Date.now();
    try {
      const n = starts.sweep(sweptAt);
      if (n) log.info('vnodefs dropped start times of pods whose cgroup is gone', { entries: n });
    } catch (e) {
      log.error('vnodefs start time sweep failed', { error: e instanceof Error ? e.stack : String(e) });
    }
  }
  const gcRequest = Atomics.load(ctl, Ctl.GC_REQUEST);
  if (gcRequest !== gcSeen) {
    gcSeen = gcRequest;
    Atomics.store(ctl, Ctl.HEAP_KB + 7, collectGarbage());
  }
  Atomics.wait(ctl, Ctl.STOP_SAMPLER, 0, d.intervalMs);
}
