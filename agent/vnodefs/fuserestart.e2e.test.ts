// vnodefs survives its manager's death (issue 14): a server process (the real VnodeFs in a child
// process, standing in for the vnode-manager) is SIGKILLed while readers loop over emulated
// files; the test process keeps the connection's device fds as the fd keeper would (received over
// an SCM_RIGHTS socket, passed to the next server by inheritance), and a new server adopts the
// connection. Readers must see no error and no wrong content, only a stall; a request the dead
// server had read but not answered must be answered after FUSE_NOTIFY_RESEND.
// Everything it makes has `fuserestart` in its name and is removed, also after a failure.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { FdSocketServer, type FdMessage } from '../../addon/fdsocket.js';
import { fuseUmount, MNT_DETACH } from '../../addon/fuse.js';
import { installed, ROOT, skipUnless } from '../../e2e/lib/e2eGate.js';
import { mountedConnection, notifyResend, type VnodeFsConnection } from './VnodeFs.js';

const MEMCG = '/sys/fs/cgroup/memory';
const skip = skipUnless(ROOT, installed('/dev/fuse'), installed(`${MEMCG}/cgroup.procs`, 'a host with the cgroup v1 memory controller'));
const SERVER = new URL('./testing/fuserestartServer.js', import.meta.url).pathname;
const READER = new URL('./testing/fuserestartReader.js', import.meta.url).pathname;
const FILES = ['proc/meminfo', 'proc/uptime', 'proc/loadavg', 'proc/stat', 'sys/devices/system/cpu/online'];
const CYCLES = Number(process.env.FUSERESTART_CYCLES ?? 5);
/** How long no server runs in each cycle. */
const GAP_MS = 300;

let dir = '';
let mnt = '';
let sock = '';
let keeper: FdSocketServer | null = null;
/** The connection as the keeper holds it: the last server's handover. */
let held: { fds: number[]; state: VnodeFsConnection } | null = null;
const children = new Set<ChildProcess>();
const groups: string[] = [];
const inbox: FdMessage[] = [];

interface Child {
  proc: ChildProcess;
  out: string[];
  err: string[];
  exited: Promise<number | null>;
}

function track(proc: ChildProcess): Child {
  children.add(proc);
  const out: string[] = [];
  const err: string[] = [];
  let tail = '';
  proc.stdout?.on('data', (d: Buffer) => {
    const lines = (tail + d.toString()).split('\n');
    tail = lines.pop()!;
    out.push(...lines);
  });
  proc.stderr?.on('data', (d: Buffer) => err.push(d.toString()));
  const exited = new Promise<number | null>((res) =>
    proc.once('exit', (code) => {
      children.delete(proc);
      res(code);
    }),
  );
  return { proc, out, err, exited };
}

