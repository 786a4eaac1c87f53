// open_tree(2). The manager cannot make the copy for the caller (SECCOMP_IOCTL_NOTIF_ADDFD refuses
// O_PATH files, and open_tree returns one), so it decides on the flags alone, which sit in a
// register and cannot change under it:
//   no OPEN_TREE_CLONE: an O_PATH open, CONTINUE;
//   OPEN_TREE_CLONE | AT_RECURSIVE: CONTINUE: a recursive copy carries the emulated files with it,
//     whatever mount a racing thread makes the path name (emulated mounts are never unbindable, so
//     none is left out: see mount.ts);
//   OPEN_TREE_CLONE alone: ENOSYS. A plain copy of a procfs or sysfs mount would leave the emulated
//     files behind and show the real ones, and a check of the path before CONTINUE is a race any
//     second thread wins. Callers fall back to mount(2) MS_BIND (util-linux, runc, systemd), which
//     the manager makes recursive for procfs and sysfs only.
import { MountConstants as M } from '../../../addon/mount.js';
import { Errno } from '../SyscallFault.js';
import { CONTINUE, fail, type Answer, type HandlerEnv, type SyscallHandler } from './types.js';

/** The flags this handler knows; any other is EINVAL, as on a kernel without it (never passed on unread). */
const KNOWN = M.OPEN_TREE_CLONE | M.OPEN_TREE_CLOEXEC | M.AT_SYMLINK_NOFOLLOW | M.AT_NO_AUTOMOUNT | M.AT_EMPTY_PATH | M.AT_RECURSIVE;

export const open_tree: SyscallHandler = {
  name: 'open_tree',
  handle(env: HandlerEnv): Answer {
    const flags = Number(env.call.args[2]! & 0xffffffffn);
    if (flags & ~KNOWN) return fail(Errno.EINVAL);
    if (!env.emulation || !(flags & M.OPEN_TREE_CLONE) || flags & M.AT_RECURSIVE) return CONTINUE;
    env.log.debug('open_tree: non-recursive copy refused (ENOSYS: the caller falls back to mount(2))');
    return fail(Errno.ENOSYS);
  },
};
