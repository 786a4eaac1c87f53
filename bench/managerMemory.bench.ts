// Memory with many pods (issue 16, target 6): 100 pods in 10 vNodes on one manager. Prints the
// manager's RSS (all its threads) and the per-pod cost of each handler on the same containerd:
// for vnode, (manager RSS growth + vNode holders + the pods' runc shims) / pods; for runc, the
// runc shims / pods (containerd-shim-runc-v2, one per pod, what the runc handler adds per pod).
// The containers themselves (pause, sleep) cost the same in both and are not counted.
//   BENCH manager-memory manager_rss_mib=.. vnode_per_pod_kib=.. runc_per_pod_kib=.. pods=.. vnodes=.. ratio=<vnode / runc per pod>
// And the CPU the manager takes while those 100 pods just run (IDLE_S seconds, nothing asked of
// the node; a node agent should sleep then), against containerd's in the same seconds, the
// node's other resident daemon with the same pods:
//   BENCH idle-cpu manager_ms_per_s=.. containerd_ms_per_s=.. pods=.. vnodes=.. ratio=<manager / containerd>
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processes } from '../e2e/lib/hostState.js';
import { startVNodeBed } from '../e2e/lib/vnodeBed.js';
import { bench, processCpuS } from './lib.js';

const PODS = Number(process.env.BENCH_MEMORY_PODS ?? 100);
const VNODES = Number(process.env.BENCH_MEMORY_VNODES ?? 10);
const { bed, manager, teardown } = await startVNodeBed({ name: 'mem', subnetIndex: 74, baseDir: '/run/vnt-mem', managerEnv: { VNODE_LOG_LEVEL: 'warn', ...(process.env.VNODE_WORKER_YOUNG_MB !== undefined ? { VNODE_WORKER_YOUNG_MB: process.env.VNODE_WORKER_YOUNG_MB } : {}) } });

const rssKb = (pid: number): number => {
  try {
    return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
};
/** Sum of RSS of this bed's processes whose command line matches. */
const sumRss = (match: (cmd: string) => boolean): { kb: number; n: number } => {
  const ps = processes().filter((p) => match(p.cmdline));
  return { kb: ps.reduce((a, p) => a + rssKb(p.pid), 0), n: ps.length };
};
/** CPU time (ms) a process has used, all its threads (0 once it is gone). */
const cpuMs = (pid: number): number => {
  try {
    return processCpuS(pid) * 1000;
  } catch {
    return 0;
  }
};
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 10);
/** CPU ms per second each process takes over the same IDLE_S seconds of nothing asked. */
async function idleCpu(pids: number[]): Promise<number[]> {
  const before = pids.map(cpuMs);
  await sleep(IDLE_S * 1000);
  return pids.map((p, i) => (cpuMs(p) - before[i]!) / IDLE_S);
}
const shims = (cmd: string) => cmd.includes('containerd-shim-runc-v2') && cmd.includes(bed.socket);
/** This manager's vNode holders (their pids from its vNode records). */
const holderRss = (): { kb: number; n: number } => {
  const dir = join(manager.stateDir, 'vnodes');
  const pids = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { holder?: { pid: number } | null }).holder?.pid ?? 0)
    .filter((p) => p > 0);
  return { kb: pids.reduce((a, p) => a + rssKb(p), 0), n: pids.length };
};

async function fill(handler: 'runc' | 'vnode'): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < PODS; i++) {
    const { podId } = await bed.runPod({ name: `m-${handler}-${i}`, namespace: `mem-${i % VNODES}`, handler });
    ids.push(podId);
  }
  await sleep(3000);
  return ids;
}
async function empty(ids: string[]): Promise<void> {
  for (const id of ids) {
    await bed.cri.stopPodSandbox(id);
    await bed.cri.removePodSandbox(id);
  }
  await sleep(2000);
}

try {
  // Warm-up: one pod each (image, the manager's first vNode), then the baseline.
  await empty([(await bed.runPod({ name: 'w-runc', handler: 'runc' })).podId, (await bed.runPod({ name: 'w-vnode', handler: 'vnode' })).podId]);
  const base = rssKb(manager.pid);
  const vIds = await fill('vnode');
  const mgr = rssKb(manager.pid);
  const vShims = sumRss(shims);
  const vHolders = holderRss();
  const [mgrIdle, ctrIdle] = await idleCpu([manager.pid, bed.containerdPid]);
  await empty(vIds);
  const rIds = await fill('runc');
  const rShims = sumRss(shims);
  await empty(rIds);
  const vnodePerPod = (mgr - base + vShims.kb + vHolders.kb) / PODS;
  const runcPerPod = rShims.kb / PODS;
  bench(
    'manager-memory',
    { manager_rss_mib: mgr / 1024, manager_baseline_mib: base / 1024, vnode_per_pod_kib: vnodePerPod, runc_per_pod_kib: runcPerPod, shims: vShims.n, holders: vHolders.n, pods: PODS, vnodes: VNODES },
    vnodePerPod / runcPerPod,
  );
  // containerd's figure is rounded up to one tick over the window, so a containerd that slept
  // through it still gives a finite ratio.
  bench('idle-cpu', { manager_ms_per_s: mgrIdle!, containerd_ms_per_s: ctrIdle!, pods: PODS, vnodes: VNODES, seconds: IDLE_S }, mgrIdle! / Math.max(ctrIdle!, 10 / IDLE_S));
} finally {
  await teardown();
}
