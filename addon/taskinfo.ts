// The host's sysinfo(2) and another task's sched_getaffinity(2), which the seccomp handlers turn
// into a container's answers.
import { fn } from './native.js';

export interface HostSysinfo {
  uptime: number;
  loads: [number, number, number];
  totalram: number;
  freeram: number;
  sharedram: number;
  bufferram: number;
  totalswap: number;
  freeswap: number;
  procs: number;
  memUnit: number;
}

export const hostSysinfo = fn<() => HostSysinfo>('sysinfo');
/** The kernel's affinity mask of `tid`, as many bytes as the syscall returned for `bytes`. */
export const schedGetaffinity = fn<(tid: number, bytes: number) => Buffer>('schedGetaffinity');
