// Pod start latency through CRI, the way kubelet starts a pod: RunPodSandbox, CreateContainer,
// StartContainer, then the first successful ExecSync. The vnode handler against the runc handler,
// on the same containerd in the same run, alternating, median of 20 pods each.
import { join } from 'node:path';
import { ManagerProcess } from '../e2e/lib/ManagerProcess.js';
import { TestBed, TREE_DIR } from '../e2e/lib/TestBed.js';
import { bench, median } from './lib.js';

const PODS = Number(process.env.BENCH_PODS ?? 20);
const BASE = '/run/vnt-bpod';
const manager = new ManagerProcess(join(BASE, 'vnode'), join(BASE, 'vnode-state'), { VNODE_LOG_LEVEL: 'warn' });
const bed = await TestBed.start({
  name: 'bpod',
  subnetIndex: 90,
  baseDir: BASE,
  env: manager.clientEnv,
  path: [join(TREE_DIR, 'bin')],
  runtimes: { vnode: { runtime_type: 'io.containerd.vnode.v2' } },
});
try {
  await manager.start();
  const times: Record<'runc' | 'vnode', number[]> = { runc: [], vnode: [] };
  const startOne = async (handler: 'runc' | 'vnode', i: number): Promise<number> => {
    const t0 = process.hrtime.bigint();
    const { podId, containerId } = await bed.runPod({ name: `b-${handler}-${i}`, handler });
    for (;;) {
      const r = await bed.cri.execSync(containerId, ['true']);
      if (r.exitCode === 0) break;
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    await bed.cri.stopPodSandbox(podId);
    await bed.cri.removePodSandbox(podId);
    return ms;
  };
  // One warm-up of each (image unpack, first shim start) not counted.
  await startOne('runc', -1);
  await startOne('vnode', -1);
  for (let i = 0; i < PODS; i++) {
    times.runc.push(await startOne('runc', i));
    times.vnode.push(await startOne('vnode', i));
  }
  const v = median(times.vnode);
  const r = median(times.runc);
  bench('pod-start-vnode-vs-runc', { vnode_median_ms: v, runc_median_ms: r, pods: PODS }, v / r);
} finally {
  try {
    await bed.removeAllPods();
  } finally {
    await manager.stop();
    await bed.teardown();
  }
}
