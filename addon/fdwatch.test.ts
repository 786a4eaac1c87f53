import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FdWatcher, Readiness } from './fdwatch.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

test('a stopped watcher whose callback reaches it (an owner holding its watcher) is garbage collected', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-fdwatch-'));
  const fifo = join(dir, 'f');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const fds: number[] = [];
  let collected = 0;
  const registry = new FinalizationRegistry(() => collected++);
  try {
    for (let i = 0; i < 100; i++) {
      const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
      fds.push(fd);
      // Like NotifyLoop's Connection and fdsocket's sockets: the callback's closure holds the owner.
      const owner: { watcher?: FdWatcher; seen: number } = { seen: 0 };
      owner.watcher = new FdWatcher(fd, Readiness.readable, () => owner.seen++);
      registry.register(owner, i);
      owner.watcher.stop();
    }
    for (let i = 0; i < 20 && collected < 100; i++) {
      await tick();
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(collected >= 90, `owners collected after stop(): ${collected} of 100`);
  } finally {
    for (const fd of fds) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});
