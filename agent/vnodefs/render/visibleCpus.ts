// Which CPUs a container is shown: its cpuset, cut down to ceil(quota/period) CPUs when a CFS
// quota is tighter. Exported for anything else that answers "how many CPUs" (e.g. a seccomp
// handler for sched_getaffinity) so every answer agrees.
import type { CpuSnapshot } from '../../cgroup/CgroupSnapshot.js';

export function visibleCpus(cpu: CpuSnapshot | null, hostOnline: readonly number[]): number[] {
  const online = new Set(hostOnline);
  let base = cpu?.cpuset ? cpu.cpuset.filter((c) => online.has(c)) : [...hostOnline];
  if (base.length === 0) base = [...hostOnline];
  const q = cpu?.quota;
  // Half a CPU still needs one CPU to run on; 1.5 CPUs can use two in parallel.
  const n = q ? Math.max(1, Math.ceil(q.quotaUs / q.periodUs)) : base.length;
  return base.slice(0, Math.min(n, base.length));
}

/** CPUs the container may ever run on (cpuset, real ids): for possible/present. */
export function allowedCpus(cpu: CpuSnapshot | null, hostList: readonly number[]): number[] {
  if (!cpu?.cpuset) return [...hostList];
  const host = new Set(hostList);
  const set = cpu.cpuset.filter((c) => host.has(c));
  return set.length ? set : [...hostList];
}
