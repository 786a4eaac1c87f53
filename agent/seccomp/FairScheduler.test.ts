import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FairScheduler } from './FairScheduler.js';

const tick = (ms = 1): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a flood from one vNode does not hold another back: turns alternate', async () => {
  const s = new FairScheduler(1);
  const order: string[] = [];
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < 50; i++) jobs.push(s.run('flood', `mnt-a${i % 3}`, async () => void (order.push(`A${i}`), await tick())));
  for (let i = 0; i < 3; i++) jobs.push(s.run('quiet', 'mnt-b', async () => void (order.push(`B${i}`), await tick())));
  await Promise.all(jobs);
  // B's three jobs ran within the first few turns, not after A's fifty.
  const lastB = order.indexOf('B2');
  assert.ok(lastB <= 6, `B finished at position ${lastB}: ${order.slice(0, 10).join(' ')}`);
  assert.equal(order.length, 53);
});

test('jobs with the same serial key never overlap; others run concurrently up to the limit', async () => {
  const s = new FairScheduler(4);
  const running = new Map<string, number>();
  let maxSame = 0;
  let maxAll = 0;
  let all = 0;
  const job = (key: string) => async (): Promise<void> => {
    running.set(key, (running.get(key) ?? 0) + 1);
    all++;
    maxSame = Math.max(maxSame, running.get(key)!);
    maxAll = Math.max(maxAll, all);
    await tick(2);
    running.set(key, running.get(key)! - 1);
    all--;
  };
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < 20; i++) jobs.push(s.run(`v${i % 2}`, 'same-mnt', job('same-mnt')));
  for (let i = 0; i < 20; i++) jobs.push(s.run(`v${i % 5}`, `mnt${i}`, job(`mnt${i}`)));
  await Promise.all(jobs);
  assert.equal(maxSame, 1);
  assert.ok(maxAll <= 4 && maxAll >= 2, `concurrency ${maxAll}`);
  assert.equal(s.active, 0);
  assert.equal(s.waiting().size, 0);
});

test('a failing job rejects its own promise and the queue keeps going', async () => {
  const s = new FairScheduler(1);
  const a = s.run('v', 'k', () => Promise.reject(new Error('boom')));
  const b = s.run('v', 'k', () => Promise.resolve(7));
  await assert.rejects(a, /boom/);
  assert.equal(await b, 7);
});
