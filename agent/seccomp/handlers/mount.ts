// mount(2). What the kernel already decides right inside the user namespace (tmpfs, overlay with
// userxattr, devpts, mqueue, cgroup2, remounts, propagation changes, and everything that would
// reach the host: block devices, filesystems not mountable in a user namespace) CONTINUEs and
// gets the kernel's answer. The manager acts itself only where the emulated files are at stake:
//   proc, sysfs: mounted as the caller (its user, mount, pid, net namespaces, root and cwd), with
//     the vnodefs files bound on top before the call returns;
//   bind: performed on file descriptors, recursive when the source is procfs or sysfs (a plain
//     bind of /proc would show the real files under the emulated ones);
//   MS_MOVE: performed on file descriptors; an emulated file's own mount cannot be moved (EPERM);
//   MS_UNBINDABLE: performed as mount_setattr (mount_setattr.ts): an emulated file's mount never
//     becomes unbindable, itself or under MS_REC (EPERM), or a recursive copy would leave it out.
// Kernel order of the flag tests is kept: REMOUNT, BIND, propagation, MOVE, new mount.
import { MountConstants as M } from '../../../addon/mount.js';
import type { NsActionResult } from '../../../addon/nsaction.js';
import { NsOp } from '../../../addon/nsaction.js';
import { Errno } from '../SyscallFault.js';
import { CAP_SYS_ADMIN, CONTINUE, fail, hasCap, ok, type Answer, type HandlerEnv, type SyscallHandler } from './types.js';

const MS_MGC_MSK = 0xffff0000n;
const MS_MGC_VAL = 0xc0ed0000n;
const PROPAGATION = BigInt(M.MS_SHARED | M.MS_PRIVATE | M.MS_SLAVE | M.MS_UNBINDABLE);
const PATH_MAX = 4096;

export interface MountArgs {
  source: string | null;
  target: string;
  fstype: string | null;
  flags: bigint;
  data: string | null;
}

/** Reads the arguments the way do_mount copies them: bad pointers are EFAULT, a string without
 * NUL in PATH_MAX is EINVAL (type, source) or ENAMETOOLONG (target). */
export function readMountArgs(env: HandlerEnv): MountArgs {
  const [src, tgt, type, flagsArg, data] = env.call.args as [bigint, bigint, bigint, bigint, bigint];
  const mem = env.memory();
  const fstype = type ? mem.cString(type, PATH_MAX, 'mount fstype', Errno.EINVAL) : null;
  const source = src ? mem.cString(src, PATH_MAX, 'mount source', Errno.EINVAL) : null;
  const dataText = data ? mem.dataPage(data, 'mount data') : null;
  const target = mem.cString(tgt, PATH_MAX, 'mount target');
  let flags = flagsArg;
  if ((flags & MS_MGC_MSK) === MS_MGC_VAL) flags &= ~MS_MGC_MSK;
  return { source, target, fstype, flags, data: dataText };
}

/** /proc/self and /proc/thread-self name the helper where the caller meant itself (`ip netns add`
 * binds /proc/self/ns/net): point them at the caller's own entry in its pid namespace. */
export function selfToCaller(path: string, caller: { nsTid: number; nsTgid: number }): string {
  const m = /^\/+proc\/+(self|thread-self)(?=\/|$)/.exec(path);
  if (!m) return path;
  const to = m[1] === 'self' ? `/proc/${caller.nsTgid}` : `/proc/${caller.nsTgid}/task/${caller.nsTid}`;
  return to + path.slice(m[0].length);
}

/** runc names every mount target /proc/self/fd/N, an O_PATH descriptor of its own: the helper
 * cannot resolve that path (it would name the helper's descriptor, and a pid translation fails
 * for a caller in a pid namespace below its /proc's), so the action gets the caller's descriptor
 * N itself (pidfd_getfd) and an empty path. */
