// umount2(2) and i386 umount(2): the mount of an emulated file cannot be removed (EPERM, the
// answer for an operation the caller may not do; EBUSY would invite retries). The check and the
// unmount happen in one helper on the same parent directory descriptor and name, serialised with
// every other mount action of that mount namespace, so a rename or a swapped argument between
// them cannot make the manager remove a different mount. Without emulated files it CONTINUEs.
import { MountConstants as M } from '../../../addon/mount.js';
import { NsOp } from '../../../addon/nsaction.js';
import { Errno } from '../SyscallFault.js';
import { answerOf } from './mount.js';
import { CAP_SYS_ADMIN, CONTINUE, fail, hasCap, type Answer, type HandlerEnv, type SyscallHandler } from './types.js';

const VALID = BigInt(M.MNT_FORCE | M.MNT_DETACH | M.MNT_EXPIRE | M.UMOUNT_NOFOLLOW);

async function handleUmount(env: HandlerEnv, flags: bigint): Promise<Answer> {
  if (flags & ~VALID) return fail(Errno.EINVAL);
  const path = env.memory().cString(env.call.args[0]!, 4096, 'umount target');
  const emu = env.emulation;
  if (!emu || !hasCap(env.status(), CAP_SYS_ADMIN)) return CONTINUE;
  return answerOf(await env.nsAction({ op: NsOp.umount, joinUser: true, path, flags: Number(flags), protect: emu.protect }));
}

export const umount2: SyscallHandler = {
  name: 'umount2',
  handle: (env) => handleUmount(env, env.call.args[1]! & 0xffffffffn),
};

export const umount: SyscallHandler = {
  name: 'umount',
  handle: (env) => handleUmount(env, 0n),
};
