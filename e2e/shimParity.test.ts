// A `vnode` pod must behave exactly like a `runc` pod. One table of cases
// runs through both handlers on the same containerd and the results are compared; then
// containerd is restarted under running vnode pods, and the last pod's removal must leave the
// manager serving and nothing else behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CriMessage } from '../installer/cri/CriClient.js';
import { e2eSkipReason } from './lib/e2eGate.js';
import { isAlive, processes, waitFor } from './lib/hostState.js';
import type { ManagerProcess } from './lib/ManagerProcess.js';
import { startVNodeBed, type VNodeBed } from './lib/vnodeBed.js';
import { TestBed, TREE_DIR } from './lib/TestBed.js';

const skip = e2eSkipReason();
const BASE = '/run/vnt-parity';
let bed: TestBed;
let manager: ManagerProcess;
let vb: VNodeBed;

before(async () => {
  if (skip) return;
  vb = await startVNodeBed({ name: 'parity', subnetIndex: 2, baseDir: BASE });
  bed = vb.bed;
  manager = vb.manager;
});

after(async () => {
  if (!vb) return;
  assert.deepEqual(await vb.teardown(), [], 'nothing left behind');
});


type Handler = 'runc' | 'vnode';

async function waitExited(containerId: string, timeoutMs = 30_000): Promise<CriMessage> {
  return waitFor(
    `container ${containerId.slice(0, 12)} to exit`,
    async () => {
      const s = (await bed.cri.containerStatus(containerId)).status;
      return s.state === 'CONTAINER_EXITED' ? s : undefined;
    },
    timeoutMs,
    100,
  );
}

/** CRI log lines as [stream, tag, text], sorted (the two streams race). */
function criLog(path: string): string[][] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [, stream, tag, ...text] = l.split(' ');
      return [stream!, tag!, text.join(' ')];
    })
    .sort();
}

const cases: Record<string, (h: Handler) => Promise<unknown>> = {
  async execSync(h) {
    const { containerId } = await bed.runPod({ name: `exec-${h}`, handler: h });
    const a = await bed.cri.execSync(containerId, ['echo', 'hello']);
    const b = await bed.cri.execSync(containerId, ['sh', '-c', 'echo oops >&2; exit 3']);
    const c = await bed.cri.execSync(containerId, ['sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "']);
    return [a, b, c];
  },
  async logs(h) {
    const { podConfig, containerId } = await bed.runPod(
      { name: `logs-${h}`, handler: h },
      { name: 'main', command: ['sh', '-c', 'echo out-line; echo err-line >&2; exec sleep 3600'] },
    );
    const path = join(podConfig.logDirectory as string, 'main/0.log');
    await waitFor('two log lines', () => criLog(path).length >= 2, 10_000);
    const st = (await bed.cri.containerStatus(containerId)).status;
    return { lines: criLog(path), logPath: (st.logPath as string).replace(podConfig.logDirectory as string, '<dir>') };
  },
  async exitsByItself(h) {
    const { containerId } = await bed.runPod({ name: `selfexit-${h}`, handler: h }, { name: 'main', command: ['sh', '-c', 'echo bye; exit 7'] });
    const s = await waitExited(containerId);
    return { exitCode: s.exitCode, reason: s.reason, state: s.state };
  },
  async oomKilled(h) {
    const { containerId } = await bed.runPod(
      { name: `oom-${h}`, handler: h },
      // tail buffers an endless line of zeros until the 16 MiB limit kills it.
      { name: 'main', command: ['tail', '/dev/zero'], memoryLimitBytes: 16 << 20 },
    );
    const s = await waitExited(containerId, 60_000);
    return { exitCode: s.exitCode, reason: s.reason };
  },
  async stopAndRemoveContainer(h) {
    const { podId, containerId } = await bed.runPod({ name: `stop-${h}`, handler: h });
    const t0 = Date.now();
    await bed.cri.stopContainer(containerId, 2);
    const s = await waitExited(containerId);
    const tookGrace = Date.now() - t0 >= 1500; // sleep as pid 1 ignores SIGTERM: killed after the grace period
    await bed.cri.removeContainer(containerId);
    const left = (await bed.cri.listContainers(podId)).length;
    return { exitCode: s.exitCode, reason: s.reason, tookGrace, left };
  },
  async execOutlivesContainer(h) {
    const { containerId } = await bed.runPod({ name: `outlive-${h}`, handler: h });
    const exec = bed.cri.execSync(containerId, ['sleep', '60'], 90).then(
      (r) => ({ settled: 'resolved', exitCode: r.exitCode }),
      (e: Error) => ({ settled: 'rejected', error: e.message.replace(/[0-9a-f]{64}/g, '<id>') }),
    );
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    await bed.cri.stopContainer(containerId, 0);
    const r = await exec;
    return { ...r, endedWithContainer: Date.now() - t0 < 20_000 };
  },
  async podStopRemove(h) {
    const { podId } = await bed.runPod({ name: `podrm-${h}`, handler: h });
    const info = JSON.parse((await bed.cri.podSandboxStatus(podId, true)).info.info!) as { pid: number };
    await bed.cri.stopPodSandbox(podId);
    const state = (await bed.cri.podSandboxStatus(podId)).status.state;
    await bed.cri.removePodSandbox(podId);
    const listed = (await bed.cri.listPodSandboxes()).some((p) => p.id === podId);
    return { state, listed, sandboxAlive: isAlive(info.pid) };
  },
};

