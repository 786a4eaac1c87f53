// Every syscall handler by name: the notification loop dispatches through this table, and the
// profile's notify list must name exactly these (registry.test.ts).
import { fsopen } from './fsopen.js';
import { mknod, mknodat } from './mknod.js';
import { move_mount } from './move_mount.js';
import { mount_setattr } from './mount_setattr.js';
import { mount } from './mount.js';
import { open_tree } from './open_tree.js';
import { reboot } from './reboot.js';
import { sched_getaffinity } from './sched_getaffinity.js';
import { swapoff } from './swapoff.js';
import { sysinfo } from './sysinfo.js';
import type { SyscallHandler } from './types.js';
import { umount, umount2 } from './umount2.js';

export const handlers: ReadonlyMap<string, SyscallHandler> = new Map(
  [mount, umount, umount2, mknod, mknodat, reboot, swapoff, sysinfo, sched_getaffinity, fsopen, open_tree, move_mount, mount_setattr].map((h) => [h.name, h]),
);
