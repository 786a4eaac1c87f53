// The syscalls a vNode container's filter hands to the manager (SCMP_ACT_NOTIFY) and the ones it
// refuses outright. The notify list must be exactly the handlers' names (handlers/registry.test.ts
// checks it): anything else would trap calls nobody answers.

/** Answered by agent/seccomp/handlers/<name>.ts. */
export const INTERCEPTED_SYSCALLS = [
  'mount',
  'umount',
  'umount2',
  'mknod',
  'mknodat',
  'reboot',
  'swapoff',
  'sysinfo',
  'sched_getaffinity',
  'fsopen',
  'open_tree',
  'move_mount',
  'mount_setattr',
] as const;
export type InterceptedSyscall = (typeof INTERCEPTED_SYSCALLS)[number];

export const EPERM = 1;
export const ENOSYS = 38;

/** Refused in every vNode, with the errno and the reason (docs/seccomp.md repeats them). */
export const DENIED_SYSCALLS: readonly { name: string; errno: number; why: string }[] = [
  { name: 'kexec_load', errno: EPERM, why: 'loads a new kernel for the host' },
  { name: 'kexec_file_load', errno: EPERM, why: 'loads a new kernel for the host' },
  { name: 'init_module', errno: EPERM, why: 'loads code into the host kernel' },
  { name: 'finit_module', errno: EPERM, why: 'loads code into the host kernel' },
  { name: 'delete_module', errno: EPERM, why: 'unloads host kernel modules' },
  { name: 'open_by_handle_at', errno: EPERM, why: 'opens any inode of a filesystem by handle, past mounts and roots (the "shocker" escape)' },
  { name: 'swapon', errno: EPERM, why: 'adds swap to the host; a vNode has none of its own' },
  { name: 'iopl', errno: EPERM, why: 'raw port I/O on the host' },
  { name: 'ioperm', errno: EPERM, why: 'raw port I/O on the host' },
  // open_tree with a struct mount_attr applied to the copy (6.15): a non-recursive copy of /proc,
  // or a copy whose emulated mounts are made unbindable (a further recursive copy leaves them
  // out). ENOSYS, as on kernels before it: callers fall back to open_tree + mount_setattr, which
  // the manager answers. A libseccomp that does not know the name (Debian 12's 2.5.4) drops this
  // rule; the tree's runc then answers it ENOSYS as newer than libseccomp (runc/vnode-enosys.patch).
  { name: 'open_tree_attr', errno: ENOSYS, why: 'new in 6.15: could make a copy\'s emulated mounts unbindable; open_tree + mount_setattr instead' },
];
