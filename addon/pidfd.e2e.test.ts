import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { once } from 'node:events';
import { test } from 'node:test';
import { isSyscallError } from './native.js';
import { pidfdGetfd, pidfdOpen, pidfdSendSignal } from './pidfd.js';

test('pidfd_open, pidfd_getfd and pidfd_send_signal on a live process', async () => {
  const child = spawn('sleep', ['30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await once(child, 'spawn');
  const pidfd = pidfdOpen(child.pid!);
  try {
    // Its stdout (fd 1) copied into us: what we write there, its parent (we) reads.
    const out = pidfdGetfd(pidfd, 1);
    writeSync(out, 'via pidfd_getfd');
    closeSync(out);
    const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
    assert.equal(chunk.toString(), 'via pidfd_getfd');
    assert.throws(() => pidfdGetfd(pidfd, 999), (e: unknown) => isSyscallError(e, 'EBADF'));
    pidfdSendSignal(pidfd, 'SIGTERM');
    const [, signal] = (await once(child, 'exit')) as [number | null, string | null];
    assert.equal(signal, 'SIGTERM');
  } finally {
    closeSync(pidfd);
  }
  assert.throws(() => pidfdOpen(0x3fffffff), (e: unknown) => isSyscallError(e, 'ESRCH'));
});
