// mknod(2), mknodat(2). A user namespace may create FIFOs, sockets, regular files and overlayfs
// whiteouts (char 0:0) itself: those CONTINUE. Of the device nodes, the safe character devices
// (null, zero, full, random, urandom, tty) are made for a caller with CAP_MKNOD; every other
// device gets EPERM, the kernel's answer. The decision uses only the mode and dev registers, which
// cannot change under us.
// How (addon/src/nsaction.cc, op mknod): the parent directory is resolved and a placeholder made
// in it O_EXCL as the caller (so every check of creating there is the kernel's), removed again,
// and host root makes a real node at that name through that directory fd, then gives it the
// placeholder's owner and mode: the node belongs to the vNode's root, can be written in /tmp and
// removed with rm, as on a real node. Where host root cannot make a node (a filesystem mounted
// inside the user namespace, where none could ever be opened: SB_I_NODEV), the host's device is
// bound on an empty file instead, as sysbox does (docs/seccomp.md has the table).
import { MountConstants as M } from '../../../addon/mount.js';
import { NsOp } from '../../../addon/nsaction.js';
import { Errno } from '../SyscallFault.js';
import { answerOf } from './mount.js';
import { CAP_MKNOD, CONTINUE, fail, hasCap, type Answer, type HandlerEnv, type SyscallHandler } from './types.js';

const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

/** The safe set, "major:minor" -> the host device it is (the addon enforces the same list). */
export const SAFE_CHAR_DEVICES: ReadonlyMap<string, string> = new Map([
  ['1:3', '/dev/null'],
  ['1:5', '/dev/zero'],
  ['1:7', '/dev/full'],
  ['1:8', '/dev/random'],
  ['1:9', '/dev/urandom'],
  ['5:0', '/dev/tty'],
]);

/** The kernel's new_decode_dev for the 32-bit dev_t of mknod. */
export function decodeDev(dev: number): { major: number; minor: number } {
  return { major: (dev & 0xfff00) >>> 8, minor: (dev & 0xff) | ((dev >>> 12) & 0xfff00) };
}

/** FIFOs, sockets, regular files and whiteouts go on as the caller's own call, answered at once
 * (no promise: the answer leaves before the loop looks for the next call); devices are made. */
function handleMknod(env: HandlerEnv, dirfd: number, pathPtr: bigint, modeArg: bigint, devArg: bigint): Answer | Promise<Answer> {
  const mode = Number(modeArg & 0xffffffffn);
  const type = mode & S_IFMT;
  if (type !== S_IFCHR && type !== S_IFBLK) return CONTINUE;
  const { major, minor } = decodeDev(Number(devArg & 0xffffffffn));
  if (type === S_IFCHR && major === 0 && minor === 0) return CONTINUE; // whiteout
  return makeDevice(env, dirfd, pathPtr, mode, type, major, minor);
}

async function makeDevice(env: HandlerEnv, dirfd: number, pathPtr: bigint, mode: number, type: number, major: number, minor: number): Promise<Answer> {
  const path = env.memory().cString(pathPtr, 4096, 'mknod path');
  const device = type === S_IFCHR ? SAFE_CHAR_DEVICES.get(`${major}:${minor}`) : undefined;
  const st = env.status();
  if (!device || !hasCap(st, CAP_MKNOD)) return fail(Errno.EPERM);
  const rel = !path.startsWith('/') && dirfd !== M.AT_FDCWD;
  const r = await env.nsAction({ op: NsOp.mknod, joinUser: true, path, rdev: [major, minor], mode: mode & 0o7777, umask: st.umask, dirfd: rel ? dirfd : undefined });
  if (!r.errno && r.value === 1) env.log.debug('seccomp: mknod bound the host device (no node can be made on this filesystem)', { path, device });
  return answerOf(r);
}

export const mknod: SyscallHandler = {
  name: 'mknod',
  handle: (env) => handleMknod(env, M.AT_FDCWD, env.call.args[0]!, env.call.args[1]!, env.call.args[2]!),
};

export const mknodat: SyscallHandler = {
  name: 'mknodat',
  handle: (env) => handleMknod(env, Number(BigInt.asIntN(32, env.call.args[0]!)), env.call.args[1]!, env.call.args[2]!, env.call.args[3]!),
};