describe('a vnode pod behaves exactly like a runc pod', { skip }, () => {
  for (const [name, run] of Object.entries(cases)) {
    test(name, { timeout: 180_000 }, async () => {
      const runc = await run('runc');
      const vnode = await run('vnode');
      assert.deepEqual(vnode, runc, `vnode differs from runc in ${name}\nmanager log:\n${manager.tail(20)}`);
      // The baseline itself is what Kubernetes expects (so equality is not vacuous).
      if (name === 'exitsByItself') assert.deepEqual(runc, { exitCode: 7, reason: 'Error', state: 'CONTAINER_EXITED' });
      if (name === 'oomKilled') assert.deepEqual(runc, { exitCode: 137, reason: 'OOMKilled' });
      if (name === 'stopAndRemoveContainer') assert.deepEqual(runc, { exitCode: 137, reason: 'Error', tookGrace: true, left: 0 });
      if (name === 'podStopRemove') assert.deepEqual(runc, { state: 'SANDBOX_NOTREADY', listed: false, sandboxAlive: false });
    });
  }
});

describe('vnode pods around containerd restarts and pod removal', { skip }, () => {
  test('containerd restarted while vnode pods run: they keep running and are still managed', { timeout: 120_000 }, async () => {
    const a = await bed.runPod({ name: 'restart-a', handler: 'vnode' });
    const b = await bed.runPod({ name: 'restart-b', handler: 'vnode' });
    const pids = await Promise.all([a, b].map(async (p) => (JSON.parse((await bed.cri.containerStatus(p.containerId, true)).info.info!) as { pid: number }).pid));
    await bed.restartContainerd();
    for (const pid of pids) assert.ok(isAlive(pid), `container process ${pid} survived the restart`);
    for (const p of [a, b]) {
      assert.equal((await bed.cri.containerStatus(p.containerId)).status.state, 'CONTAINER_RUNNING');
      assert.deepEqual(await bed.cri.execSync(p.containerId, ['echo', 'still here']), { stdout: 'still here\n', stderr: '', exitCode: 0 });
    }
    // Still managed: stop goes through the manager and the exit is seen.
    await bed.cri.stopContainer(a.containerId, 0);
    assert.equal((await waitExited(a.containerId)).exitCode, 137);
    await bed.cri.stopPodSandbox(a.podId);
    await bed.cri.removePodSandbox(a.podId);
    await bed.cri.stopPodSandbox(b.podId);
    await bed.cri.removePodSandbox(b.podId);
  });

  test('removing the last pod leaves the manager serving and nothing else', { timeout: 120_000 }, async () => {
    const p = await bed.runPod({ name: 'last', handler: 'vnode' });
    await bed.cri.stopPodSandbox(p.podId);
    await bed.cri.removePodSandbox(p.podId);
    await bed.removeAllPods();
    assert.ok(isAlive(manager.pid), 'the manager still runs');
    const v = spawnSync(join(TREE_DIR, 'bin/containerd-shim-vnode-v2'), ['-v'], { env: { ...process.env, ...manager.clientEnv }, encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /containerd-shim-vnode-v2/);
    // No pod's runc shim is left and the manager holds no per-pod state.
    const shims = () => processes().filter((x) => x.cmdline.includes('containerd-shim-runc-v2') && x.cmdline.includes(bed.socket));
    await waitFor('pod runc shims to exit', () => shims().length === 0, 10_000).catch((e: Error) => {
      throw new Error(`${e.message}: ${shims().map((x) => x.cmdline).join('; ')}\n${manager.tail(30)}`);
    });
    assert.deepEqual(readdirSync(join(manager.stateDir, 'containers')), []);
  });
});