async function until(what: string, ok: () => boolean, timeoutMs: number, c?: Child): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${c ? `\nstdout: ${c.out.join('\n')}\nstderr: ${c.err.join('')}` : ''}`);
    await sleep(5);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

/** A server: mounts (no fds) or adopts the held connection (its fds inherited at 3, 4, ...). */
async function startServer(extra: Record<string, string> = {}): Promise<Child> {
  const fds = held?.fds ?? [];
  const env = childEnv({ FUSERESTART_MNT: mnt, FUSERESTART_SOCKET: sock, FUSERESTART_MODE: held ? 'adopt' : 'mount', FUSERESTART_FDS: String(fds.length), FUSERESTART_STATE: held ? JSON.stringify(held.state) : '', ...extra });
  const c = track(spawn(process.execPath, [SERVER], { stdio: ['ignore', 'pipe', 'pipe', ...fds], env }));
  await until('server READY', () => c.out.includes('READY') || c.proc.exitCode !== null, 10_000, c);
  assert.ok(c.out.includes('READY'), `server exited (${c.proc.exitCode}): ${c.err.join('')}`);
  if (extra.FUSERESTART_SOCKET !== '') {
    await until('handover message', () => inbox.length > 0, 5000, c);
    const m = inbox.shift()!;
    const info = JSON.parse(m.data.toString()) as { state: VnodeFsConnection; resent: boolean };
    if (held && extra.FUSERESTART_NO_RESEND !== '1') assert.equal(info.resent, true, 'the adopting server sent FUSE_NOTIFY_RESEND');
    // The new server's fds replace the old ones (the same open files, or clones of them).
    const old = held?.fds ?? [];
    held = { fds: m.fds, state: info.state };
    for (const fd of old) closeSync(fd);
  }
  return c;
}

async function kill(c: Child): Promise<void> {
  c.proc.kill('SIGKILL');
  await c.exited;
}

/** A process in a memory cgroup of `limitMb` (made here) running `argv`. */
function inGroup(name: string, limitMb: number, argv: string[]): Child {
  const g = `${MEMCG}/vnodefs-fuserestart-${process.pid}-${name}`;
  if (!existsSync(g)) {
    mkdirSync(g);
    groups.push(g);
    writeFileSync(`${g}/memory.limit_in_bytes`, String(limitMb * 1024 * 1024));
  }
  return track(spawn('sh', ['-c', `echo $$ > ${g}/cgroup.procs && exec "$@"`, 'sh', ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv({}) }));
}

before(() => {
  if (skip) return;
  dir = mkdtempSync('/tmp/vnodefs-fuserestart-');
  mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  sock = join(dir, 'keeper.sock');
  keeper = FdSocketServer.listen(
    sock,
    (m) => inbox.push(m),
    (e) => console.error('keeper socket:', e),
  );
});

after(async () => {
  // Servers first, then the kept fds: closing the last one aborts the connection, which frees
  // any reader still waiting on it (a process in a FUSE request the server had read cannot even
  // die before). Then the mount, the readers, the groups, the files. Each step runs whatever
  // the one before did.
  const errors: unknown[] = [];
  const step = async (f: () => unknown): Promise<void> => {
    try {
      await f();
    } catch (e) {
      errors.push(e);
    }
  };
  const procs = [...children];
  for (const p of procs) await step(() => p.kill('SIGKILL'));
  for (const m of inbox.splice(0)) for (const fd of m.fds) await step(() => closeSync(fd));
  for (const fd of held?.fds ?? []) await step(() => closeSync(fd));
  held = null;
  await step(() => keeper?.close());
  await step(() => Promise.race([Promise.all(procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? undefined : new Promise((r) => p.once('exit', r))))), sleep(5000)]));
  for (let i = 0; mnt && i < 10 && mountedConnection(mnt) !== null; i++) await step(() => fuseUmount(mnt, MNT_DETACH));
  for (const g of groups.reverse()) {
    await step(async () => {
      for (let i = 0; ; i++) {
        try {
          rmdirSync(g);
          return;
        } catch (e) {
          if (i > 50) throw e;
          await sleep(100);
        }
      }
    });
  }
  if (dir) await step(() => rmSync(dir, { recursive: true, force: true }));
  if (errors.length) throw new AggregateError(errors, 'fuserestart clean-up');
});

test('baseline: without the fds kept, a killed server leaves every read ENOTCONN', { skip }, async () => {
  const s = await startServer({ FUSERESTART_SOCKET: '' });
  assert.match(readFileSync(join(mnt, 'proc/uptime'), 'utf8'), /^\d+\.\d\d /);
  await kill(s);
  assert.throws(() => readFileSync(join(mnt, 'proc/uptime'), 'utf8'), { code: 'ENOTCONN' });
  fuseUmount(mnt, MNT_DETACH);
  assert.equal(mountedConnection(mnt), null);
});

test(`${CYCLES} kill/adopt cycles under 4 readers in 2 groups: no failed read, the right view, only a stall`, { skip, timeout: 120_000 }, async () => {
  let server = await startServer();
  const conn = held!.state.connection;
  const stop = join(dir, 'stop');
  const readers = [
    ['a', 256],
    ['a', 256],
    ['b', 128],
    ['b', 128],
  ].map(([g, mb]) => inGroup(String(g), Number(mb), [process.execPath, READER, mnt, stop, String(Number(mb) * 1024), ...FILES]));
  await until('readers started', () => readers.every((r) => r.out.includes('STARTED')), 10_000);
  await sleep(500);
  const epochs = new Set([held!.state.epoch]);
  const gaps: number[] = [];
  let resent = 0;
  const resentBy = (c: Child): number => Number(c.out.filter((l) => l.startsWith('RESENT ')).pop()?.slice(7) ?? 0);
  for (let i = 0; i < CYCLES; i++) {
    const t0 = Date.now();
    resent += resentBy(server);
    await kill(server);
    await sleep(GAP_MS);
    server = await startServer();
    gaps.push(Date.now() - t0);
    assert.equal(held!.state.connection, conn, 'the same FUSE connection throughout');
    epochs.add(held!.state.epoch);
    await sleep(700);
  }
  writeFileSync(stop, '');
  await Promise.all(readers.map((r) => r.exited));
  resent += resentBy(server);
  const results = readers.map((r) => JSON.parse(r.out.find((l) => l.startsWith('{'))!) as { ops: number; failed: number; failures: string[]; maxStallMs: number });
  const maxStall = Math.max(...results.map((r) => r.maxStallMs));
  console.log(`fuserestart: ${CYCLES} cycles, kill-to-adopted ${Math.min(...gaps)}-${Math.max(...gaps)} ms (${GAP_MS} ms without a server), reads ${results.map((r) => r.ops).join('/')}, failed ${results.map((r) => r.failed).join('/')}, longest reader stall ${maxStall} ms, requests caught in flight and resent ${resent}`);
  for (const r of results) {
    assert.deepEqual(r.failures, [], 'no read failed or showed wrong content');
    assert.equal(r.failed, 0);
    assert.ok(r.ops > 100, `a reader made only ${r.ops} reads`);
  }
  assert.ok(maxStall < Math.max(...gaps) + 2000, `longest stall ${maxStall} ms`);
  assert.equal(epochs.size, CYCLES + 1, 'each server has its own handle epoch');
  await kill(server);
  // Leave the connection served for the next test.
  await startServer();
});

test('a request the killed server had read but not answered is answered after FUSE_NOTIFY_RESEND, and only then', { skip, timeout: 60_000 }, async () => {
  if (!held) await startServer();
  const readUptime = (): Child => track(spawn('cat', [join(mnt, 'proc/uptime')], { stdio: ['ignore', 'pipe', 'pipe'] }));
  for (const resend of ['by the new server', 'held back, then written by the keeper']) {
    // The running server is replaced by one that never answers an OPEN of proc/uptime.
    const current = [...children].filter((p) => p.spawnfile === process.execPath);
    for (const p of current) p.kill('SIGKILL');
    await Promise.all(current.map((p) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(0) : p.once('exit', r)))));
    const holding = await startServer({ FUSERESTART_HOLD: 'proc/uptime' });
    const cat = readUptime();
    await until('the OPEN read and held', () => holding.out.includes('HELD'), 5000, holding);
    const t0 = Date.now();
    await kill(holding);
    const next = await startServer(resend === 'by the new server' ? {} : { FUSERESTART_NO_RESEND: '1' });
    if (resend !== 'by the new server') {
      // The new server serves new requests, but the held one stays in the dead server's
      // processing queue: nothing answers it.
      assert.match(readFileSync(join(mnt, 'proc/loadavg'), 'utf8'), /^\d+\.\d\d /);
      await sleep(1500);
      assert.equal(cat.proc.exitCode, null, 'without the notification the request stays unanswered');
      assert.equal(notifyResend(held!.fds[0]!), true);
    }
    const code = await Promise.race([cat.exited, sleep(5000).then(() => 'timeout')]);
    assert.equal(code, 0, `cat: ${cat.err.join('')}`);
    await until('the resent OPEN counted', () => next.out.includes('RESENT 1'), 2000, next);
    assert.match(cat.out.join('\n'), /^\d+\.\d\d \d+\.\d\d$/m);
    console.log(`fuserestart: a request in flight at the kill, resent ${resend}: answered ${Date.now() - t0} ms after the kill`);
  }
});
