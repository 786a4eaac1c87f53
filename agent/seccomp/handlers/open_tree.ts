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
import { Errno } from '../SyscallFault.js';
import { CONTINUE, fail, type Answer, type HandlerEnv, type SyscallHandler } from './types.js';

const OPEN_TREE_CLONE = 1;
const OPEN_TREE_CLOEXEC = 0o2000000;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_NO_AUTOMOUNT = 0x800;
const AT_EMPTY_PATH = 0x1000;
const AT_RECURSIVE = 0x8000;
/** The flags this handler knows; any other is EINVAL, as on a kernel without it (never passed on unread). */
const KNOWN = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH | AT_RECURSIVE;

export const open_tree: SyscallHandler = {
  name: 'open_tree',
  handle(env: HandlerEnv): Answer {
    const flags = Number(env.call.args[2]! & 0xffffffffn);
    if (flags & ~KNOWN) return fail(Errno.EINVAL);
    if (!env.emulation || !(flags & OPEN_TREE_CLONE) || flags & AT_RECURSIVE) return CONTINUE;
    env.log.debug('open_tree: non-recursive copy refused (ENOSYS: the caller falls back to mount(2))');
    return fail(Errno.ENOSYS);
  },
};
