// The /proc/sys entries each vNode gets its own copy of. Chosen from what privileged images and
// node agents write at start (kubelet, kube-proxy, Elasticsearch and Redis images, Docker-in-
// Docker) and from sysbox-fs's emulated set; every one is host-global in the kernel, so a write
// from a container would either fail (EPERM/EACCES in a user namespace) or change the whole node.
// Namespaced entries (hostname, net.core.somaxconn, net.ipv4.*) are left to the kernel.

export class SysctlValueError extends Error {
  readonly errno = 22; // EINVAL, what the kernel answers for a bad value
  readonly code = 'EINVAL';
}

export interface SysctlEntry {
  /** dotted name, e.g. kernel.pid_max */
  name: string;
  /** path inside the vnodefs mount (and inside the container under /) */
  path: string;
  /** Validates and normalises written text; throws SysctlValueError. */
  parse(text: string): string;
  /** Value when the host has no such file (module not loaded). */
  fallback: string;
  /** Read-only entries still answer reads per vNode but refuse writes. */
  readOnly?: boolean;
}

function ints(count: number, minN: number | bigint, maxN: number | bigint): (text: string) => string {
  // BigInt: fs.file-max and friends go up to LONG_MAX, beyond a double's exact range.
  const min = BigInt(minN);
  const max = BigInt(maxN);
  return (text) => {
    const parts = text.trim().split(/\s+/);
    if (parts.length < 1 || parts.length > count || parts[0] === '') throw new SysctlValueError(`expected ${count} integer(s), got ${JSON.stringify(text)}`);
    const out = parts.map((p) => {
      if (!/^-?\d{1,20}$/.test(p)) throw new SysctlValueError(`not an integer: ${JSON.stringify(p)}`);
      const n = BigInt(p);
      if (n < min || n > max) throw new SysctlValueError(`${n} is outside ${min}..${max}`);
      return String(n);
    });
    return out.join('\t');
  };
}

const INT_MAX = 2147483647;
const LONG_MAX = 9223372036854775807n;

function entry(name: string, parse: (t: string) => string, fallback: string, readOnly = false): SysctlEntry {
  return { name, path: `proc/sys/${name.replaceAll('.', '/')}`, parse, fallback, readOnly };
}

export const sysctlEntries: readonly SysctlEntry[] = [
  entry('kernel.pid_max', ints(1, 301, 4194304), '4194304'),
  entry('kernel.panic', ints(1, -INT_MAX, INT_MAX), '0'),
  entry('kernel.panic_on_oops', ints(1, 0, 1), '0'),
  entry('kernel.sysrq', ints(1, 0, 511), '0'),
  entry('kernel.kptr_restrict', ints(1, 0, 2), '0'),
  entry('kernel.dmesg_restrict', ints(1, 0, 1), '0'),
  entry('kernel.printk', ints(4, 0, 15), '4\t4\t1\t7'),
  entry('kernel.keys.root_maxkeys', ints(1, 0, INT_MAX), '1000000'),
  entry('kernel.keys.root_maxbytes', ints(1, 0, INT_MAX), '25000000'),
  entry('vm.overcommit_memory', ints(1, 0, 2), '0'),
  entry('vm.panic_on_oom', ints(1, 0, 2), '0'),
  entry('vm.max_map_count', ints(1, 0, INT_MAX), '65530'),
  entry('vm.mmap_min_addr', ints(1, 0, LONG_MAX), '65536'),
  entry('vm.swappiness', ints(1, 0, 200), '60'),
  entry('fs.file-max', ints(1, 0, LONG_MAX), '9223372036854775807'),
  entry('fs.nr_open', ints(1, 1024, 1073741816), '1048576'),
  entry('fs.inotify.max_user_watches', ints(1, 1, INT_MAX), '65536'),
  entry('fs.inotify.max_user_instances', ints(1, 1, INT_MAX), '128'),
  entry('net.netfilter.nf_conntrack_max', ints(1, 0, INT_MAX), '262144'),
  entry('net.nf_conntrack_max', ints(1, 0, INT_MAX), '262144'),
  entry('net.netfilter.nf_conntrack_tcp_timeout_established', ints(1, 0, INT_MAX), '432000'),
  entry('net.netfilter.nf_conntrack_tcp_timeout_close_wait', ints(1, 0, INT_MAX), '60'),
  entry('net.netfilter.nf_conntrack_tcp_be_liberal', ints(1, 0, 1), '0'),
];
