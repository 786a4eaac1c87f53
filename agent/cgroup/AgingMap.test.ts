import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgingMap } from './AgingMap.js';

test('AgingMap: 10,000 containers coming and going leave only the live ones (within two ages); a hot key stays', () => {
  let now = 0;
  const m = new AgingMap<string, number>(10_000, 8192, () => now);
  for (let i = 0; i < 10_000; i++) {
    now += 100; // ten new containers a second, each read for a second
    m.set(`/kubepods/pod${i}`, i);
    if (i >= 10) assert.equal(m.get(`/kubepods/pod${i - 10}`), i - 10);
    m.set('/kubepods/anchor', 0);
    // An age sees 100 new keys, 10 moved up from the old generation and the hot key; two are kept.
    assert.ok(m.size <= 2 * (100 + 10 + 1) + 2, `bounded by two ages of the working set: ${m.size} at ${i}`);
  }
  assert.equal(m.get('/kubepods/anchor'), 0);
  assert.equal(m.get('/kubepods/pod0'), undefined);
  assert.equal(m.get('/kubepods/pod9999'), 9999);
});

test('AgingMap: never more than max, even with every key new within one age', () => {
  const m = new AgingMap<number, number>(60_000, 100, () => 0);
  for (let i = 0; i < 10_000; i++) {
    m.set(i, i);
    assert.ok(m.size <= 100);
  }
  assert.equal(m.get(9999), 9999);
  m.clear();
  assert.equal(m.size, 0);
});
