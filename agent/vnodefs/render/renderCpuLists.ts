// /sys/devices/system/cpu/{online,possible,present}. online = the CPUs the container is shown
// (glibc's sysconf(_SC_NPROCESSORS_ONLN) counts it); possible and present = its cpuset with real
// ids, so per-CPU arrays sized from them still cover every CPU it can run on.
import { formatCpuList } from '../../cgroup/cpuList.js';
import { allowedCpus, visibleCpus } from './visibleCpus.js';
import type { ViewInput } from './ViewInput.js';

export const renderCpuOnline = (v: ViewInput): string => `${formatCpuList(visibleCpus(v.cg.cpu, v.host.onlineCpus))}\n`;
export const renderCpuPossible = (v: ViewInput): string => `${formatCpuList(allowedCpus(v.cg.cpu, v.host.possibleCpus))}\n`;
export const renderCpuPresent = (v: ViewInput): string => `${formatCpuList(allowedCpus(v.cg.cpu, v.host.presentCpus))}\n`;
