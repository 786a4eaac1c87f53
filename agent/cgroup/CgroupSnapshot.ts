// What vnodefs needs to know about one container's cgroup, hiding cgroup v1 versus v2.
// Every part is null when its controller is missing: renderers then fall back to host values.

export interface MemoryStat {
  anon: number;
  file: number;
  shmem: number;
  mapped: number;
  activeAnon: number;
  inactiveAnon: number;
  activeFile: number;
  inactiveFile: number;
  unevictable: number;
  slabReclaimable: number;
  slabUnreclaimable: number;
}

export interface MemorySnapshot {
  /** Smallest hard limit from the cgroup up to the root, bytes; null = unlimited. */
  limitBytes: number | null;
  usageBytes: number;
  /** Smallest swap allowance up the tree (v2 memory.swap.max, v1 memsw minus mem), bytes; null = unlimited/unknown. */
  swapLimitBytes: number | null;
  swapUsageBytes: number;
  stat: MemoryStat;
}

export interface CpuSnapshot {
  /** The tightest CFS quota up the tree; null = unlimited. */
  quota: { quotaUs: number; periodUs: number } | null;
  /** Effective cpuset (CPU ids); null = cpuset controller missing. */
  cpuset: number[] | null;
  /** CPU time consumed by the cgroup (microseconds); null = accounting controller missing. */
  usage: { totalUs: number; userUs: number; systemUs: number } | null;
}

export interface IoDeviceStat {
  readIos: number;
  writeIos: number;
  readBytes: number;
  writeBytes: number;
}

export interface IoSnapshot {
  /** "major:minor" -> counters */
  devices: Map<string, IoDeviceStat>;
}

export interface CgroupSnapshot {
  version: 1 | 2;
  memory: MemorySnapshot | null;
  cpu: CpuSnapshot | null;
  io: IoSnapshot | null;
}

export const emptyMemoryStat = (): MemoryStat => ({
  anon: 0,
  file: 0,
  shmem: 0,
  mapped: 0,
  activeAnon: 0,
  inactiveAnon: 0,
  activeFile: 0,
  inactiveFile: 0,
  unevictable: 0,
  slabReclaimable: 0,
  slabUnreclaimable: 0,
});
