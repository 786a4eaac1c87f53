// Pod start latency through CRI, the way kubelet starts a pod: RunPodSandbox, CreateContainer,
// StartContainer, then the first successful ExecSync.
// 1. The vnode handler against the runc handler, on the same containerd in the same run,
//    alternating, median of 20 pods each, for a pod joining its namespace's vNode (the usual case:
//    an anchor pod keeps the vNode up) ...
// 2. ... and for the first pod of a namespace, which creates the vNode (holder, id range, state).
// 3. Parallel starts: 4 creators at once, pods/s of each handler (`pod-start-throughput`).
// 4. vnode pods of a large image (20,000 files) against a small one: the rootfs is idmapped, not
//    chowned, so the ratio stays near 1.
import { startVNodeBed } from '../e2e/lib/vnodeBed.js';
import { manyFilesImage } from '../e2e/lib/testImages.js';
import { bench, median } from './lib.js';

const PODS = Number(process.env.BENCH_PODS ?? 20);
const { bed, teardown } = await startVNodeBed({ name: 'bpod', subnetIndex: 90, baseDir: '/run/vnt-bpod', managerEnv: { VNODE_LOG_LEVEL: 'warn' } });
try {
  let seq = 0;
  const startOne = async (handler: 'runc' | 'vnode', image = bed.images.busybox.name, namespace = 'bench'): Promise<number> => {
    const t0 = process.hrtime.bigint();
    const { podId, containerId } = await bed.runPod({ name: `b-${handler}-${++seq}`, namespace, handler }, { name: 'main', image, command: ['sleep', '3600'] });
    for (;;) {
      const r = await bed.cri.execSync(containerId, ['true']);
      if (r.exitCode === 0) break;
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    await bed.cri.stopPodSandbox(podId);
    await bed.cri.removePodSandbox(podId);
    return ms;
  };
  // Warm-ups (image unpack, first runc shim spare) not counted; the anchor keeps bench's vNode.
  await startOne('runc');
  await startOne('vnode');
  await bed.runPod({ name: 'anchor', namespace: 'bench', handler: 'vnode' });
  const times: Record<'runc' | 'vnode' | 'fresh', number[]> = { runc: [], vnode: [], fresh: [] };
  for (let i = 0; i < PODS; i++) {
    times.runc.push(await startOne('runc'));
    times.vnode.push(await startOne('vnode'));
  }
  const r = median(times.runc);
  const v = median(times.vnode);
  bench('pod-start-vnode-vs-runc', { vnode_median_ms: v, runc_median_ms: r, pods: PODS, vnode: 'shared-with-namespace' }, v / r);
  const runc2: number[] = [];
  for (let i = 0; i < PODS; i++) {
    runc2.push(await startOne('runc'));
    times.fresh.push(await startOne('vnode', bed.images.busybox.name, `fresh-${i}`));
  }
  const f = median(times.fresh);
  bench('pod-start-new-vnode-vs-runc', { vnode_median_ms: f, runc_median_ms: median(runc2), pods: PODS, vnode: 'created-for-the-pod' }, f / median(runc2));

  // 4. Parallel starts: CREATORS clients at once, each starting (and removing) pods one after
  //    another, as kubelet does for a node filling up; pods/s of each handler, two rounds each,
  //    alternating. The vnode pods join the anchored vNode of their namespace.
  const CREATORS = 4;
  const per = Math.max(3, Math.round(PODS / 4));
  const throughput = async (handler: 'runc' | 'vnode'): Promise<number> => {
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CREATORS }, async () => {
      for (let i = 0; i < per; i++) await startOne(handler);
    }));
    return (CREATORS * per) / ((performance.now() - t0) / 1000);
  };
  const rates: Record<'runc' | 'vnode', number[]> = { runc: [], vnode: [] };
  for (let round = 0; round < 2; round++) {
    rates.runc.push(await throughput('runc'));
    rates.vnode.push(await throughput('vnode'));
  }
  const tr = rates.runc.reduce((a, x) => a + x, 0) / rates.runc.length;
  const tv = rates.vnode.reduce((a, x) => a + x, 0) / rates.vnode.length;
  bench('pod-start-throughput', { vnode_pods_per_s: tv, runc_pods_per_s: tr, creators: CREATORS, pods_per_round: CREATORS * per, rounds: 2 }, tv / tr);

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
