// Typed wrapper over the addon's FUSE syscalls (addon/src/fuse.cc). Each call either succeeds or
// throws a SyscallError carrying errno.
import { fn, native } from './native.js';

const devOpen = fn<() => number>('fuseDevOpen');
const devClone = fn<(sessionFd: number) => number>('fuseDevClone');
const devClose = fn<(fd: number) => void>('fuseDevClose');
const devRead = fn<(fd: number, buf: Buffer, spinNs: number, timeoutMs?: number) => number>('fuseDevRead');
const devSetNonblock = fn<(fd: number) => void>('fuseDevSetNonblock');
const mountFuse = fn<(source: string, target: string, flags: number, data: string) => void>('fuseMount');
const umount = fn<(target: string, flags: number) => void>('fuseUmount');

export const MS_NOSUID = native.MS_NOSUID as number;
export const MS_NODEV = native.MS_NODEV as number;
export const MNT_DETACH = native.MNT_DETACH as number;

/** Opens /dev/fuse (O_RDWR|O_CLOEXEC); the fd becomes a FUSE session once passed to fuseMount. */
export function fuseDevOpen(): number {
  return devOpen();
}

/** A second device fd on the same FUSE connection as sessionFd (FUSE_DEV_IOC_CLONE). */
export function fuseDevClone(sessionFd: number): number {
  return devClone(sessionFd);
}

/** close(2) of a device fd from fuseDevOpen/fuseDevClone. */
export function fuseDevClose(fd: number): void {
  devClose(fd);
}

/**
 * Reads one request into buf and returns its length; blocks the calling (worker) thread. With
 * spinNs > 0 (fd made O_NONBLOCK by fuseDevSetNonblock) it polls that long before sleeping.
 */
/** One request into buf; its length, or -1 when `timeoutMs` (>= 0) passed without one. */
export function fuseDevRead(fd: number, buf: Buffer, spinNs: number, timeoutMs = -1): number {
  return timeoutMs >= 0 ? devRead(fd, buf, spinNs, Math.ceil(timeoutMs)) : devRead(fd, buf, spinNs);
}

export function fuseDevSetNonblock(fd: number): void {
  devSetNonblock(fd);
}

/** mount(2) of type "fuse"; `data` carries fd=N,rootmode=...,user_id=...,group_id=... */
export function fuseMount(source: string, target: string, flags: number, data: string): void {
  mountFuse(source, target, flags, data);
}

/** umount2(2). */
export function fuseUmount(target: string, flags: number): void {
  umount(target, flags);
}
