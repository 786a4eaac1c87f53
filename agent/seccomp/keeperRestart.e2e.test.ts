// Seccomp listeners survive the manager (issue 14): a vNode container loops sysinfo (an
// intercepted syscall) while the agent serving it, a child process standing in for the manager
// (testing/agentChild.ts), is SIGKILLed several times and started again. The keeper holds the
// listeners; each new agent adopts them and freezes/thaws the container so that a call the dead
// one had received is issued again. Zero failed calls; the longest call is printed. Afterwards
// nothing is left: no keeper, no listener fd, no agent process.
// Without the keeper every kill closes the listeners and the loop's calls fail with ENOSYS.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { built, e2eSkipReason } from '../../e2e/lib/e2eGate.js';
import { skipUnless } from '../../e2e/lib/e2eGate.js';
import { runningKeeper, stopKeeper } from '../common/FdKeeper.js';
import { processRunning } from '../common/procState.js';
import type { AdoptResult } from './SeccompAgent.js';
import { buildStatic, SeccompTestBed, type TestContainer } from './testing/SeccompTestBed.js';

const KEEPER = fileURLToPath(new URL('../../../build/opt/vnode/bin/vnode-keeper', import.meta.url));
const CHILD = fileURLToPath(new URL('./testing/agentChild.js', import.meta.url));
const skip = e2eSkipReason(['/usr/sbin/runc', '/bin/busybox', '/dev/fuse']) || skipUnless(built(KEEPER));
const KILLS = 5;

let bed: SeccompTestBed | undefined;
let dir: string;
let c: TestContainer | undefined;
let agent: ChildProcess | undefined;
const agents: ChildProcess[] = [];

