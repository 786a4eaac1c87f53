// The manager's idle collection (gc.ts): nothing while work goes on, two collections once it is
// quiet, again after the next burst.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { collectGarbage, IdleCollector } from './gc.js';

test('a burst is followed by two collections once quiet, none while it lasts; each new burst brings two more', async () => {
  const at: number[] = [];
  const t0 = performance.now();
  const idle = new IdleCollector(() => at.push(performance.now() - t0), 60);
  try {
    let lastTouch = 0;
    for (let i = 0; i < 8; i++) {
      idle.touch();
      lastTouch = performance.now() - t0;
      await sleep(20);
    }
    assert.equal(at.length, 0, 'no collection while work comes every 20 ms');
    await sleep(250);
    assert.equal(at.length, 2, `two collections after the burst: ${at.map((x) => x.toFixed(0)).join(', ')}`);
    assert.ok(at[0]! >= lastTouch + 55 && at[1]! - at[0]! >= 55, `quiet periods respected: last work at ${lastTouch.toFixed(0)}, collections at ${at.map((x) => x.toFixed(0)).join(', ')}`);
    idle.touch();
    await sleep(250);
    assert.equal(at.length, 4, 'the next burst, two more');
    idle.touch();
    idle.stop();
    await sleep(150);
    assert.equal(at.length, 4, 'none after stop');
  } finally {
    idle.stop();
  }
});

test('collectGarbage returns the heap this thread retains', () => {
  let junk: unknown[] | null = Array.from({ length: 200_000 }, (_, i) => ({ i }));
  const withJunk = collectGarbage();
  junk = null;
  const after = collectGarbage();
  assert.equal(junk, null);
  assert.ok(withJunk - after > 4096, `~10 MiB of objects freed: ${withJunk} -> ${after} KiB`);
});
