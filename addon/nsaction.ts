// Mount-family actions performed for a trapped caller inside its namespaces, chrooted to its root
// and in its cwd, on file descriptors (addon/src/nsaction.cc). The policy of when to use which is
// agent/seccomp's.
import { fn, native } from './native.js';

export const NsOp = native.nsActionOps as { mountFs: number; bind: number; move: number; umount: number; mkdev: number; probe: number };

export interface NsActionRequest {
  op: number;
  /** The caller's host tid (its /proc entry names the namespaces, root and cwd). */
  pid: number;
  /** Listener fd and notification id: checked with ID_VALID after every fd of the caller is open. */
  listener?: number;
  id?: bigint;
  /** Join the caller's user namespace and act as its root (the kernel's user-namespace rules apply). */
  joinUser?: boolean;
  /** target path (mount target, umount target, mknod path) */
  path: string;
  /** source path (bind, move) */
  path2?: string;
  fstype?: string;
  source?: string;
  data?: string;
  flags?: number;
  mode?: number;
  umask?: number;
  /** The caller's dirfd number (mknodat), copied with pidfd_getfd; absent = its cwd. */
  dirfd?: number;
  /** Host device bound for mkdev, e.g. /dev/null. */
  device?: string;
  /** [major, minor] of the emulated files' superblock: refused as umount/move source. */
  protect?: [number, number];
  /** For mountFs: (host file or directory, path inside the new mount) bound on top; at most 64
   * (more throws: a file left out would show the real one). A missing path is skipped. */
  overlays?: [string, string][];
}

export interface NsActionResult {
  /** 0 on success, else the errno to answer the caller with. */
  errno: number;
  code: string;
  /** Which step failed ('' on success). */
  stage: string;
  value: number;
}

export const nsAction = fn<(req: NsActionRequest) => Promise<NsActionResult>>('nsAction');
