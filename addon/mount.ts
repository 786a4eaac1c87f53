// The mount API. Every call runs off the event loop (a mount can wait on a FUSE server).
import { closeSync } from 'node:fs';
import { fn, native } from './native.js';

export const MountConstants = native.mountConstants as Record<
  | 'MS_RDONLY' | 'MS_NOSUID' | 'MS_NODEV' | 'MS_NOEXEC' | 'MS_REMOUNT' | 'MS_BIND' | 'MS_MOVE' | 'MS_REC' | 'MS_PRIVATE' | 'MS_SLAVE'
  | 'MS_SHARED' | 'MS_UNBINDABLE' | 'MS_RELATIME' | 'MS_NOATIME' | 'MNT_FORCE' | 'MNT_DETACH' | 'MNT_EXPIRE' | 'UMOUNT_NOFOLLOW'
  | 'OPEN_TREE_CLONE' | 'OPEN_TREE_CLOEXEC' | 'AT_RECURSIVE' | 'AT_EMPTY_PATH' | 'AT_FDCWD' | 'AT_SYMLINK_NOFOLLOW'
  | 'AT_NO_AUTOMOUNT' | 'FSOPEN_CLOEXEC'
  | 'MOVE_MOUNT_F_EMPTY_PATH' | 'MOVE_MOUNT_T_EMPTY_PATH' | 'MOVE_MOUNT_F_SYMLINKS' | 'MOVE_MOUNT_F_AUTOMOUNTS'
  | 'MOVE_MOUNT_T_SYMLINKS' | 'MOVE_MOUNT_T_AUTOMOUNTS' | 'MOVE_MOUNT_SET_GROUP' | 'MOVE_MOUNT_BENEATH'
  | 'MOUNT_ATTR_RDONLY' | 'MOUNT_ATTR_NOSUID' | 'MOUNT_ATTR_NODEV' | 'MOUNT_ATTR_NOEXEC' | 'MOUNT_ATTR_IDMAP' | 'MOUNT_ATTR_NOSYMFOLLOW',
  number
>;

export interface MountAttr {
  attrSet?: number;
  attrClr?: number;
  propagation?: number;
  /** With MOUNT_ATTR_IDMAP: an fd of the user namespace whose mapping the mount takes. */
  usernsFd?: number;
}

export const mount = fn<(source: string | null, target: string, fstype: string | null, flags: number, data: string | null) => Promise<number>>('mount');
export const umount2 = fn<(target: string, flags: number) => Promise<number>>('umount2');
/** open_tree(dirfd, path, flags) -> fd of the mount (a detached copy with OPEN_TREE_CLONE). */
export const openTree = fn<(dirfd: number, path: string, flags: number) => Promise<number>>('openTree');
export const moveMount = fn<(fromDirfd: number, fromPath: string, toDirfd: number, toPath: string, flags: number) => Promise<number>>('moveMount');
export const mountSetattr = fn<(dirfd: number, path: string, flags: number, attr: MountAttr) => Promise<number>>('mountSetattr');

/** An overlay of idmapped lower layers in one trip to the thread pool: each `lowers[i]` bound
 * at `binds[i]` idmapped by the user namespace of `usernsFd`, then (`unmountFirst`) `target`
 * unmounted, then the overlay (`data` naming the binds as its lowerdir) mounted at `target`. On
 * failure the binds already made stay (the caller detaches them). `dataCwd`: `data` names the
 * binds relative to this directory (for options longer than mount(2)'s one page, MOUNT_DATA_MAX);
 * the mount then runs on a thread of its own with that working directory. */
export const idmapOverlay = fn<(lowers: string[], binds: string[], usernsFd: number, target: string, unmountFirst: boolean, flags: number, data: string, dataCwd?: string) => Promise<number>>('idmapOverlay');

/** The longest options string mount(2) takes: one page, its NUL included. */
export const MOUNT_DATA_MAX = 4095;

/** A bind mount of `source` at `target` whose owners are shifted by the user namespace of
 * `usernsFd` (an idmapped mount): open_tree(CLONE) + mount_setattr(IDMAP) + move_mount. */
export async function bindIdmapped(source: string, target: string, usernsFd: number, opts: { recursive?: boolean; readOnly?: boolean } = {}): Promise<void> {
  const c = MountConstants;
  const tree = await openTree(c.AT_FDCWD, source, c.OPEN_TREE_CLONE | c.OPEN_TREE_CLOEXEC | (opts.recursive ? c.AT_RECURSIVE : 0));
  try {
    // readOnly: a view to read, nothing more (no write, no setuid, no device, no exec).
    const ro = opts.readOnly ? c.MOUNT_ATTR_RDONLY | c.MOUNT_ATTR_NOSUID | c.MOUNT_ATTR_NODEV | c.MOUNT_ATTR_NOEXEC : 0;
    await mountSetattr(tree, '', c.AT_EMPTY_PATH | (opts.recursive ? c.AT_RECURSIVE : 0), { attrSet: c.MOUNT_ATTR_IDMAP | ro, usernsFd });
    await moveMount(tree, '', c.AT_FDCWD, target, c.MOVE_MOUNT_F_EMPTY_PATH);
  } finally {
    closeSync(tree);
  }
}
