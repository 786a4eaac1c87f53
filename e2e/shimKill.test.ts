// kill -9 of a pod's runc shim: the vnode handler loses no more than the runc handler, and keeps
// nothing the runc handler would not keep. For each handler on one containerd: a pod runs, its
// container's shim is killed, and then the container's CRI state, ExecSync, the pod's state, Stop
// and Remove, and whether the container's processes survive are compared. (Before the fix the
// vnode container's processes outlived RemovePodSandbox and its vNode holder stayed: the central
// shim kept containerd's connection, so containerd never ran its dead-shim cleanup.)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { processRunning } from '../agent/common/procState.js';
import { e2eSkipReason } from './lib/e2eGate.js';
import { waitFor } from './lib/hostState.js';
import { startVNodeBed, type VNodeBed } from './lib/vnodeBed.js';

const skip = e2eSkipReason();
let vb: VNodeBed;

before(async () => {
  if (skip) return;
  vb = await startVNodeBed({ name: 'shimkill', subnetIndex: 53, baseDir: '/run/vnt-shimkill' });
});

after(async () => {
  if (!vb) return;
  assert.deepEqual(await vb.teardown(), [], 'nothing left behind (no process, mount, vNode holder)');
});

const zombieOrGone = (pid: number) => !processRunning(pid);

async function killShim(handler: 'runc' | 'vnode'): Promise<Record<string, unknown>> {
  const bed = vb.bed;
  const { podId, containerId } = await bed.runPod({ name: `k-${handler}`, namespace: `kill-${handler}`, handler }, { name: 'main', command: ['sh', '-c', 'sleep 3600 & exec sleep 3600'] });
  const pid = JSON.parse((await bed.cri.containerStatus(containerId, true)).info.info!).pid as number;
  const shim = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
  assert.match(readFileSync(`/proc/${shim}/cmdline`, 'utf8'), /containerd-shim-runc-v2/, `${handler}: the container's parent is its runc shim`);
  process.kill(shim, 'SIGKILL');
  const st = await waitFor(`${handler} container to be reported exited`, async () => {
    const s = await bed.cri.containerStatus(containerId);
    return s.status.state === 'CONTAINER_EXITED' ? s : undefined;
  }, 20_000, 100);
  const exec = await bed.cri.execSync(containerId, ['echo', 'hi'], 5).then(
    () => 'ran',
    (e: Error) => (/CONTAINER_EXITED/.test(e.message) ? 'refused: exited' : e.message),
  );
  const pod = (await bed.cri.listPodSandboxes()).find((p) => p.id === podId)?.state;
  await bed.cri.stopPodSandbox(podId);
  await bed.cri.removePodSandbox(podId);
  await waitFor(`${handler} container processes to end`, () => zombieOrGone(pid) || undefined, 10_000, 50);
  return { state: st.status.state, exitCode: st.status.exitCode, exec, pod, processGone: zombieOrGone(pid), pods: (await bed.cri.listPodSandboxes()).length };
}

test('kill -9 of a runc shim: the vnode pod ends as the runc pod does, and nothing of it is left', { skip, timeout: 120_000 }, async () => {
  const runc = await killShim('runc');
  const vnode = await killShim('vnode');
  assert.deepEqual(vnode, runc, 'the same outcome as the runc handler');
  assert.equal(runc.processGone, true, "no container process outlives the pod's removal");
  // The vNode went with its only pod: the after() hook's teardown finds no holder left.
});
