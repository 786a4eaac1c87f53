// Pod start latency through CRI, the way kubelet starts a pod: RunPodSandbox, CreateContainer,
// StartContainer, then the first successful ExecSync.
// 1. The vnode handler (a pod in a vNode) against the runc handler, on the same containerd in the
//    same run, alternating, median of 20 pods each.
// 2. vnode pods of a large image (20,000 files) against a small one: the rootfs is idmapped, not
//    chowned, so the ratio stays near 1.
import { startVNodeBed } from '../e2e/lib/vnodeBed.js';
import { manyFilesImage } from '../e2e/lib/testImages.js';
import { bench, median } from './lib.js';

const PODS = Number(process.env.BENCH_PODS ?? 20);
const { bed, teardown } = await startVNodeBed({ name: 'bpod', subnetIndex: 90, baseDir: '/run/vnt-bpod', managerEnv: { VNODE_LOG_LEVEL: 'warn' } });
try {
  let seq = 0;
  const startOne = async (handler: 'runc' | 'vnode', image = bed.images.busybox.name): Promise<number> => {
    const t0 = process.hrtime.bigint();
    const { podId, containerId } = await bed.runPod({ name: `b-${handler}-${++seq}`, namespace: 'bench', handler }, { name: 'main', image, command: ['sleep', '3600'] });
    for (;;) {
      const r = await bed.cri.execSync(containerId, ['true']);
      if (r.exitCode === 0) break;
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    await bed.cri.stopPodSandbox(podId);
    await bed.cri.removePodSandbox(podId);
    return ms;
  };
  // Warm-ups (image unpack, first vNode) not counted.
  await startOne('runc');
  await startOne('vnode');
  const times: Record<'runc' | 'vnode', number[]> = { runc: [], vnode: [] };
  for (let i = 0; i < PODS; i++) {
    times.runc.push(await startOne('runc'));
    times.vnode.push(await startOne('vnode'));
  }
  const v = median(times.vnode);
  const r = median(times.runc);
  bench('pod-start-vnode-vs-runc', { vnode_median_ms: v, runc_median_ms: r, pods: PODS }, v / r);

  const big = manyFilesImage(20_000);
  bed.importImage(big.tar);
  await startOne('vnode', big.name); // unpack
  const n = Math.max(5, Math.round(PODS / 4));
  const small: number[] = [];
  const large: number[] = [];
  for (let i = 0; i < n; i++) {
    small.push(await startOne('vnode'));
    large.push(await startOne('vnode', big.name));
  }
  bench('pod-start-large-vs-small-image', { large_20k_files_median_ms: median(large), small_median_ms: median(small), pods: n }, median(large) / median(small));
} finally {
  await teardown();
}
