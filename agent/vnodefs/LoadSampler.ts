// Every 5 s, counts each tracked container's runnable and blocked threads and advances its load
// average. Runs on its own worker thread so neither the main loop nor a FUSE worker carries it.
import { existsSync } from 'node:fs';

import type { CgroupReader } from '../cgroup/CgroupReader.js';
import { decayLoad } from './render/loadAverage.js';
import { LoadTable } from './LoadTable.js';

export class LoadSampler {
  constructor(
    private readonly table: LoadTable,
    private readonly reader: CgroupReader,
  ) {}

  /** One sampling step over every tracked container; drops containers whose cgroup is gone. */
  tick(now = Date.now()): void {
    for (const key of this.table.keys()) {
      const m = LoadTable.membershipOf(key);
      const dir = this.reader.v1Dir(m, 'memory') ?? this.reader.v1Dir(m, 'cpu') ?? this.reader.v2Dir(m);
      if (dir === null || !existsSync(dir)) {
        this.table.drop(key);
        continue;
      }
      const prev = this.table.get(key) ?? { load1: 0, load5: 0, load15: 0, running: 0, blocked: 0, total: 0 };
      const c = this.table.count(this.reader, m);
      const next = decayLoad(prev, c.running + c.blocked);
      this.table.put(key, { ...next, ...c }, now);
    }
  }
}

