import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SharedKv } from './SharedKv.js';
import { StartTimes } from './StartTimes.js';
import { sysctlEntries } from './sysctl/sysctlEntries.js';
import { SysctlStore } from './SysctlStore.js';

const T0 = 1_800_000_000_000;

test('1,000 pod lifecycles through a 32-entry table: cleared start times leave it as it was', () => {
  const kv = new SharedKv(32);
  const starts = new StartTimes(kv, () => true);
  for (let i = 0; i < 1000; i++) {
    assert.equal(starts.set(`/kubepods/pod-${i}`, T0 + i, T0 + i), true);
    assert.equal(starts.clear(`/kubepods/pod-${i}`), true);
  }
  assert.equal(kv.size, 0);
  assert.ok(kv.stats().dead < 8);
});

test('a full table evicts the start times of pods whose cgroup is gone, not young ones, and then stores', () => {
  const kv = new SharedKv(16);
  const alive = new Set<string>();
  const starts = new StartTimes(kv, (p) => alive.has(p), 60_000);
  // 16 pods never cleared (their podGone was missed): 8 old and gone, 8 young (cgroup not made yet).
  for (let i = 0; i < 8; i++) assert.ok(starts.set(`/kubepods/old-${i}`, T0, T0));
  for (let i = 0; i < 8; i++) assert.ok(starts.set(`/kubepods/young-${i}`, T0 + 100_000, T0 + 100_000));
  assert.equal(kv.size, 16);
  assert.equal(starts.set('/kubepods/new', T0 + 110_000, T0 + 110_000), true, 'the table made room');
  assert.equal(starts.count, 9);
  for (let i = 0; i < 8; i++) assert.equal(kv.get(`start:/kubepods/young-${i}`), String(T0 + 100_000), 'entries within the grace period stay');
  assert.equal(kv.get('start:/kubepods/old-0'), undefined);
});

test('a table full of live entries refuses the start (false), and nothing else breaks: sysctl values stay readable', () => {
  const kv = new SharedKv(16);
  const starts = new StartTimes(kv, () => true, 0);
  const sysctl = new SysctlStore(kv);
  for (let i = 0; i < 15; i++) assert.ok(starts.set(`/kubepods/pod-${i}`, T0, T0 + 1));
  sysctl.write('userns:1', sysctlEntries.find((e) => e.name === 'vm.max_map_count')!, '262144');
  assert.equal(starts.set('/kubepods/pod-15', T0, T0 + 1), false);
  assert.equal(sysctl.written('userns:1')['vm.max_map_count'], '262144');
  // The pod goes, its start is cleared: the next one fits.
  assert.ok(starts.clear('/kubepods/pod-0'));
  assert.equal(starts.set('/kubepods/pod-15', T0, T0 + 1), true);
});

test('the periodic sweep drops only entries past the grace period whose cgroup is gone', () => {
  const kv = new SharedKv(64);
  const gone = new Set(['/kubepods/a', '/kubepods/b']);
  const starts = new StartTimes(kv, (p) => !gone.has(p), 60_000);
  starts.set('/kubepods/a', T0);
  starts.set('/kubepods/b', T0 + 50_000);
  starts.set('/kubepods/c', T0);
  assert.equal(starts.sweep(T0 + 70_000), 1, 'b is gone but young, c is alive');
  assert.deepEqual(kv.entries('start:').map(([k]) => k).sort(), ['start:/kubepods/b', 'start:/kubepods/c']);
  assert.equal(starts.sweep(T0 + 120_000), 1);
});
