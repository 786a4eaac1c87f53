import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';

import { HandleArena } from './HandleArena.js';
import { SharedKv, SharedKvError, SharedKvFullError } from './SharedKv.js';

test('set, get, overwrite, delete, prefix listing and prefix delete', () => {
  const kv = new SharedKv(64);
  kv.set('sysctl:userns:1:kernel.pid_max', '1000');
  kv.set('sysctl:userns:1:vm.overcommit_memory', '1');
  kv.set('sysctl:userns:2:kernel.pid_max', '2000');
  kv.set('sysctl:userns:1:kernel.pid_max', '1001');
  assert.equal(kv.get('sysctl:userns:1:kernel.pid_max'), '1001');
  assert.equal(kv.size, 3);
  assert.deepEqual(kv.entries('sysctl:userns:1:').map(([k]) => k).sort(), ['sysctl:userns:1:kernel.pid_max', 'sysctl:userns:1:vm.overcommit_memory']);
  assert.equal(kv.deletePrefix('sysctl:userns:1:'), 2);
  assert.equal(kv.get('sysctl:userns:1:kernel.pid_max'), undefined);
  assert.equal(kv.get('sysctl:userns:2:kernel.pid_max'), '2000');
  assert.equal(kv.delete('sysctl:userns:2:kernel.pid_max'), true);
  assert.equal(kv.size, 0);
});

test('a full table and oversized keys or values are refused with an error, tombstones are reused', () => {
  const kv = new SharedKv(4);
  for (let i = 0; i < 4; i++) kv.set(`k${i}`, 'v');
  assert.throws(() => kv.set('k4', 'v'), SharedKvError);
  kv.delete('k1');
  kv.set('k4', 'v');
  assert.equal(kv.get('k4'), 'v');
  assert.throws(() => kv.set('x'.repeat(300), 'v'), /key longer/);
  assert.throws(() => kv.set('k', 'x'.repeat(300)), /longer than/);
});

test('churn: 20,000 pods set and cleared through a 64-entry table never fill it, tombstones are reclaimed, live entries survive', () => {
  const kv = new SharedKv(64);
  for (let i = 0; i < 40; i++) kv.set(`sysctl:userns:${i}:kernel.pid_max`, String(i));
  for (let i = 0; i < 20_000; i++) {
    kv.set(`start:/kubepods/besteffort/pod-${i}`, String(i));
    if (i >= 10) kv.delete(`start:/kubepods/besteffort/pod-${i - 10}`);
    const s = kv.stats();
    assert.ok(s.dead < 16, `tombstones bounded (a quarter of the table): ${s.dead} at pod ${i}`);
    assert.ok(s.used + s.dead < 64, `an empty slot always ends a probe: ${s.used} used, ${s.dead} dead`);
  }
  assert.equal(kv.size, 50);
  for (let i = 0; i < 40; i++) assert.equal(kv.get(`sysctl:userns:${i}:kernel.pid_max`), String(i));
  for (let i = 19_990; i < 20_000; i++) assert.equal(kv.get(`start:/kubepods/besteffort/pod-${i}`), String(i));
  assert.equal(kv.get('start:/kubepods/besteffort/pod-0'), undefined);
  assert.equal(kv.deletePrefix('start:'), 10);
  assert.equal(kv.size, 40);
  assert.ok(kv.stats().dead < 16, 'a prefix delete is reclaimed like single ones');
});

test('overflow: without deletes the table fills and set throws SharedKvFullError; overwriting a key still works', () => {
  const kv = new SharedKv(16);
  for (let i = 0; i < 16; i++) kv.set(`start:/pod-${i}`, '1');
  assert.throws(() => kv.set('start:/pod-16', '1'), SharedKvFullError);
  kv.set('start:/pod-3', '2');
  assert.equal(kv.get('start:/pod-3'), '2');
  assert.equal(kv.get('start:/pod-99'), undefined, 'a miss in a full table terminates');
  assert.deepEqual(kv.stats(), { capacity: 16, used: 16, dead: 0 });
});

test('another thread sees writes at once and its writes are seen here (no messages involved)', async () => {
  const kv = new SharedKv(64);
  kv.set('from-main', '1');
  const mod = new URL('./SharedKv.js', import.meta.url).pathname;
  // An eval worker is CommonJS: it loads the ESM module with import().
  const w = new Worker(
    `import('${mod}').then(({ SharedKv }) => { const { workerData, parentPort } = require('node:worker_threads'); const kv = new SharedKv(workerData.sab); kv.set('from-worker', kv.get('from-main') + '2'); parentPort.postMessage('done'); });`,
    { eval: true, workerData: { sab: kv.sab, mod } },
  );
  await new Promise((res, rej) => {
    w.once('message', res);
    w.once('error', rej);
  });
  await w.terminate();
  assert.equal(kv.get('from-worker'), '12');
});

test('HandleArena: put, read slices, free, generation guards stale handles, oversize is refused', () => {
  const a = new HandleArena({ workers: 2, slotsPerWorker: 2, slotSize: 16 });
  const h1 = a.put(0, Buffer.from('hello'));
  const h2 = a.put(1, Buffer.from('world!'));
  assert.ok(h1 > 0 && h2 > 0 && h1 !== h2);
  assert.equal(a.read(h1, 1, 3)!.toString(), 'ell');
  assert.equal(a.read(h2, 4, 100)!.toString(), 'd!');
  assert.equal(a.read(h2, 100, 10)!.length, 0);
  assert.equal(a.put(0, Buffer.alloc(17)), 0, 'too large for a slot');
  assert.equal(a.free(h1), true);
  assert.equal(a.free(h1), false, 'double free');
  assert.equal(a.read(h1, 0, 5), null);
  const h3 = a.put(0, Buffer.from('again'));
  const h4 = a.put(0, Buffer.from('third'));
  assert.equal(a.put(0, Buffer.from('full')), 0, "worker 0's partition is full");
  assert.notEqual(h3, h1);
  assert.notEqual(h4, h1);
  assert.equal(a.read(h1, 0, 5), null, 'a stale handle never reads a reused slot');
  assert.equal(a.inUse(), 3);
  assert.equal(a.read(2 ** 60, 0, 1), null);
  assert.equal(a.read(-1, 0, 1), null);
});
