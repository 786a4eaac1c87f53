// The memory figures sysinfo answers with are kept as long as the cgroup reader keeps the group's
// (MEMORY_FIGURES_TTL_MS): one read and one computation per period, not per call.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CgroupReader, MEMORY_FIGURES_TTL_MS } from '../cgroup/CgroupReader.js';
import { parseProcCgroup } from '../cgroup/procCgroup.js';
import { HOST_MEMINFO, MiB, v2Fixture } from '../cgroup/testing/testFixtures.js';
import { ContainerFacts, type FactsSources } from './ContainerFacts.js';

test('memory figures are computed once per period of the cgroup reader, and again after it', () => {
  const f = v2Fixture({ memory: 256 * MiB, cpu: null });
  try {
    const reader = new CgroupReader({ root: f.root });
    let snapshots = 0;
    let hostReads = 0;
    const src = {
      cgroups: { snapshot: () => (snapshots++, reader.snapshot(parseProcCgroup(`0::${f.path}\n`), { memory: true, cpu: false, io: false })) },
      host: { read: () => (hostReads++, { meminfo: HOST_MEMINFO }) },
    } as unknown as FactsSources;
    const facts = new ContainerFacts({ vnodeId: 'v', containerId: 'c', rootPid: process.pid }, process.pid, src);
    const t0 = 1_000_000;
    const a = facts.memory(t0);
    assert.equal(a?.figures.total, 256 * MiB, 'the limit is the total');
    assert.equal(facts.memory(t0 + MEMORY_FIGURES_TTL_MS - 1), a, 'the same figures within the period');
    assert.deepEqual([snapshots, hostReads], [1, 1]);
    const b = facts.memory(t0 + MEMORY_FIGURES_TTL_MS);
    assert.notEqual(b, a, 'read again after it');
    assert.deepEqual([snapshots, hostReads], [2, 2]);
    facts.memory(t0 - 10);
    assert.equal(snapshots, 3, 'a clock that went back reads again');
  } finally {
    f.cleanup();
  }
});
