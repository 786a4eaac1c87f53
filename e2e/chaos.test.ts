// The manager may die at any instant (issue 14): ten pods in three vNodes loop over vnodefs reads
// (fresh opens and fds kept open), intercepted syscalls (sysinfo, sched_getaffinity) and execs
// while the manager is SIGKILLed five times and upgraded once to another build of the tree. Not
// one read, syscall or exec may fail, no container may restart, and nothing may be left after.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { e2eSkipReason } from './lib/e2eGate.js';
import { isAlive } from './lib/hostState.js';
import { ManagerProcess } from './lib/ManagerProcess.js';
import { REPO_ROOT, TestBed, TREE_DIR } from './lib/TestBed.js';
import { startVNodeBed, type VNodeBed } from './lib/vnodeBed.js';

const skip = e2eSkipReason();
const BASE = '/run/vnt-chaos';
const BIN = join(BASE, 'bin');
const KILLS = 5;
let vb: VNodeBed;
let bed: TestBed;

before(async () => {
  if (skip) return;
  vb = await startVNodeBed({ name: 'chaos', subnetIndex: 72, baseDir: BASE });
  bed = vb.bed;
  mkdirSync(BIN, { recursive: true, mode: 0o755 });
  execFileSync('cc', ['-static', '-O2', '-Wall', '-o', join(BIN, 'chaosload'), join(REPO_ROOT, 'e2e/images/chaosload.c')]);
});

after(async () => {
  if (!vb) return;
  assert.deepEqual(await vb.teardown(), [], 'nothing left behind');
});

interface Stat {
  iter: number;
  fail: number;
  maxus: number;
  last: string;
}

function parseStat(text: string): Stat {
  const m = /^iter=(\d+) fail=(\d+) maxus=(\d+) last=(.*)$/m.exec(text);
  if (!m) throw new Error(`no chaosload stat in ${JSON.stringify(text)}`);
  return { iter: Number(m[1]), fail: Number(m[2]), maxus: Number(m[3]), last: m[4]! };
}

test('ten pods in three vNodes: the manager SIGKILLed five times and upgraded once; zero failed reads, syscalls and execs', { skip, timeout: 600_000 }, async () => {
  const pods: { podId: string; containerId: string; pid: number }[] = [];
  for (let i = 0; i < 10; i++) {
    const ns = ['chaos-a', 'chaos-b', 'chaos-c'][i % 3]!;
    const p = await bed.runPod(
      { name: `load-${i}`, namespace: ns, handler: 'vnode' },
      { name: 'load', command: ['/chaos/chaosload', '/tmp/stat', '2000'], mounts: [{ containerPath: '/chaos', hostPath: BIN, readonly: true }] },
    );
    const pid = (JSON.parse((await bed.cri.containerStatus(p.containerId, true)).info.info!) as { pid: number }).pid;
    pods.push({ ...p, pid });
  }
  assert.equal(readdirSync(join(vb.manager.stateDir, 'vnodes')).filter((f) => f.endsWith('.json')).length, 3, 'one vNode per namespace');

  // A /proc/sys value one pod of vNode chaos-a wrote must still be its vNode's after the restarts.
  const pidMax = readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim() === '65536' ? '65537' : '65536';
  const sh = (id: string, script: string) => bed.cri.execSync(id, ['sh', '-c', script]);
  assert.equal((await sh(pods[0]!.containerId, `echo ${pidMax} > /proc/sys/kernel/pid_max && cat /proc/sys/kernel/pid_max`)).stdout.trim(), pidMax);

  // Execs all along, round robin over the pods.
  let execs = 0;
  const execFailures: string[] = [];
  let running = true;
  const execLoop = (async () => {
    for (let i = 0; running; i++) {
      const p = pods[i % pods.length]!;
      try {
        const r = await bed.cri.execSync(p.containerId, ['cat', '/tmp/stat'], 30);
        if (r.exitCode !== 0) execFailures.push(`exit ${r.exitCode}: ${r.stderr}`);
        execs++;
      } catch (e) {
        execFailures.push((e as Error).message);
      }
    }
  })();

  // The version to upgrade to: another build of the tree (copied before the chaos starts).
  const tree2 = join(BASE, 'tree-next');
  cpSync(TREE_DIR, tree2, { recursive: true, verbatimSymlinks: true });
  const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await settle(2000);
  let manager = vb.manager;
  const gaps: number[] = [];
  for (let k = 0; k <= KILLS; k++) {
    const t0 = performance.now();
    if (k < KILLS) {
      await manager.stop('SIGKILL');
      await manager.start();
    } else {
      // An upgrade: the installer's supervisor stops the old manager (SIGTERM) and starts the new
      // version's, from another tree.
      const next = new ManagerProcess(manager.runDir, manager.stateDir, manager.extraEnv, join(tree2, 'bin/vnode-manager'));
      await manager.stop('SIGTERM', { keepFds: true });
      await next.start();
      manager = next;
      vb.manager = next;
    }
    gaps.push(performance.now() - t0);
    await settle(3000);
  }
  running = false;
  await execLoop;

  const stats: Stat[] = [];
  for (const p of pods) {
    assert.ok(isAlive(p.pid), `container ${p.containerId} kept its process ${p.pid}`);
    const st = await bed.cri.containerStatus(p.containerId);
    assert.equal(st.status.state, 'CONTAINER_RUNNING');
    stats.push(parseStat((await bed.cri.execSync(p.containerId, ['cat', '/tmp/stat'])).stdout));
  }
  assert.equal((await sh(pods[3]!.containerId, 'cat /proc/sys/kernel/pid_max')).stdout.trim(), pidMax, 'the vNode kept its /proc/sys value');
  assert.notEqual((await sh(pods[1]!.containerId, 'cat /proc/sys/kernel/pid_max')).stdout.trim(), pidMax, 'only that vNode');
  const failed = stats.filter((s) => s.fail > 0);
  console.log(
    `chaos: ${KILLS} kills + 1 upgrade, manager back after ${gaps.map((g) => g.toFixed(0)).join('/')} ms; ${stats.reduce((a, s) => a + s.iter, 0)} load loops, ` +
      `longest operation ${Math.max(...stats.map((s) => s.maxus)) / 1000} ms; ${execs} execs`,
  );
  assert.deepEqual(failed.map((s) => `${s.fail} failed, last ${s.last}`), [], 'no failed read or syscall');
  assert.ok(stats.every((s) => s.iter > 100), 'every load loop ran');
  assert.deepEqual(execFailures, [], 'no failed exec');
  assert.ok(execs > 20);

  for (const p of pods) {
    await bed.cri.stopPodSandbox(p.podId);
    await bed.cri.removePodSandbox(p.podId);
  }
});