function seccompFdsOf(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).filter((f) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${f}`) === 'anon_inode:seccomp notify';
      } catch {
        return false;
      }
    }).length;
  } catch {
    return 0;
  }
}

/** Starts the stand-in manager; resolves with its adoption report once it serves. */
async function startAgent(): Promise<{ p: ChildProcess; adopt: AdoptResult; readyMs: number }> {
  const t0 = performance.now();
  const log = openSync(join(dir, 'agent.log'), 'a');
  const p = spawn(process.execPath, [CHILD, join(dir, 'seccomp.sock'), dir, KEEPER, join(dir, 'targets.json')], { stdio: ['ignore', 'pipe', log] });
  closeSync(log);
  agents.push(p);
  const line = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`agent not ready in 15 s: ${readFileSync(join(dir, 'agent.log'), 'utf8').slice(-2000)}`)), 15_000);
    createInterface({ input: p.stdout! }).once('line', (l) => {
      clearTimeout(t);
      resolve(l);
    });
    p.once('exit', (code) => reject(new Error(`agent exited ${code}: ${readFileSync(join(dir, 'agent.log'), 'utf8').slice(-2000)}`)));
  });
  const m = JSON.parse(line) as { ready: boolean; adopt: AdoptResult };
  return { p, adopt: m.adopt, readyMs: performance.now() - t0 };
}

async function killAgent(p: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill(signal);
  await exited;
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync('/tmp/vnode-keeper-restart-');
  const loadBin = join(dir, 'notifyload');
  const b = await buildStatic(fileURLToPath(new URL('../../../agent/seccomp/fixtures/notifyload.c', import.meta.url)), loadBin);
  assert.equal(b.code, 0, b.stderr);
  bed = await SeccompTestBed.start({ agent: { workers: 1 } });
  const id = `vnode-sec-keeper-${process.pid}`;
  writeFileSync(join(dir, 'targets.json'), JSON.stringify({ [id]: { vnodeId: 'shared:sec-keeper', fsMountpoint: bed.fs.mountpoint } }));
  agent = (await startAgent()).p;
  c = await bed.container('keeper', { vnode: 'shared:sec-keeper', memoryBytes: 256 << 20, listenerPath: join(dir, 'seccomp.sock'), files: { '/bin/notifyload': loadBin } });
});

after(async () => {
  for (const p of agents) await killAgent(p, 'SIGKILL').catch(() => undefined);
  if (bed) await bed.teardown();
  if (dir) {
    await stopKeeper(dir);
    rmSync(dir, { recursive: true, force: true });
  }
});

test(`a container's sysinfo loop sees no failure while its agent is SIGKILLed ${KILLS} times`, { skip, timeout: 120_000 }, async () => {
  assert.ok(c && agent);
  const keeperPid = runningKeeper(dir);
  assert.ok(keeperPid, 'the agent started a keeper');
  assert.equal(seccompFdsOf(keeperPid), 1, "the keeper holds the container's init listener");
  const secs = 3 + KILLS * 2;
  const loop = c.exec(['/bin/notifyload', 'loop', String(secs)], (secs + 30) * 1000);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(seccompFdsOf(keeperPid), 2, "and the exec's");
  const adopts: { adopt: AdoptResult; readyMs: number }[] = [];
  for (let i = 0; i < KILLS; i++) {
    await killAgent(agent, 'SIGKILL');
    assert.equal(seccompFdsOf(keeperPid), 2, 'the listeners outlive the agent');
    const next = await startAgent();
    agent = next.p;
    adopts.push(next);
    assert.equal(next.adopt.adopted, 2, JSON.stringify(next.adopt));
    assert.ok(next.adopt.reissued.every((r) => r.ok), JSON.stringify(next.adopt.reissued));
    await new Promise((r) => setTimeout(r, 1000 + Math.random() * 500));
  }
  const r = await loop;
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const m = /loop calls=(\d+) failed=(\d+) errno=(\d+) max_ms=([\d.]+)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  const [calls, failed, errno, maxMs] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
  const ready = adopts.map((a) => a.readyMs);
  const freeze = adopts.flatMap((a) => a.adopt.reissued.map((x) => x.ms));
  console.log(
    `# ${KILLS} SIGKILLs: ${calls} sysinfo calls, ${failed} failed (errno ${errno}), longest call ${maxMs} ms; ` +
      `agent start to serving ${Math.min(...ready).toFixed(0)}-${Math.max(...ready).toFixed(0)} ms; adopt ${adopts.map((a) => a.adopt.ms.toFixed(1)).join('/')} ms; freeze+thaw ${Math.min(...freeze).toFixed(1)}-${Math.max(...freeze).toFixed(1)} ms`,
  );
  assert.equal(failed, 0, `failed calls: ${r.stdout}`);
  assert.ok(calls > 1000, r.stdout);
  // The exec's listener hung up when its process ended: released and dropped from the keeper.
  for (let i = 0; i < 100 && seccompFdsOf(keeperPid) !== 1; i++) await new Promise((res) => setTimeout(res, 20));
  assert.equal(seccompFdsOf(keeperPid), 1, "the exec's listener was dropped");
  // Still served after the last restart.
  const again = await c.exec(['/bin/notifyload', 'loop', '1']);
  assert.match(again.stdout, /failed=0 /, again.stdout);
});

test('a graceful stop keeps the listeners; the container gone, a new agent drops them; stopKeeper leaves nothing', { skip, timeout: 60_000 }, async () => {
  assert.ok(c && agent && bed);
  const keeperPid = runningKeeper(dir)!;
  await killAgent(agent, 'SIGTERM');
  assert.equal(seccompFdsOf(keeperPid), 1, 'kept across a SIGTERM too');
  await bed.remove(c);
  c = undefined;
  const next = await startAgent();
  agent = next.p;
  assert.equal(next.adopt.adopted, 0);
  assert.equal(next.adopt.dropped, 1, 'a listener whose processes are gone is dropped');
  assert.equal(seccompFdsOf(keeperPid), 0);
  await killAgent(agent, 'SIGKILL');
  assert.equal(await stopKeeper(dir), true);
  assert.equal(processRunning(keeperPid), false);
  assert.equal(runningKeeper(dir), undefined);
  assert.ok(!existsSync(join(dir, 'keeper.sock')) && !existsSync(join(dir, 'keeper.pid')));
  for (const p of agents) assert.ok(p.exitCode !== null || p.signalCode !== null, `agent ${p.pid} ended`);
  assert.equal(seccompFdsOf(process.pid), 0, 'no listener fd in the test process');
});
