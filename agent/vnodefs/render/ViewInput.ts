// The input of every renderer: a snapshot of one container's cgroup plus the host facts and
// times it needs. Renderers are pure functions of this value.
import type { CgroupSnapshot } from '../../cgroup/CgroupSnapshot.js';
import type { VnodeIdentity } from './renderIdentity.js';

/** Host files a renderer may pass through or filter (text as read from the host). */
export interface HostFacts {
  meminfo: string;
  cpuinfo: string;
  stat: string;
  diskstats: string;
  loadavg: string;
  /** host /sys/devices/system/cpu/{online,possible,present} */
  onlineCpus: number[];
  possibleCpus: number[];
  presentCpus: number[];
}

/** The container's load average as sampled every 5 s by the load sampler. */
export interface LoadSample {
  load1: number;
  load5: number;
  load15: number;
  /** runnable tasks now */
  running: number;
  /** tasks in the container */
  total: number;
  /** uninterruptible tasks now */
  blocked: number;
}

export interface ViewInput {
  cg: CgroupSnapshot;
  host: HostFacts;
  nowMs: number;
  /** When the container's pod started (ms since the epoch); filled for files that need it. */
  startedAtMs: number;
  load: LoadSample | null;
  /** The caller's vNode; filled for files that show a machine identity (renderIdentity.ts). */
  vnode: VnodeIdentity | null;
}

export const USER_HZ = 100;
