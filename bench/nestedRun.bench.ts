// `BENCH nested-run`: `docker run --rm IMAGE true` inside a privileged vNode pod (dockerd as the
// vNode's root, its cgroup delegated, every mount of the nested runc answered by the manager)
// against the same image and nested runtime run by host root in a privileged runc pod, on the same
// containerd in the same run. Each round times ROUNDS runs in each pod, alternating pods; the
// times are taken inside the pod (date +%s%N around the docker run), so ExecSync is not counted.
// The median per pod and their ratio (vnode / runc) are printed.
import { join } from 'node:path';
import { NESTED_IMAGE, prepareDind, runDindPod } from '../e2e/lib/dindPod.js';
import { startVNodeBed } from '../e2e/lib/vnodeBed.js';
import { bench, median } from './lib.js';

const ROUNDS = Number(process.env.BENCH_NESTED_ROUNDS ?? 8);
const PER_ROUND = 3;
const BASE = '/run/vnt-bnest';
const KUBELET = join(BASE, 'kubelet');
const { bed, teardown } = await startVNodeBed({ name: 'bnest', subnetIndex: 79, baseDir: BASE, managerEnv: { VNODE_LOG_LEVEL: 'warn', VNODE_KUBELET_ROOT: KUBELET, ...(process.env.BENCH_CPU_BUDGET ? { VNODE_CPU_BUDGET: process.env.BENCH_CPU_BUDGET } : {}) } });
try {
  const { imagesDir } = prepareDind(bed, BASE);
  const pods = {
    vnode: await runDindPod(bed, { name: 'nest-vnode', handler: 'vnode', uid: `bnest-vnode-${process.pid}`, kubeletRoot: KUBELET, imagesDir }),
    runc: await runDindPod(bed, { name: 'nest-runc', handler: 'runc', uid: `bnest-runc-${process.pid}`, kubeletRoot: KUBELET, imagesDir }),
  };
  const sh = async (containerId: string, script: string): Promise<string> => {
    const r = await bed.cri.execSync(containerId, ['sh', '-c', script], 300);
    if (r.exitCode !== 0) throw new Error(`${script}: exit ${r.exitCode}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const times: Record<keyof typeof pods, number[]> = { vnode: [], runc: [] };
  const runs = async (h: keyof typeof pods, n: number): Promise<number[]> =>
    (await sh(pods[h].containerId, `for i in $(seq ${n}); do s=$(date +%s%N); docker run --rm ${NESTED_IMAGE} true || exit 1; e=$(date +%s%N); echo $(( (e - s) / 1000 )); done`))
      .trim()
      .split('\n')
      .map((us) => Number(us) / 1000);
  for (const h of ['vnode', 'runc'] as const) {
    await sh(pods[h].containerId, 'docker load -i /images/busybox.tar >/dev/null');
    await runs(h, 2); // warm-up: the first run unpacks the image's layer
  }
  for (let r = 0; r < ROUNDS; r++) for (const h of r % 2 ? (['runc', 'vnode'] as const) : (['vnode', 'runc'] as const)) times[h].push(...(await runs(h, PER_ROUND)));
  const v = median(times.vnode);
  const c = median(times.runc);
  bench('nested-run', { runs: times.vnode.length, vnode_ms: v, runc_ms: c, vnode_p90_ms: [...times.vnode].sort((a, b) => a - b)[Math.floor(times.vnode.length * 0.9)]!, load1: (await import('node:os')).loadavg()[0]! }, v / c);
} finally {
  const left = await teardown();
  if (left.length) console.error(`nested-run left: ${left.join(', ')}`);
}
