// Mount-family actions performed for a trapped caller inside its namespaces, chrooted to its root
// and in its cwd, on file descriptors (addon/src/nsaction.cc). The policy of when to use which is
// agent/seccomp's.
import { fn, native } from './native.js';

export const NsOp = native.nsActionOps as {
  mountFs: number;
  bind: number;
  move: number;
  umount: number;
  mknod: number;
  probe: number;
  fsopen: number;
  moveMount: number;
  setattr: number;
  /** Binds `overlays` (host file, path in the target's root) over paths the target has; a missing
   * one is skipped; `value` says how many were bound. No listener needed: used for a container
   * that runs nothing yet (its /proc/sys entries, before `runc start`). */
  overlay: number;
};

/**
 * The character devices `mknod` actions may make, [major, minor, host device]: the addon refuses
 * any other (a hard limit on what host root creates for a container, beside agent/seccomp's policy).
 */
export const NS_SAFE_DEVICES = native.nsActionSafeDevices as readonly (readonly [number, number, string])[];

export interface NsActionRequest {
  op: number;
  /** The caller's host tid (its /proc entry names the namespaces, root and cwd). */
  pid: number;
  /** Listener fd and notification id: checked with ID_VALID after every fd of the caller is open. */
  listener?: number;
  id?: bigint;
  /** Join the caller's user namespace and act as its root (the kernel's user-namespace rules apply). */
  joinUser?: boolean;
  /** target path (mount target, umount target, mknod path, move_mount to_path) */
  path?: string;
  /** source path (bind, move, move_mount from_path) */
  path2?: string;
  /** fstype for mountFs and fsopen (fsopen never makes proc or sysfs: the addon throws). */
  fstype?: string;
  source?: string;
  data?: string;
  flags?: number;
  mode?: number;
  umask?: number;
  /** The caller's dirfd number (mknodat, move_mount's to_dfd), copied with pidfd_getfd; absent = its cwd. */
  dirfd?: number;
  /** The same for move_mount's from_dfd, a bind's source /proc/self/fd/N (with an empty path2), or mount_setattr's userns_fd (MOUNT_ATTR_IDMAP). */
  dirfd2?: number;
  /** setattr: struct mount_attr (an emulated file's mount never becomes MS_UNBINDABLE: EPERM). */
  attrSet?: number;
  attrClr?: number;
  propagation?: number;
  /** mknod: the character device, one of NS_SAFE_DEVICES. */
  rdev?: [number, number];
  /** [major, minor] of the emulated files' superblock: refused as umount/move source, never made unbindable. */
  protect?: [number, number];
  /** For mountFs: (host file or directory, path inside the new mount) bound on top; for overlay:
   * (host file or directory, absolute path in the target's root). At most 64 (more throws: a file
   * left out would show the real one). A missing path is skipped. */
  overlays?: [string, string][];
}

export interface NsActionResult {
  /** 0 on success, else the errno to answer the caller with. */
  errno: number;
  code: string;
  /** Which step failed ('' on success). */
  stage: string;
  /** mountFs: emulated files bound; bind: 1 if made recursive; mknod: 0 a device node, 1 the host's
   * device bound; fsopen: the context's descriptor number in the caller, which the action has
   * already answered the notification with (ADDFD|SEND: the handler must not answer again). */
  value: number;
}

export const nsAction = fn<(req: NsActionRequest) => Promise<NsActionResult>>('nsAction');
