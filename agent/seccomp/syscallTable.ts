// Syscall numbers of the calls the manager intercepts, per architecture a vNode may run
// (x86_64 and the two compat ABIs runc's profiles list: i386 and x32). The notification carries
// (arch, nr); the handler is chosen by name. Numbers are the kernel's ABI (arch/x86/entry/syscalls).

export const AUDIT_ARCH = {
  X86_64: 0xc000003e,
  I386: 0x40000003,
} as const;

/** x32 calls are x86_64 calls with this bit set in nr. */
export const X32_SYSCALL_BIT = 0x40000000;

export type Abi = 'x86_64' | 'x32' | 'i386';

const X86_64: Record<string, number> = {
  mount: 165,
  umount2: 166,
  mknod: 133,
  mknodat: 259,
  reboot: 169,
  swapoff: 168,
  sysinfo: 99,
  sched_getaffinity: 204,
  // From 424 on, one number on every architecture.
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  mount_setattr: 442,
};

const I386: Record<string, number> = {
  mount: 21,
  umount: 22,
  umount2: 52,
  mknod: 14,
  mknodat: 297,
  reboot: 88,
  swapoff: 115,
  sysinfo: 116,
  sched_getaffinity: 242,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  mount_setattr: 442,
};

const invert = (t: Record<string, number>): Map<number, string> => new Map(Object.entries(t).map(([k, v]) => [v, k]));
const BY_NR_64 = invert(X86_64);
const BY_NR_32 = invert(I386);

/** The ABI and syscall name of a notification, or undefined for a call we never asked for. */
export function syscallOf(arch: number, nr: number): { abi: Abi; name: string } | undefined {
  if (arch === AUDIT_ARCH.X86_64) {
    if (nr & X32_SYSCALL_BIT) {
      const name = BY_NR_64.get(nr & ~X32_SYSCALL_BIT);
      return name ? { abi: 'x32', name } : undefined;
    }
    const name = BY_NR_64.get(nr);
    return name ? { abi: 'x86_64', name } : undefined;
  }
  if (arch === AUDIT_ARCH.I386) {
    const name = BY_NR_32.get(nr);
    return name ? { abi: 'i386', name } : undefined;
  }
  return undefined;
}

/** Every name in the tables (what the profile may list). */
export const knownSyscalls: ReadonlySet<string> = new Set([...Object.keys(X86_64), ...Object.keys(I386)]);

/** The (arch, nr) pairs of `name` on each ABI: x86_64, x32 (nr with X32_SYSCALL_BIT) and i386. */
export function numbersOf(name: string): { abi: Abi; arch: number; nr: number }[] {
  const out: { abi: Abi; arch: number; nr: number }[] = [];
  const n64 = X86_64[name];
  if (n64 !== undefined) out.push({ abi: 'x86_64', arch: AUDIT_ARCH.X86_64, nr: n64 }, { abi: 'x32', arch: AUDIT_ARCH.X86_64, nr: n64 | X32_SYSCALL_BIT });
  const n32 = I386[name];
  if (n32 !== undefined) out.push({ abi: 'i386', arch: AUDIT_ARCH.I386, nr: n32 });
  return out;
}
