// move_mount(2): attaches a detached tree (fsmount, open_tree) or moves a mount. The manager
// performs it (addon/src/nsaction.cc, op moveMount) in the caller's namespaces, root and cwd, on
// descriptors resolved once with the caller's lookup flags, and refuses to move an emulated file's
// own mount (EPERM, as MS_MOVE through mount(2)): that would uncover the real file. A detached
// tree named by the caller's descriptor is moved through that descriptor itself.
import { MountConstants as M } from '../../../addon/mount.js';
import { NsOp } from '../../../addon/nsaction.js';
import { Errno } from '../SyscallFault.js';
import { pathAt } from './mount.js';
import { CAP_SYS_ADMIN, CONTINUE, fail, hasCap, ok, type Answer, type HandlerEnv, type SyscallHandler } from './types.js';

const {
  MOVE_MOUNT_F_SYMLINKS: F_SYMLINKS,
  MOVE_MOUNT_F_AUTOMOUNTS: F_AUTOMOUNTS,
  MOVE_MOUNT_F_EMPTY_PATH: F_EMPTY_PATH,
  MOVE_MOUNT_T_SYMLINKS: T_SYMLINKS,
  MOVE_MOUNT_T_AUTOMOUNTS: T_AUTOMOUNTS,
  MOVE_MOUNT_T_EMPTY_PATH: T_EMPTY_PATH,
  MOVE_MOUNT_SET_GROUP: SET_GROUP,
  MOVE_MOUNT_BENEATH: BENEATH,
} = M;
const KNOWN = F_SYMLINKS | F_AUTOMOUNTS | F_EMPTY_PATH | T_SYMLINKS | T_AUTOMOUNTS | T_EMPTY_PATH | SET_GROUP | BENEATH;

export const move_mount: SyscallHandler = {
  name: 'move_mount',
  async handle(env: HandlerEnv): Promise<Answer> {
    const emu = env.emulation;
    if (!emu) return CONTINUE;
    const [fromDfd, fromPtr, toDfd, toPtr, flagsArg] = env.call.args as [bigint, bigint, bigint, bigint, bigint];
    const flags = Number(flagsArg & 0xffffffffn);
    const st = env.status();
    // The kernel's order: may_mount, flags, then the two names.
    if (!hasCap(st, CAP_SYS_ADMIN)) return fail(Errno.EPERM);
    if (flags & ~KNOWN || (flags & (SET_GROUP | BENEATH)) === (SET_GROUP | BENEATH)) return fail(Errno.EINVAL);
    const mem = env.memory();
    const fromRaw = mem.cString(fromPtr, 4096, 'move_mount from_pathname');
    const toRaw = mem.cString(toPtr, 4096, 'move_mount to_pathname');
    const int = (v: bigint) => Number(BigInt.asIntN(32, v));
    const from = pathAt(int(fromDfd), fromRaw, { follow: (flags & F_SYMLINKS) !== 0, empty: (flags & F_EMPTY_PATH) !== 0 }, st);
    const to = pathAt(int(toDfd), toRaw, { follow: (flags & T_SYMLINKS) !== 0, empty: (flags & T_EMPTY_PATH) !== 0 }, st);
    const r = await env.nsAction({
      op: NsOp.moveMount,
      joinUser: true,
      path: to.path,
      dirfd: to.dirfd,
      path2: from.path,
      dirfd2: from.dirfd,
      flags: flags | (from.emptied ? F_EMPTY_PATH : 0) | (to.emptied ? T_EMPTY_PATH : 0),
      protect: emu.protect,
    });
    if (r.errno) env.log.debug('move_mount: failed', { from: fromRaw, to: toRaw, stage: r.stage, code: r.code });
    return r.errno ? fail(r.errno) : ok(0);
  },
};
