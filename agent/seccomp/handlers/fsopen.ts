// fsopen(2), the first step of the fd-based mount API (fsopen, fsconfig, fsmount, move_mount).
// The manager makes the filesystem context itself, in the caller's namespaces as the root of its
// user namespace (addon/src/nsaction.cc, op fsopen), and puts it into the caller with
// SECCOMP_IOCTL_NOTIF_ADDFD: the type name is read once and never re-read by the kernel, so a
// thread rewriting it after our check changes nothing. From there fsconfig and fsmount run
// natively: the context belongs to the caller's user namespace, so the kernel's rules for a user
// namespace decide (a block device or any type not mountable there fails at FSCONFIG_CMD_CREATE,
// as through mount(2)). proc and sysfs are refused with ENOSYS, which every tool answers by using
// mount(2), where the manager binds the emulated files on top: a context of those types would
// give a mount without them, and nothing marks a context's type afterwards.
import { MountConstants as M } from '../../../addon/mount.js';
import { NsOp } from '../../../addon/nsaction.js';
import { Errno } from '../SyscallFault.js';
import { CAP_SYS_ADMIN, CONTINUE, fail, hasCap, sent, type Answer, type HandlerEnv, type SyscallHandler } from './types.js';

/** strndup_user(name, PAGE_SIZE): a longer name is EINVAL. */
const NAME_MAX_BYTES = 4096;

/** The filesystem types whose new mounts must carry the emulated files (the addon refuses them too). */
export const EMULATED_FS_TYPES: ReadonlySet<string> = new Set(['proc', 'sysfs']);

export const fsopen: SyscallHandler = {
  name: 'fsopen',
  async handle(env: HandlerEnv): Promise<Answer> {
    if (!env.emulation) return CONTINUE;
    const flags = Number(env.call.args[1]! & 0xffffffffn);
    // The kernel's order: may_mount, flags, the name.
    if (!hasCap(env.status(), CAP_SYS_ADMIN)) return fail(Errno.EPERM);
    if (flags & ~M.FSOPEN_CLOEXEC) return fail(Errno.EINVAL);
    const fstype = env.memory().cString(env.call.args[0]!, NAME_MAX_BYTES, 'fsopen fs_name', Errno.EINVAL);
    if (EMULATED_FS_TYPES.has(fstype)) {
      env.log.debug('fsopen: refused for an emulated filesystem (ENOSYS: the caller falls back to mount(2))', { fstype });
      return fail(Errno.ENOSYS);
    }
    const r = await env.nsAction({ op: NsOp.fsopen, joinUser: true, fstype, flags });
    return r.errno ? fail(r.errno) : sent(r.value);
  },
};
