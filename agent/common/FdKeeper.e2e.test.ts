// vnode-keeper (addon/launcher/keeper.c) through its client: put/list/drop keep the very same
// open file, a second keeper for a run dir refuses to start, malformed packets close only the
// sender's connection (and the fds it sent), a non-root peer is refused, EXIT only when empty or
// forced, stopKeeper by pidfile; nothing is left behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import * as fsMod from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { fdsocketConnect, fdsocketPoll, fdsocketRecv, fdsocketSend, POLLIN } from '../../addon/fdsocket.js';
import { rawClose, rawCloseQuietly } from '../../addon/rawfd.js';
import { built, ROOT, skipUnless } from '../../e2e/lib/e2eGate.js';
import { ensureKeeper, FdKeeper, runningKeeper, stopKeeper } from './FdKeeper.js';
import { processRunning } from './procState.js';

const BIN = fileURLToPath(new URL('../../../build/opt/vnode/bin/vnode-keeper', import.meta.url));
const skip = skipUnless(ROOT, built(BIN));
let runDir: string;
let keeper: FdKeeper | undefined;

/** [read end, write end] of a pipe: node has no pipe(2); a FIFO opened both ways is one. */
function pipe(): [number, number] {
  const path = join(runDir, `fifo-${Math.random().toString(36).slice(2)}`);
  spawnSync('mkfifo', [path]);
  const r = fsMod.openSync(path, fsMod.constants.O_RDONLY | fsMod.constants.O_NONBLOCK);
  const w = fsMod.openSync(path, fsMod.constants.O_WRONLY | fsMod.constants.O_NONBLOCK);
  rmSync(path);
  return [r, w];
}

