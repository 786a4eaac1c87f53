// One emulated file: where it sits in the mount and how its text is made.
import type { SnapshotParts } from '../cgroup/CgroupReader.js';
import type { HostFacts, ViewInput } from './render/ViewInput.js';
import type { SysctlEntry } from './sysctl/sysctlEntries.js';

/** A file rendered from the caller's container view. */
export interface ViewFile {
  kind: 'view';
  /** path inside the mount, e.g. proc/meminfo (the same path under / in the container) */
  path: string;
  /** what the view must contain: cgroup parts, host files, load */
  needs: SnapshotParts & { host: readonly (keyof HostFacts)[]; load?: boolean; start?: boolean; identity?: boolean };
  render(v: ViewInput): string;
  /** readable only by root of the caller's user namespace (mode 0400), like the kernel's
   * root-only files (DMI serials and product_uuid); others get EACCES */
  rootOnly?: boolean;
  /** st_size and st_blksize reported (see fileSize.ts) */
  size: number;
}

/** A per-vNode /proc/sys entry: read and written in the caller's vNode only. */
export interface SysctlFile {
  kind: 'sysctl';
  path: string;
  sysctl: SysctlEntry;
  /** st_size and st_blksize reported (see fileSize.ts) */
  size: number;
}

export type ProcFile = ViewFile | SysctlFile;
