// The load sampler's thread: one LoadSampler tick every interval until told to stop.
import { workerData } from 'node:worker_threads';

import { CgroupReader } from '../cgroup/CgroupReader.js';
import { logger } from '../common/log.js';
import { LoadSampler } from './LoadSampler.js';
import { LoadTable } from './LoadTable.js';
import { SharedKv } from './SharedKv.js';
import { Ctl, type SamplerWorkerData } from './workerProtocol.js';

const d = workerData as SamplerWorkerData;
const ctl = new Int32Array(d.ctlSab);
const sampler = new LoadSampler(new LoadTable(new SharedKv(d.kvSab), d.procRoot), new CgroupReader({ root: d.cgroupRoot }));
const log = logger('vnodefs');

// Atomics.wait doubles as the sleep and the stop signal.
while (Atomics.load(ctl, Ctl.STOP_SAMPLER) === 0) {
  try {
    sampler.tick();
  } catch (e) {
    log.error('vnodefs load sampling failed', { error: e instanceof Error ? e.stack : String(e) });
  }
  Atomics.wait(ctl, Ctl.STOP_SAMPLER, 0, d.intervalMs);
}
