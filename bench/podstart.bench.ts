// Pod start latency through CRI, the way kubelet starts a pod: RunPodSandbox, CreateContainer,
// StartContainer, then the first successful ExecSync.
// 1. The vnode handler against the runc handler, on the same containerd in the same run,
//    alternating, median of 20 pods each, for a pod joining its namespace's vNode (the usual case:
//    an anchor pod keeps the vNode up) ...
// 2. ... and for the first pod of a namespace, which creates the vNode (holder, id range, state).
//    `pod-start-phases`: the median of each CRI call (run, create, start, exec) of those pods; its
//    ratio is vnode's RunPodSandbox+StartContainer over runc's, where the difference lies.
// 3. Parallel starts: 4 creators at once, pods/s of each handler (`pod-start-throughput`).
// 4. vnode pods of a large image (20,000 files) against a small one: the rootfs is idmapped, not
//    chowned, so the ratio stays near 1.
import { mkdirSync } from 'node:fs';
import { startVNodeBed } from '../e2e/lib/vnodeBed.js';
import { manyFilesImage } from '../e2e/lib/testImages.js';
import { bench, median } from './lib.js';

const PODS = Number(process.env.BENCH_PODS ?? 20);
const { bed, teardown } = await startVNodeBed({ name: 'bpod', subnetIndex: 90, baseDir: '/run/vnt-bpod', managerEnv: { VNODE_LOG_LEVEL: 'warn' } });
try {
  let seq = 0;
  /** Per handler: each pod's RunPodSandbox, CreateContainer, StartContainer, first ExecSync (ms). */
  const phases: Record<string, number[][]> = { runc: [], vnode: [] };
  let recording = false;
  const now = (): number => Number(process.hrtime.bigint()) / 1e6;
  const startOne = async (handler: 'runc' | 'vnode', image = bed.images.busybox.name, namespace = 'bench'): Promise<number> => {
    const t0 = now();
    const pb = bed.podConfig({ name: `b-${handler}-${++seq}`, namespace });
    const podConfig = pb.build();
    mkdirSync(podConfig.logDirectory as string, { recursive: true });
    const podId = await bed.cri.runPodSandbox(podConfig, handler);
    const t1 = now();
    const containerId = await bed.cri.createContainer(podId, bed.containerConfig({ name: 'main', image, command: ['sleep', '3600'] }), podConfig);
    const t2 = now();
    await bed.cri.startContainer(containerId);
    const t3 = now();
    for (;;) {
      const r = await bed.cri.execSync(containerId, ['true']);
      if (r.exitCode === 0) break;
    }
    const t4 = now();
    if (recording) phases[handler]!.push([t1 - t0, t2 - t1, t3 - t2, t4 - t3]);
    await bed.cri.stopPodSandbox(podId);
    await bed.cri.removePodSandbox(podId);
    return t4 - t0;
  };
  // Warm-ups (image unpack, first runc shim spare) not counted; the anchor keeps bench's vNode.
  await startOne('runc');
  await startOne('vnode');
  await bed.runPod({ name: 'anchor', namespace: 'bench', handler: 'vnode' });
  const times: Record<'runc' | 'vnode' | 'fresh', number[]> = { runc: [], vnode: [], fresh: [] };
  recording = true;
  for (let i = 0; i < PODS; i++) {
    times.runc.push(await startOne('runc'));
    times.vnode.push(await startOne('vnode'));
  }
  recording = false;
  const r = median(times.runc);
  const v = median(times.vnode);
  bench('pod-start-vnode-vs-runc', { vnode_median_ms: v, runc_median_ms: r, pods: PODS, vnode: 'shared-with-namespace' }, v / r);
  // Where the difference is: each CRI call's median (the shared-vNode pods above, and their runc peers).
  const ph = (h: string, i: number): number => median(phases[h]!.map((p) => p[i]!));
  const names = ['run', 'create', 'start', 'exec'];
  bench('pod-start-phases', Object.fromEntries(names.flatMap((n, i) => [[`vnode_${n}_ms`, ph('vnode', i)], [`runc_${n}_ms`, ph('runc', i)]])), (ph('vnode', 0) + ph('vnode', 2)) / (ph('runc', 0) + ph('runc', 2)));
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
