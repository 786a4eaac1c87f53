// The registry: every file vnodefs serves, as a table of { path, render } entries (plus the
// per-vNode /proc/sys entries, which are read and written from the vNode's own store).
import { MIN_FILE_SIZE } from './fileSize.js';
import type { ProcFile, ViewFile } from './ProcFile.js';
import { renderCpuinfo } from './render/renderCpuinfo.js';
import { renderCpuOnline, renderCpuPossible, renderCpuPresent } from './render/renderCpuLists.js';
import { renderDiskstats } from './render/renderDiskstats.js';
import { renderLoadavg } from './render/renderLoadavg.js';
import { renderMeminfo } from './render/renderMeminfo.js';
import { renderStat } from './render/renderStat.js';
import { renderSwaps } from './render/renderSwaps.js';
import { renderUptime } from './render/renderUptime.js';
import { sysctlEntries } from './sysctl/sysctlEntries.js';

const CPU_HOST = ['onlineCpus', 'possibleCpus', 'presentCpus'] as const;

export const viewFiles: readonly ViewFile[] = [
  { kind: 'view', path: 'proc/meminfo', needs: { memory: true, host: ['meminfo'] }, render: renderMeminfo, size: MIN_FILE_SIZE },
  { kind: 'view', path: 'proc/cpuinfo', needs: { cpu: true, host: ['cpuinfo', ...CPU_HOST] }, render: renderCpuinfo, size: MIN_FILE_SIZE },
  { kind: 'view', path: 'proc/stat', needs: { cpu: true, host: ['stat', ...CPU_HOST], load: true, start: true }, render: renderStat, size: MIN_FILE_SIZE },
  { kind: 'view', path: 'proc/uptime', needs: { cpu: true, host: CPU_HOST, start: true }, render: renderUptime, size: MIN_FILE_SIZE },
  { kind: 'view', path: 'proc/loadavg', needs: { host: ['loadavg'], load: true }, render: renderLoadavg, size: MIN_FILE_SIZE },
  { kind: 'view', path: 'proc/swaps', needs: { memory: true, host: ['meminfo'] }, render: renderSwaps, size: MIN_FILE_SIZE },
  { kind: 'view', path: 'proc/diskstats', needs: { io: true, host: ['diskstats'] }, render: renderDiskstats, size: MIN_FILE_SIZE },
  { kind: 'view', path: 'sys/devices/system/cpu/online', needs: { cpu: true, host: CPU_HOST }, render: renderCpuOnline, size: MIN_FILE_SIZE },
  { kind: 'view', path: 'sys/devices/system/cpu/possible', needs: { cpu: true, host: CPU_HOST }, render: renderCpuPossible, size: MIN_FILE_SIZE },
  { kind: 'view', path: 'sys/devices/system/cpu/present', needs: { cpu: true, host: CPU_HOST }, render: renderCpuPresent, size: MIN_FILE_SIZE },
];

export const procFiles: readonly ProcFile[] = [
  ...viewFiles,
  ...sysctlEntries.map((s): ProcFile => ({ kind: 'sysctl', path: s.path, sysctl: s, size: MIN_FILE_SIZE })),
];
