import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuBudget, vnodeBucket } from './CpuBudget.js';

test('a key over its share of the window waits for the next window; other keys are not affected', () => {
  const b = new CpuBudget(0.25, 100); // 25 ms per 100 ms window
  assert.equal(b.over('a', 1000), false);
  b.charge('a', 20, 1010);
  assert.equal(b.over('a', 1020), false);
  b.charge('a', 6, 1030);
  assert.equal(b.over('a', 1040), true, '26 ms > 25 ms');
  assert.equal(b.over('b', 1040), false, 'another vNode has its own share');
  assert.equal(b.untilNextWindow(1040), 60);
  assert.equal(b.over('a', 1100), false, 'a new window, a new share');
  assert.throws(() => new CpuBudget(0, 50), /must be > 0/);
});

test('vNode buckets: one per 65536-id block from the pool start, 0 for host ids', () => {
  const start = 268435456;
  assert.equal(vnodeBucket(0, start, 65536), 0);
  assert.equal(vnodeBucket(start - 1, start, 65536), 0);
  assert.equal(vnodeBucket(start, start, 65536), 1);
  assert.equal(vnodeBucket(start + 65535, start, 65536), 1);
  assert.equal(vnodeBucket(start + 65536, start, 65536), 2);
});
