// mount_setattr(2): mount attributes, propagation and idmapped mounts. Performed by the manager in
// the caller's namespaces, root and cwd (addon/src/nsaction.cc, op setattr), on the target resolved
// once and a copy of struct mount_attr read once: an emulated file's mount never becomes
// MS_UNBINDABLE, itself or under AT_RECURSIVE from a mount above it (EPERM), because a recursive
// copy (mount --rbind through the manager, open_tree(AT_RECURSIVE)) leaves unbindable mounts out
// and would show the real file. Everything else is the kernel's answer to the same call.
import { NsOp } from '../../../addon/nsaction.js';
import { Errno } from '../SyscallFault.js';
import { MountConstants as M } from '../../../addon/mount.js';
import { answerOf, pathAt } from './mount.js';
import { CAP_SYS_ADMIN, CONTINUE, fail, hasCap, type Answer, type HandlerEnv, type SyscallHandler } from './types.js';

const KNOWN_FLAGS = M.AT_EMPTY_PATH | M.AT_RECURSIVE | M.AT_SYMLINK_NOFOLLOW | M.AT_NO_AUTOMOUNT;
/** MOUNT_ATTR_SIZE_VER0: attr_set, attr_clr, propagation, userns_fd (u64 each). */
const ATTR_SIZE = 32;
const PAGE = 4096;

const idmapFdTooBig = (attrSet: bigint, fd: bigint): boolean => (attrSet & BigInt(M.MOUNT_ATTR_IDMAP)) !== 0n && fd > 0x7fffffffn;

export const mount_setattr: SyscallHandler = {
  name: 'mount_setattr',
  async handle(env: HandlerEnv): Promise<Answer> {
    const emu = env.emulation;
    if (!emu) return CONTINUE;
    const [dfdArg, pathPtr, flagsArg, attrPtr, sizeArg] = env.call.args as [bigint, bigint, bigint, bigint, bigint];
    const flags = Number(flagsArg & 0xffffffffn);
    const size = sizeArg;
    // The kernel's order: flags, size, then the struct (copy_struct_from_user), then the path.
    if (flags & ~KNOWN_FLAGS) return fail(Errno.EINVAL);
    if (size > BigInt(PAGE)) return fail(Errno.E2BIG);
    if (size < BigInt(ATTR_SIZE)) return fail(Errno.EINVAL);
    const mem = env.memory();
    const raw = mem.read(attrPtr, Number(size), 'mount_setattr attr');
    if (raw.subarray(ATTR_SIZE).some((b) => b !== 0)) return fail(Errno.E2BIG);
    const attrSet = raw.readBigUInt64LE(0);
    const attrClr = raw.readBigUInt64LE(8);
    const propagation = raw.readBigUInt64LE(16);
    const usernsFd = raw.readBigUInt64LE(24);
    const st = env.status();
    if (!hasCap(st, CAP_SYS_ADMIN)) return fail(Errno.EPERM);
    if (idmapFdTooBig(attrSet, usernsFd)) return fail(Errno.EINVAL);
    const path = mem.cString(pathPtr, PAGE, 'mount_setattr path');
    const at = pathAt(Number(BigInt.asIntN(32, dfdArg)), path, { follow: !(flags & M.AT_SYMLINK_NOFOLLOW), empty: (flags & M.AT_EMPTY_PATH) !== 0 }, st);
    // Bits no mount attribute or propagation type uses: the kernel's EINVAL (and too wide to pass on).
    if ([attrSet, attrClr, propagation].some((v) => v > 0xffffffffn)) return fail(Errno.EINVAL);
    const idmap = (attrSet & BigInt(M.MOUNT_ATTR_IDMAP)) !== 0n;
    const r = await env.nsAction({
      op: NsOp.setattr,
      joinUser: true,
      path: at.path,
      dirfd: at.dirfd,
      dirfd2: idmap ? Number(BigInt.asIntN(32, usernsFd)) : undefined,
      flags: flags | (at.emptied ? M.AT_EMPTY_PATH : 0),
      attrSet: Number(attrSet),
      attrClr: Number(attrClr),
      propagation: Number(propagation),
      protect: emu.protect,
    });
    if (r.errno) env.log.debug('mount_setattr: failed', { path, stage: r.stage, code: r.code });
    return answerOf(r);
  },
};
