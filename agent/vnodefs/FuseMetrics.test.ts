// FuseMetrics: each worker's region counts its own requests; the totals add the workers up and
// give Prometheus' cumulative buckets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { FUSE_LATENCY_BUCKETS, FuseMetrics, isErrorReply } from './FuseMetrics.js';
import { Op } from './protocol/fuseAbi.js';

test('FuseMetrics: classes, errors, cumulative buckets, summed over workers', () => {
  const m = new FuseMetrics({ workers: 2 });
  m.record(0, Op.READ, 3e-6, false);
  m.record(1, Op.READ, 2e-4, false);
  m.record(1, Op.LOOKUP, 1e-5, true);
  m.record(0, Op.READDIRPLUS, 5, false); // past the last bound: only +Inf
  m.record(0, 9999, 1e-6, false); // an opcode no class has
  const t = m.totals();
  assert.equal(t.read.requests, 2);
  assert.equal(t.read.errors, 0);
  assert.ok(Math.abs(t.read.sumSeconds - 2.03e-4) < 1e-12);
  assert.equal(t.read.buckets[0], 1); // le 5e-6
  assert.equal(t.read.buckets[FUSE_LATENCY_BUCKETS.indexOf(2.5e-4)], 2);
  assert.equal(t.read.buckets.at(-1), 2);
  assert.deepEqual([t.lookup.requests, t.lookup.errors, t.lookup.buckets[1]], [1, 1, 1]);
  assert.equal(t.readdir.buckets.at(-1), 0);
  assert.equal(t.readdir.requests, 1);
  assert.equal(t.other.requests, 1);
  assert.equal(t.write.requests, 0);
});

test('FuseMetrics: a worker thread writes into the shared memory the main thread reads', async () => {
  const m = new FuseMetrics({ workers: 1 });
  const w = new Worker(
    `const { workerData } = require('node:worker_threads');
     const f = new Float64Array(workerData);
     f[0] = 42;`,
    { eval: true, workerData: m.sab },
  );
  await new Promise((r) => w.once('exit', r));
  assert.equal(m.totals().lookup.requests, 42);
});

test('isErrorReply: the errno in fuse_out_header', () => {
  const ok = Buffer.alloc(16);
  const err = Buffer.alloc(16);
  err.writeInt32LE(-2, 4);
  assert.equal(isErrorReply(ok), false);
  assert.equal(isErrorReply(err), true);
  assert.equal(isErrorReply(null), false);
});