function keeperFds(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).map((f) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${f}`);
    } catch {
      return '?';
    }
  });
}

/** A raw connection for malformed packets: answer or EOF within 2 s. */
function raw(): { send(b: Buffer, fds?: number[]): void; next(): string | 'EOF'; close(): void } {
  const fd = fdsocketConnect(join(runDir, 'keeper.sock'), true);
  return {
    send: (b, fds = []) => void fdsocketSend(fd, b, fds),
    next: () => {
      assert.ok(fdsocketPoll(fd, POLLIN, 2000), 'an answer or EOF within 2 s');
      const r = fdsocketRecv(fd, 8192, 4)!;
      for (const f of r.fds) rawClose(f);
      return r.data.length === 0 ? 'EOF' : r.data.toString('latin1');
    },
    close: () => rawCloseQuietly(fd),
  };
}

before(() => {
  if (skip) return;
  runDir = mkdtempSync('/tmp/vnode-keeper-test-');
});
after(async () => {
  keeper?.close();
  if (runDir) {
    await stopKeeper(runDir);
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('ensureKeeper starts one detached keeper; a second for the same run dir exits 3', { skip }, async () => {
  keeper = ensureKeeper(runDir, BIN);
  const pid = runningKeeper(runDir)!;
  assert.ok(pid > 0, 'the pidfile names a running vnode-keeper');
  assert.equal(statSync(join(runDir, 'keeper.sock')).mode & 0o777, 0o600);
  const fields = (p: number | 'self'): string[] => {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  };
  assert.notEqual(fields(pid)[3], fields('self')[3], 'its own session (setsid)'); // field 6: session
  assert.notEqual(Number(fields(pid)[1]), process.pid, 'not our child');
  const second = spawnSync(BIN, ['--detach', runDir], { encoding: 'utf8' });
  assert.equal(second.status, 3, second.stderr);
  assert.match(second.stderr, /another vnode-keeper/);
  const third = spawnSync(BIN, [runDir], { encoding: 'utf8' });
  assert.equal(third.status, 3, 'foreground too');
  assert.equal(runningKeeper(runDir), pid, 'the first one still runs');
  // ensureKeeper adopts the running one.
  const again = ensureKeeper(runDir, BIN);
  again.close();
  assert.equal(runningKeeper(runDir), pid);
  // Only /dev/null, the pidfile and its listening socket (and our connection: ensureKeeper's
  // second one is closed on our side, and the keeper drops it once it reads the hang-up).
  const sockets = (): number => keeperFds(pid).filter((l) => l.startsWith('socket:')).length;
  for (let t0 = Date.now(); sockets() > 2 && Date.now() - t0 < 2000; ) await new Promise((r) => setTimeout(r, 20));
  const fds = keeperFds(pid);
  assert.deepEqual(fds.filter((l) => !l.startsWith('socket:')).sort(), ['/dev/null', '/dev/null', '/dev/null', join(runDir, 'keeper.pid')].sort(), fds.join(' '));
  assert.equal(fds.filter((l) => l.startsWith('socket:')).length, 2, 'the listener and our connection');
});

test('put, takeAll, drop: the kept fd is the same open file; put replaces by name', { skip }, () => {
  assert.ok(keeper);
  const [r1, w1] = pipe();
  const [r2, w2] = pipe();
  const longName = `seccomp:${JSON.stringify({ pad: 'x'.repeat(4000) })}`.slice(0, 4096);
  keeper.put('test:one', w1);
  keeper.put(longName, w2);
  rawClose(w1);
  rawClose(w2);
  let all = keeper.takeAll('');
  assert.deepEqual(all.map((k) => k.name).sort(), [longName, 'test:one'].sort());
  // Writing through the copies reaches our read ends.
  for (const k of all) {
    fsMod.writeSync(k.fd, k.name === 'test:one' ? 'one' : 'two');
    rawClose(k.fd);
  }
  const buf = Buffer.alloc(16);
  assert.equal(buf.subarray(0, fsMod.readSync(r1, buf)).toString(), 'one');
  assert.equal(buf.subarray(0, fsMod.readSync(r2, buf)).toString(), 'two');
  // Prefix.
  all = keeper.takeAll('test:');
  assert.deepEqual(all.map((k) => k.name), ['test:one']);
  for (const k of all) rawClose(k.fd);
  // Replace test:one with the other pipe's... write end of pipe 2 again (taken back).
  const [k2] = keeper.takeAll('seccomp:');
  keeper.put('test:one', k2!.fd);
  rawClose(k2!.fd);
  const [one] = keeper.takeAll('test:one');
  fsMod.writeSync(one!.fd, 'replaced');
  rawClose(one!.fd);
  assert.equal(buf.subarray(0, fsMod.readSync(r2, buf)).toString(), 'replaced');
  // Pipe 1's write end is closed everywhere now: its reader sees EOF.
  assert.equal(fsMod.readSync(r1, buf), 0, 'the replaced entry was closed by the keeper');
  assert.equal(keeper.drop(longName), true);
  assert.equal(keeper.drop(longName), false);
  assert.throws(() => keeper!.put('x'.repeat(4097), r2), /name must be/);
  assert.throws(() => keeper!.put('', r2), /name must be/);
  assert.equal(keeper.drop('test:one'), true);
  assert.equal(keeper.takeAll().length, 0);
  rawClose(r1);
  rawClose(r2);
});

test('malformed packets close only that connection and its fds; the keeper goes on', { skip }, () => {
  assert.ok(keeper);
  const pid = runningKeeper(runDir)!;
  const before = keeperFds(pid).length;
  const [r, w] = pipe();
  const cases: [string, Buffer, number[]][] = [
    ['unknown op', Buffer.from('Qname'), []],
    ['put without fd', Buffer.from('Pname'), []],
    ['put with two fds', Buffer.from('Pname'), [r, w]],
    ['put with an empty name', Buffer.from('P'), [w]],
    ['drop with an fd', Buffer.from('Dname'), [w]],
    ['name too long', Buffer.concat([Buffer.from('D'), Buffer.alloc(5000, 0x61)]), []],
    ['NUL in name', Buffer.from('Dna\u0000me'), []],
    ['exit with an argument', Buffer.from('Xnow'), []],
    ['a packet larger than any request', Buffer.alloc(70_000, 0x50), [w]],
  ];
  for (const [what, b, fds] of cases) {
    const c = raw();
    c.send(b, fds);
    assert.equal(c.next(), 'EOF', what);
    c.close();
  }
  assert.equal(keeperFds(pid).length, before, 'no fd of a malformed request is kept');
  // A well-formed request on a raw connection still works, and the client too.
  const c = raw();
  c.send(Buffer.from('Dnothing'));
  assert.equal(c.next(), 'O0');
  c.close();
  keeper.put('test:after', w);
  assert.equal(keeper.drop('test:after'), true);
  rawClose(r);
  rawClose(w);
});

test('a peer that is not uid 0 is refused (SO_PEERCRED), even with the socket opened to it', { skip }, () => {
  const sock = join(runDir, 'keeper.sock');
  chmodSync(runDir, 0o755);
  chmodSync(sock, 0o666);
  try {
    const script = `
      const { fdsocketConnect, fdsocketSend, fdsocketPoll, fdsocketRecv } = await import(${JSON.stringify(fileURLToPath(new URL('../../addon/fdsocket.js', import.meta.url)))});
      const fd = fdsocketConnect(${JSON.stringify(sock)}, true);
      try { fdsocketSend(fd, Buffer.from('L'), []); } catch (e) { console.log('send ' + e.code); }
      fdsocketPoll(fd, 1, 2000);
      let r;
      try { r = fdsocketRecv(fd, 100, 1); } catch (e) { console.log('recv ' + e.code); process.exit(0); }
      console.log(r === null ? 'nothing' : r.data.length === 0 ? 'EOF' : 'answered ' + r.data.toString());`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    // Closed at accept: EOF, or a reset when our packet was still unread.
    assert.match(r.stdout, /^(EOF|send EPIPE|send ECONNRESET|recv ECONNRESET)$/m, r.stdout);
    assert.doesNotMatch(r.stdout, /answered/);
  } finally {
    chmodSync(sock, 0o600);
    chmodSync(runDir, 0o700);
  }
});

test('EXIT only when empty or forced; stopKeeper by pidfile; nothing left', { skip }, async () => {
  assert.ok(keeper);
  const pid = runningKeeper(runDir)!;
  const [r, w] = pipe();
  keeper.put('test:held', w);
  rawClose(w);
  assert.equal(keeper.exit(false), false, 'busy');
  assert.ok(processRunning(pid));
  assert.equal(keeper.exit(true), true);
  for (let i = 0; i < 100 && processRunning(pid); i++) await new Promise((res) => setTimeout(res, 20));
  assert.equal(processRunning(pid), false);
  assert.equal(fsMod.readSync(r, Buffer.alloc(4)), 0, 'the held fd was closed with the keeper');
  rawClose(r);
  assert.equal(existsSync(join(runDir, 'keeper.sock')), false);
  assert.equal(existsSync(join(runDir, 'keeper.pid')), false);
  // A new one, stopped by stopKeeper (SIGTERM) with an fd held.
  keeper = ensureKeeper(runDir, BIN);
  const pid2 = runningKeeper(runDir)!;
  assert.notEqual(pid2, pid);
  const [r2, w2] = pipe();
  keeper.put('test:held', w2);
  rawClose(w2);
  keeper.close();
  keeper = undefined;
  assert.equal(await stopKeeper(runDir), true);
  assert.equal(processRunning(pid2), false);
  assert.equal(fsMod.readSync(r2, Buffer.alloc(4)), 0);
  rawClose(r2);
  assert.equal(await stopKeeper(runDir), false, 'no keeper: nothing to stop');
  assert.deepEqual(readdirSync(runDir), []);
  // A pidfile naming some other process is not a keeper.
  fsMod.writeFileSync(join(runDir, 'keeper.pid'), `${process.pid}\n`);
  assert.equal(runningKeeper(runDir), undefined);
  assert.equal(await stopKeeper(runDir), false);
  rmSync(join(runDir, 'keeper.pid'));
  assert.throws(() => FdKeeper.connect(runDir), /cannot connect/);
});
