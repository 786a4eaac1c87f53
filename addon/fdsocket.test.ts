import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FdSocketServer, fdsocketConnect, fdsocketSend, sendMessageWithFds, type FdMessage } from './fdsocket.js';

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

// Temp files stand in for any fd: their content read through the received fd proves identity.
test('bytes and fds arrive together, fds usable, nothing leaks', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-core-fdsock-'));
  const before = openFds();
  const got: FdMessage[] = [];
  const errors: Error[] = [];
  let resolve!: () => void;
  const arrived = new Promise<void>((r) => (resolve = r));
  const server = FdSocketServer.listen(
    join(dir, 's.sock'),
    (m) => {
      got.push(m);
      resolve();
    },
    (e) => errors.push(e),
  );
  const f = openSync(join(dir, 'file'), 'w+');
  writeSync(f, 'via fd');
  const big = Buffer.alloc(150_000, 7); // more than one recvmsg (64 KiB each), less than the socket buffer
  sendMessageWithFds(join(dir, 's.sock'), big, [f, f]);
  await arrived;
  assert.equal(errors.length, 0);
  assert.equal(got.length, 1);
  const m = got[0]!;
  assert.equal(m.data.length, big.length);
  assert.ok(m.data.equals(big));
  assert.equal(m.fds.length, 2);
  assert.equal(m.peer.pid, process.pid);
  const b = Buffer.alloc(6);
  assert.equal(readSync(m.fds[0]!, b, 0, 6, 0), 6);
  assert.equal(b.toString(), 'via fd');
  for (const x of m.fds) closeSync(x);
  closeSync(f);
  server.close();
  assert.equal(openFds(), before, 'no fd left open');
  rmSync(dir, { recursive: true });
});

test('an oversized message is refused and its fds closed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-core-fdsock-'));
  const before = openFds();
  let err: Error | undefined;
  let resolve!: () => void;
  const failed = new Promise<void>((r) => (resolve = r));
  const server = FdSocketServer.listen(
    join(dir, 's.sock'),
    () => assert.fail('must not deliver'),
    (e) => {
      err = e;
      resolve();
    },
    { maxBytes: 1000 },
  );
  const f = openSync('/dev/null', 'r');
  sendMessageWithFds(join(dir, 's.sock'), Buffer.alloc(5000), [f]);
  await failed;
  assert.match(err!.message, /exceeds 1000 bytes/);
  closeSync(f);
  server.close();
  assert.equal(openFds(), before);
  rmSync(dir, { recursive: true });
});

// runc 1.1 keeps its connection to a seccomp listener open: with `complete`, a message is
// delivered before EOF; a peer that closes with an incomplete message, or never completes one,
// is an error and its fds are closed.
test('complete: a message is delivered before EOF; incomplete ones fail and release their fds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-core-fdsock-'));
  const before = openFds();
  const got: FdMessage[] = [];
  const errors: Error[] = [];
  const server = FdSocketServer.listen(join(dir, 's.sock'), (m) => got.push(m), (e) => errors.push(e), {
    complete: (data, fds) => fds > 0 && data.toString().endsWith('}'),
    timeoutMs: 300,
  });
  const f = openSync(join(dir, 'file'), 'w+');
  // Held open (no close): delivered on content alone.
  const held = fdsocketConnect(join(dir, 's.sock'));
  fdsocketSend(held, Buffer.from('{"a":1}'), [f]);
  // Closed early without the closing brace: an error, its fd released.
  const early = fdsocketConnect(join(dir, 's.sock'));
  fdsocketSend(early, Buffer.from('{"a":'), [f]);
  closeSync(early);
  // Never completes and stays open: times out.
  const stuck = fdsocketConnect(join(dir, 's.sock'));
  fdsocketSend(stuck, Buffer.from('{'), []);
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(got.length, 1);
  assert.equal(got[0]!.data.toString(), '{"a":1}');
  assert.equal(got[0]!.fds.length, 1);
  assert.equal(errors.length, 2);
  assert.ok(errors.some((e) => /without a complete message/.test(e.message)));
  assert.ok(errors.some((e) => /no complete message in 300 ms/.test(e.message)));
  for (const x of got[0]!.fds) closeSync(x);
  closeSync(held);
  closeSync(stuck);
  closeSync(f);
  server.close();
  assert.equal(openFds(), before, 'no fd left open');
  rmSync(dir, { recursive: true });
});
