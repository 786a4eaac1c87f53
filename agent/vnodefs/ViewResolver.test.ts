import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { ViewResolver } from './ViewResolver.js';

const fds = (): number => readdirSync('/proc/self/fd').length;
const exited = (c: ChildProcess): Promise<void> => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

test('ViewResolver: callers that are gone release their descriptors at the next sweep, live ones keep theirs', async () => {
  const r = new ViewResolver('/proc', 1000);
  const base = fds();
  const kids = Array.from({ length: 20 }, () => spawn('sleep', ['30'], { stdio: 'ignore' }));
  await Promise.all(kids.map((k) => new Promise((res) => k.once('spawn', res))));
  let now = 1_000_000;
  for (const k of kids) assert.notEqual(r.view(k.pid!, now).key, 'host');
  assert.equal(r.size, 20);
  assert.equal(fds() - base, 20);
  for (const k of kids.slice(0, 15)) k.kill('SIGKILL');
  await Promise.all(kids.slice(0, 15).map(exited));
  now += 500;
  r.view(process.pid, now);
  assert.equal(r.size, 21, 'no sweep within a second of the last');
  now += 1000;
  r.view(process.pid, now);
  assert.equal(r.size, 6, 'the 15 dead callers are dropped');
  assert.equal(fds() - base, 6);
  for (const k of kids.slice(15)) k.kill('SIGKILL');
  await Promise.all(kids.slice(15).map(exited));
  r.close();
  assert.equal(fds(), base);
});
