// What one flooding pod costs the manager, and what it does to another vNode (issue 14, part 3).
// Real pods through CRI on a vnode bed: a flooder pod (vNode `flood-a`, its container limited to
// half a CPU, as kubelet sets cpu quota) runs 4 loops of open+read+close of /proc/meminfo (vnodefs,
// FUSE) and 4 loops of sysinfo(2) (intercepted by seccomp) for FLOOD_S; a victim pod in another
// vNode (`flood-b`) measures one reader's latency of each, first with the node idle, then during
// the flood. The loops are bench/vnodefsReader.c, static, bind-mounted read-only into the pods.
// Two managers in one run: without a budget (VNODE_CPU_BUDGET=0, the peer) and with the default
// per-vNode budget (0.25 CPU each for vnodefs and for seccomp; VNODE_CPU_BUDGET overrides).
//   BENCH flood-cost manager_cpu_s_per_s=.. unbudgeted_manager_cpu_s_per_s=.. ... ratio=<with / without budget>
//   BENCH flood-victim-meminfo p50_idle_us=.. p99_idle_us=.. p50_flood_us=.. p99_flood_us=.. unbudgeted_..=.. ratio=<p99 flood / idle, with budget>
//   BENCH flood-victim-sysinfo (same fields)
// The victim calls once every 5 ms (a light workload), so its own calls never reach its budget.
// Manager CPU is its process's utime+stime (all threads: vnodefs and seccomp workers included)
// over the flood window; the flooder's is its pod cgroup's cpuacct.usage (v1; cpu.stat on v2).
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startVNodeBed } from '../e2e/lib/vnodeBed.js';
import { bench, processCpuS } from './lib.js';

const FLOOD_S = Number(process.env.BENCH_FLOOD_SECONDS ?? 8);
const MEASURE_S = 3;
const root = join(fileURLToPath(new URL('.', import.meta.url)), '../..');
// Every vNode uid must reach the reader: a 0755 dir outside any 0700 parent.
mkdirSync('/var/tmp', { recursive: true });
const work = mkdtempSync('/var/tmp/vnode-flood-');
chmodSync(work, 0o755);
const reader = join(work, 'reader');
execFileSync('cc', ['-static', '-O2', '-o', reader, join(root, 'bench/vnodefsReader.c')]);
chmodSync(reader, 0o755);

function cgroupCpuS(cgroupParent: string): number {
  const v1 = `/sys/fs/cgroup/cpuacct${cgroupParent}/cpuacct.usage`;
  if (existsSync(v1)) return Number(readFileSync(v1, 'utf8')) / 1e9;
  const stat = readFileSync(`/sys/fs/cgroup${cgroupParent}/cpu.stat`, 'utf8');
  return Number(/usage_usec (\d+)/.exec(stat)![1]) / 1e6;
}
const field = (out: string, k: string): number => Number(new RegExp(`${k}=(\\d+)`).exec(out)?.[1] ?? NaN);

interface FloodRun {
  managerCpu: number;
  flooderCpu: number;
  opsPerS: number;
  window: number;
  idle: Record<'meminfo' | 'sysinfo', { p50: number; p99: number }>;
  flood: Record<'meminfo' | 'sysinfo', { p50: number; p99: number }>;
}

/** One bed, one manager with VNODE_CPU_BUDGET=budget: the victim idle, then under the flood. */
async function run(budget: string): Promise<FloodRun> {
  const { bed, manager, teardown } = await startVNodeBed({ name: 'flood', subnetIndex: 47, baseDir: '/run/vnt-flood', managerEnv: { VNODE_LOG_LEVEL: 'warn', VNODE_CPU_BUDGET: budget } });
  try {
    const mounts = [{ containerPath: '/flood', hostPath: work, readonly: true }];
    const victim = await bed.runPod({ name: 'victim', namespace: 'flood-b', handler: 'vnode' }, { name: 'main', command: ['sleep', '3600'], mounts });
    // The victim is a light workload: one call every 5 ms, its latency taken.
    const measure = async (what: string): Promise<{ p50: number; p99: number }> => {
      const r = await bed.cri.execSync(victim.containerId, ['/flood/reader', what, String(MEASURE_S), 'lat', '5000'], MEASURE_S + 60);
      if (r.exitCode !== 0) throw new Error(`victim reader of ${what}: ${r.stderr}`);
      return { p50: field(r.stdout, 'median_ns') / 1000, p99: field(r.stdout, 'p99_ns') / 1000 };
    };
    await measure('/proc/meminfo');
    const idle = { meminfo: await measure('/proc/meminfo'), sysinfo: await measure('sysinfo') };
    const loops = [0, 1, 2, 3].map((i) => `/flood/reader /proc/meminfo ${FLOOD_S} > /tmp/m${i} & /flood/reader sysinfo ${FLOOD_S} > /tmp/s${i} &`).join(' ');
    const flooder = await bed.runPod(
      { name: 'flooder', namespace: 'flood-a', handler: 'vnode' },
      { name: 'main', command: ['sh', '-c', `${loops} wait; cat /tmp/m* /tmp/s* > /tmp/done; sleep 3600`], mounts, cpuQuota: 50_000, cpuPeriod: 100_000 },
    );
    const cg = flooder.podConfig.linux as { cgroupParent: string };
    await sleep(1000);
    const m0 = processCpuS(manager.pid);
    const f0 = cgroupCpuS(cg.cgroupParent);
    const t0 = performance.now();
    const flood = { meminfo: await measure('/proc/meminfo'), sysinfo: await measure('sysinfo') };
    const window = (performance.now() - t0) / 1000;
    const managerCpu = (processCpuS(manager.pid) - m0) / window;
    const flooderCpu = (cgroupCpuS(cg.cgroupParent) - f0) / window;
    let done = '';
    for (let i = 0; i < FLOOD_S + 30 && !done; i++) {
      const r = await bed.cri.execSync(flooder.containerId, ['sh', '-c', 'cat /tmp/done 2>/dev/null'], 10);
      done = r.stdout.trim();
      if (!done) await sleep(1000);
    }
    const reads = [...done.matchAll(/reads=(\d+)/g)].reduce((acc, m) => acc + Number(m[1]), 0);
    return { managerCpu, flooderCpu, opsPerS: Math.round(reads / FLOOD_S), window, idle, flood };
  } finally {
    const left = await teardown();
    if (left.length) throw new Error(`flood bench left: ${left.join(', ')}`);
  }
}

try {
  const off = await run('0');
  const on = await run(process.env.VNODE_CPU_BUDGET ?? '0.25');
  bench('flood-cost', { manager_cpu_s_per_s: on.managerCpu, unbudgeted_manager_cpu_s_per_s: off.managerCpu, flooder_cpu_s_per_s: on.flooderCpu, unbudgeted_flooder_cpu_s_per_s: off.flooderCpu, flooder_ops_per_s: on.opsPerS, unbudgeted_flooder_ops_per_s: off.opsPerS }, on.managerCpu / off.managerCpu);
  for (const k of ['meminfo', 'sysinfo'] as const) {
    bench(`flood-victim-${k}`, { p50_idle_us: on.idle[k].p50, p99_idle_us: on.idle[k].p99, p50_flood_us: on.flood[k].p50, p99_flood_us: on.flood[k].p99, unbudgeted_p50_flood_us: off.flood[k].p50, unbudgeted_p99_flood_us: off.flood[k].p99 }, on.flood[k].p99 / on.idle[k].p99);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
