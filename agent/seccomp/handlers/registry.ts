// Every syscall handler by name: the notification loop dispatches through this table, and the
// profile's notify list must name exactly these (registry.test.ts).
import { mknod, mknodat } from './mknod.js';
import { mount } from './mount.js';
import { reboot } from './reboot.js';
import { sched_getaffinity } from './sched_getaffinity.js';
import { swapoff } from './swapoff.js';
import { sysinfo } from './sysinfo.js';
import type { SyscallHandler } from './types.js';
import { umount, umount2 } from './umount2.js';

export const handlers: ReadonlyMap<string, SyscallHandler> = new Map(
  [mount, umount, umount2, mknod, mknodat, reboot, swapoff, sysinfo, sched_getaffinity].map((h) => [h.name, h]),
);