export function targetOf(target: string): { path: string; dirfd?: number } {
  const m = /^\/+proc\/+(?:self|thread-self)\/+fd\/+(\d{1,9})\/*$/.exec(target);
  return m ? { path: '', dirfd: Number(m[1]) } : { path: target };
}


/** A (dirfd, path) argument of the fd mount API as the helper must resolve it: /proc/self/fd/N
 * (followed: `follow`) becomes the caller's descriptor N with an empty path, other /proc/self
 * paths name the caller's pid, and the caller's dirfd is copied only where the kernel would use it
 * (a relative path, or an empty one with the EMPTY_PATH flag: `empty`), so a bad dirfd beside an
 * absolute path is not an error here either. `emptied`: the path became empty (set EMPTY_PATH). */
export function pathAt(
  dfd: number,
  path: string,
  opts: { follow: boolean; empty: boolean },
  caller: { nsTid: number; nsTgid: number },
): { path: string; dirfd?: number; emptied: boolean } {
  if (opts.follow) {
    const t = targetOf(path);
    if (t.dirfd !== undefined) return { path: '', dirfd: t.dirfd, emptied: true };
  }
  const p = selfToCaller(path, caller);
  const usesDirfd = dfd !== M.AT_FDCWD && (p === '' ? opts.empty : !p.startsWith('/'));
  return usesDirfd ? { path: p, dirfd: dfd, emptied: false } : { path: p, emptied: false };
}

export function answerOf(r: NsActionResult): Answer {
  return r.errno ? fail(r.errno) : ok(0);
}

export const mount: SyscallHandler = {
  name: 'mount',
  async handle(env: HandlerEnv): Promise<Answer> {
    const a = readMountArgs(env);
    const flags = a.flags;
    if (flags & BigInt(M.MS_REMOUNT)) return CONTINUE;
    const emu = env.emulation;
    const isBind = (flags & BigInt(M.MS_BIND)) !== 0n;
    const isMove = !isBind && !(flags & PROPAGATION) && (flags & BigInt(M.MS_MOVE)) !== 0n;
    const isNew = !isBind && !(flags & PROPAGATION) && !isMove;
    const newKind = isNew && (a.fstype === 'proc' || a.fstype === 'sysfs') ? a.fstype : null;
    const unbindable = !isBind && (flags & BigInt(M.MS_UNBINDABLE)) !== 0n;
    if (!emu || (!isBind && !isMove && !newKind && !unbindable)) return CONTINUE;
    // From here the manager acts for the caller, so it asks what the kernel would have asked.
    if (!hasCap(env.status(), CAP_SYS_ADMIN)) return fail(Errno.EPERM);
    if (isBind) {
      if (a.source === null) return fail(Errno.EFAULT);
      // runc 1.2+ names bind sources /proc/self/fd/N too: the caller's descriptor, as for targets.
      const src = targetOf(a.source);
      const source = src.dirfd !== undefined ? { path2: '', dirfd2: src.dirfd } : { path2: selfToCaller(a.source, env.status()) };
      const r = await env.nsAction({ op: NsOp.bind, joinUser: true, ...targetOf(a.target), ...source, flags: Number(flags & 0xffffffffn) });
      if (!r.errno && r.value === 1) env.log.debug('mount: bind of procfs/sysfs made recursive', { source: a.source, target: a.target });
      return answerOf(r);
    }
    if (unbindable) {
      const st = env.status();
      const at = pathAt(M.AT_FDCWD, a.target, { follow: true, empty: false }, st);
      const r = await env.nsAction({
        op: NsOp.setattr,
        joinUser: true,
        path: at.path,
        dirfd: at.dirfd,
        flags: (flags & BigInt(M.MS_REC) ? M.AT_RECURSIVE : 0) | (at.emptied ? M.AT_EMPTY_PATH : 0),
        propagation: Number(flags & PROPAGATION),
        protect: emu.protect,
      });
      return answerOf(r);
    }
    if (isMove) {
      if (a.source === null) return fail(Errno.EFAULT);
      return answerOf(await env.nsAction({ op: NsOp.move, joinUser: true, ...targetOf(a.target), path2: a.source, protect: emu.protect }));
    }
    const overlays = newKind === 'proc' ? emu.procOverlays : emu.sysOverlays;
    const r = await env.nsAction({
      op: NsOp.mountFs,
      joinUser: true,
      ...targetOf(a.target),
      fstype: newKind!,
      source: a.source ?? newKind!,
      flags: Number(flags & 0xffffffffn),
      data: a.data ?? undefined,
      overlays,
    });
    if (r.errno) env.log.debug('mount: failed', { fstype: newKind, target: a.target, stage: r.stage, code: r.code });
    return answerOf(r);
  },
};
