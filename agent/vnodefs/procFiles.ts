// The registry: every file vnodefs serves, as a table of { path, render } entries (plus the
// per-vNode /proc/sys entries, which are read and written from the vNode's own store), the empty
// directories that hide host directories, and where all of it is bound in a container.
import { MIN_FILE_SIZE } from './fileSize.js';
import type { ProcFile, ViewFile } from './ProcFile.js';
import { renderCpuinfo } from './render/renderCpuinfo.js';
import { renderCpuOnline, renderCpuPossible, renderCpuPresent } from './render/renderCpuLists.js';
import { renderDiskstats } from './render/renderDiskstats.js';
import { DMI_ATTRIBUTES, renderBootId, renderDmiAttribute, renderDmiModalias, renderDmiUevent, type DmiAttribute } from './render/renderIdentity.js';
import { renderLoadavg } from './render/renderLoadavg.js';
import { renderMeminfo } from './render/renderMeminfo.js';
import { renderStat } from './render/renderStat.js';
import { renderSwaps } from './render/renderSwaps.js';
import { renderUptime } from './render/renderUptime.js';
import { sysctlEntries } from './sysctl/sysctlEntries.js';

const CPU_HOST = ['onlineCpus', 'possibleCpus', 'presentCpus'] as const;

/** The DMI device's directory (/sys/class/dmi/id is a symlink to it). */
export const DMI_DIR = 'sys/devices/virtual/dmi/id';
const IDENTITY = { host: [], identity: true } as const;

/** The vNode's DMI attributes, its modalias and uevent (docs/vnodefs.md, "Host identity"). */
const dmiFiles: ViewFile[] = [
  ...(Object.entries(DMI_ATTRIBUTES) as [DmiAttribute, number][]).map(
    ([a, mode]): ViewFile => ({ kind: 'view', path: `${DMI_DIR}/${a}`, needs: IDENTITY, render: renderDmiAttribute(a), rootOnly: mode === 0o400, size: MIN_FILE_SIZE }),
  ),
  { kind: 'view', path: `${DMI_DIR}/modalias`, needs: IDENTITY, render: renderDmiModalias, size: MIN_FILE_SIZE },
  { kind: 'view', path: `${DMI_DIR}/uevent`, needs: IDENTITY, render: renderDmiUevent, size: MIN_FILE_SIZE },
];

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
  { kind: 'view', path: 'proc/sys/kernel/random/boot_id', needs: { host: [], identity: true, start: true }, render: renderBootId, size: MIN_FILE_SIZE },
  ...dmiFiles,
];

/**
 * The files each container gets its own inode of (containers/<id>/..., docs/vnodefs.md,
 * "Per-container files"), whose pages the kernel caches between reads: the views that depend on
 * the container alone. Not the identity files (their content depends on the caller's vNode, and
 * they are read rarely), and not the /proc/sys entries (written, and exact on every read).
 */
export const perContainerFiles: readonly ViewFile[] = viewFiles.filter((f) => !f.needs.identity && !f.rootOnly);

export const procFiles: readonly ProcFile[] = [
  ...viewFiles,
  ...sysctlEntries.map((s): ProcFile => ({ kind: 'sysctl', path: s.path, sysctl: s, size: MIN_FILE_SIZE })),
];

/**
 * Host directories shown empty: firmware tables and hypervisor data describe the host machine
 * (SMBIOS/DMI and ACPI tables, EFI, the device tree with a board's serial number, the host's
 * memory map; a Xen guest's domain UUID), and nothing in them belongs to a vNode. containerd
 * already masks /sys/firmware in every unprivileged container, so images expect it empty.
 */
export const emptyDirs: readonly string[] = ['sys/firmware', 'sys/hypervisor'];

/**
 * Directories bound as a whole instead of file by file: what they hold is exactly what vnodefs
 * serves, so nothing of the host's shows through, also an attribute a later kernel adds.
 */
export const wholeDirs: readonly string[] = [DMI_DIR, ...emptyDirs];

export interface BindPoint {
  /** path inside the mount, the same under / in the container */
  path: string;
  dir: boolean;
  /** a /proc/sys entry a vNode writes (bound without ro) */
  writable: boolean;
}

/** What a container gets bound: the whole directories, and every file outside them. */
export function bindPoints(): BindPoint[] {
  const inDir = (p: string): boolean => wholeDirs.some((d) => p.startsWith(`${d}/`));
  return [
    ...procFiles.filter((f) => !inDir(f.path)).map((f) => ({ path: f.path, dir: false, writable: f.kind === 'sysctl' })),
    ...wholeDirs.map((d) => ({ path: d, dir: true, writable: false })),
  ];
}
