// Fixture cgroup trees (v1 and v2) and host /proc files for unit tests: real directories in a
// temp dir, shaped like the kernel's, so the reader under test is the production one.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const MiB = 1024 * 1024;
export const V1_UNLIMITED = '9223372036854771712';

export interface Limits {
  /** bytes, or null for unlimited */
  memory: number | null;
  /** swap allowance beyond memory (v1 memsw - mem), bytes, or null */
  swap?: number | null;
  /** CFS quota/period in us, or null */
  cpu: { quota: number; period: number } | null;
  cpuset?: string;
}

export interface Fixture {
  root: string;
  /** cgroup path of the container, e.g. /kubepods/pod1/c1 */
  path: string;
  cleanup(): void;
}

function put(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

const usage = 100 * MiB;

/** cgroup v1: one mount per controller, container at /kubepods/pod1/c1, pod limit 512 MiB. */
export function v1Fixture(l: Limits, opts: { omit?: string[] } = {}): Fixture {
  const root = mkdtempSync(join(tmpdir(), 'vnodefs-cg1-'));
  const path = '/kubepods/pod1/c1';
  const has = (c: string): boolean => !opts.omit?.includes(c);
  const levels = ['', '/kubepods', '/kubepods/pod1', path];
  for (const c of ['memory', 'cpu', 'cpuacct', 'cpuset', 'blkio', 'pids']) {
    if (!has(c)) continue;
    for (const lv of levels) put(join(root, c, lv, 'cgroup.procs'), '');
  }
  if (has('memory')) {
    for (const lv of levels) {
      const own = lv === path ? l.memory : lv === '/kubepods/pod1' ? 512 * MiB : null;
      put(join(root, 'memory', lv, 'memory.limit_in_bytes'), `${own ?? V1_UNLIMITED}\n`);
      const sw = lv === path && l.swap !== undefined && l.swap !== null && own !== null ? own + l.swap : null;
      put(join(root, 'memory', lv, 'memory.memsw.limit_in_bytes'), `${sw ?? V1_UNLIMITED}\n`);
    }
    const c = join(root, 'memory', path);
    put(join(c, 'memory.usage_in_bytes'), `${usage}\n`);
    put(join(c, 'memory.memsw.usage_in_bytes'), `${usage + 10 * MiB}\n`);
    put(
      join(c, 'memory.stat'),
      [
        'cache 1', 'rss 2', // non-hierarchical values the reader must not use
        `total_cache ${40 * MiB}`, `total_rss ${60 * MiB}`, `total_shmem ${4 * MiB}`, `total_mapped_file ${8 * MiB}`,
        `total_active_anon ${50 * MiB}`, `total_inactive_anon ${10 * MiB}`, `total_active_file ${30 * MiB}`,
        `total_inactive_file ${10 * MiB}`, 'total_unevictable 0', '',
      ].join('\n'),
    );
    put(join(c, 'tasks'), '101\n102\n');
    put(join(c, 'sub', 'tasks'), '103\n');
    put(join(c, 'sub', 'cgroup.procs'), '103\n');
  }
  if (has('cpu')) {
    for (const lv of levels) {
      put(join(root, 'cpu', lv, 'cpu.cfs_period_us'), `${lv === path && l.cpu ? l.cpu.period : 100000}\n`);
      put(join(root, 'cpu', lv, 'cpu.cfs_quota_us'), `${lv === path && l.cpu ? l.cpu.quota : -1}\n`);
    }
    put(join(root, 'cpu', path, 'tasks'), '101\n102\n');
    put(join(root, 'cpu', path, 'sub', 'tasks'), '103\n');
  }
  if (has('cpuacct')) {
    const c = join(root, 'cpuacct', path);
    put(join(c, 'cpuacct.usage'), `${30e9}\n`); // 30 s
    put(join(c, 'cpuacct.usage_user'), `${20e9}\n`);
    put(join(c, 'cpuacct.usage_sys'), `${10e9}\n`);
  }
  if (has('cpuset')) {
    for (const lv of levels) put(join(root, 'cpuset', lv, 'cpuset.effective_cpus'), `${lv === path ? (l.cpuset ?? '0-3') : '0-3'}\n`);
  }
  if (has('blkio')) {
    const c = join(root, 'blkio', path);
    put(join(c, 'blkio.throttle.io_serviced_recursive'), '8:0 Read 10\n8:0 Write 20\n8:0 Sync 30\n8:0 Total 30\nTotal 30\n');
    put(join(c, 'blkio.throttle.io_service_bytes_recursive'), `8:0 Read ${512 * 100}\n8:0 Write ${512 * 300}\nTotal 0\n`);
  }
  return { root, path, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** cgroup v2: one tree, container at /kubepods.slice/pod1/c1, pod limit 512 MiB. */
export function v2Fixture(l: Limits, opts: { omit?: string[] } = {}): Fixture {
  const root = mkdtempSync(join(tmpdir(), 'vnodefs-cg2-'));
  const path = '/kubepods.slice/pod1/c1';
  const has = (c: string): boolean => !opts.omit?.includes(c);
  const levels = ['', '/kubepods.slice', '/kubepods.slice/pod1', path];
  for (const lv of levels) {
    const d = join(root, lv);
    put(join(d, 'cgroup.controllers'), ['cpuset', 'cpu', 'io', 'memory', 'pids'].filter(has).join(' ') + '\n');
    put(join(d, 'cgroup.procs'), '');
    put(join(d, 'cpu.stat'), lv === path ? 'usage_usec 30000000\nuser_usec 20000000\nsystem_usec 10000000\n' : 'usage_usec 1\n');
    if (lv === '') continue; // the root cgroup has no limit files
    if (has('memory')) {
      const own = lv === path ? l.memory : lv === '/kubepods.slice/pod1' ? 512 * MiB : null;
      put(join(d, 'memory.max'), `${own ?? 'max'}\n`);
      put(join(d, 'memory.swap.max'), `${lv === path && l.swap !== undefined && l.swap !== null ? l.swap : 'max'}\n`);
    }
    if (has('cpu')) put(join(d, 'cpu.max'), lv === path && l.cpu ? `${l.cpu.quota} ${l.cpu.period}\n` : 'max 100000\n');
    if (has('cpuset')) put(join(d, 'cpuset.cpus.effective'), `${lv === path ? (l.cpuset ?? '0-3') : '0-3'}\n`);
  }
  const c = join(root, path);
  if (has('memory')) {
    put(join(c, 'memory.current'), `${usage}\n`);
    put(join(c, 'memory.swap.current'), `${10 * MiB}\n`);
    put(
      join(c, 'memory.stat'),
      [
        `anon ${60 * MiB}`, `file ${40 * MiB}`, `shmem ${4 * MiB}`, `file_mapped ${8 * MiB}`, `active_anon ${50 * MiB}`,
        `inactive_anon ${10 * MiB}`, `active_file ${30 * MiB}`, `inactive_file ${10 * MiB}`, 'unevictable 0',
        `slab_reclaimable ${2 * MiB}`, `slab_unreclaimable ${1 * MiB}`, '',
      ].join('\n'),
    );
  }
  if (has('io')) put(join(c, 'io.stat'), `8:0 rbytes=${512 * 100} wbytes=${512 * 300} rios=10 wios=20 dbytes=0 dios=0\n`);
  put(join(c, 'cgroup.threads'), '201\n202\n');
  put(join(c, 'sub', 'cgroup.threads'), '203\n');
  return { root, path, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export const HOST_MEMINFO = [
  'MemTotal:       16384000 kB', 'MemFree:         8000000 kB', 'MemAvailable:   12000000 kB', 'Buffers:          100000 kB',
  'Cached:          3000000 kB', 'SwapCached:            0 kB', 'Active:          4000000 kB', 'Inactive:        2000000 kB',
  'Active(anon):    2000000 kB', 'Inactive(anon):   500000 kB', 'Active(file):    2000000 kB', 'Inactive(file):  1500000 kB',
  'Unevictable:           0 kB', 'Mlocked:               0 kB', 'SwapTotal:       2097152 kB', 'SwapFree:        2097152 kB',
  'Dirty:                12 kB', 'AnonPages:       2500000 kB', 'Mapped:           300000 kB', 'Shmem:             10000 kB',
  'Slab:             200000 kB', 'SReclaimable:     150000 kB', 'SUnreclaim:        50000 kB', 'HugePages_Total:       0',
  'Hugepagesize:       2048 kB', '',
].join('\n');

export const HOST_CPUINFO = [0, 1, 2, 3]
  .map((i) => `processor\t: ${i}\nvendor_id\t: GenuineIntel\nmodel name\t: Test CPU\ncpu MHz\t\t: 2000.000\nsiblings\t: 4\n`)
  .join('\n');

export const HOST_STAT = [
  'cpu  4000 10 2000 100000 50 0 10 0 0 0', 'cpu0 1000 2 500 25000 10 0 2 0 0 0', 'cpu1 1000 2 500 25000 10 0 2 0 0 0',
  'cpu2 1000 3 500 25000 10 0 3 0 0 0', 'cpu3 1000 3 500 25000 20 0 3 0 0 0', 'intr 12345 1 2 3', 'ctxt 99999', 'btime 1700000000',
  'processes 5000', 'procs_running 3', 'procs_blocked 1', 'softirq 100 1 2 3', '',
].join('\n');

export const HOST_DISKSTATS = [
  '   8       0 sda 5000 100 400000 3000 6000 200 800000 9000 0 7000 12000 0 0 0 0 100 50',
  '   8       1 sda1 4000 90 300000 2000 5000 100 700000 8000 0 6000 10000 0 0 0 0 0 0',
  '',
].join('\n');

export const HOST_LOADAVG = '3.00 2.00 1.00 5/300 4242\n';

/** A fake /proc with one process: stat, cgroup, uid_map and a ns/user symlink. */
export function fakeProc(pids: { pid: number; cgroup: string; userns: number; rootUid: number; start?: number }[]): { root: string; cleanup(): void } {
  const root = mkdtempSync(join(tmpdir(), 'vnodefs-proc-'));
  for (const p of pids) {
    const d = join(root, String(p.pid));
    put(join(d, 'stat'), `${p.pid} (sh) S 1 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 ${p.start ?? 1000} 1000 100 0\n`);
    put(join(d, 'cgroup'), p.cgroup);
    put(join(d, 'comm'), 'sh\n');
    put(join(d, 'uid_map'), `         0 ${String(p.rootUid).padStart(10)}      65536\n`);
    mkdirSync(join(d, 'ns'), { recursive: true });
    symlinkSync(`user:[${p.userns}]`, join(d, 'ns', 'user'));
  }
  put(join(root, 'uptime'), '1000.00 1500.00\n');
  put(join(root, 'meminfo'), HOST_MEMINFO);
  put(join(root, 'cpuinfo'), HOST_CPUINFO);
  put(join(root, 'stat'), HOST_STAT);
  put(join(root, 'diskstats'), HOST_DISKSTATS);
  put(join(root, 'loadavg'), HOST_LOADAVG);
  put(join(root, 'sys/kernel/pid_max'), '4194304\n');
  put(join(root, 'sys/vm/overcommit_memory'), '0\n');
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** A fake /sys with the CPU lists. */
export function fakeSys(cpus = '0-3'): { root: string; cleanup(): void } {
  const root = mkdtempSync(join(tmpdir(), 'vnodefs-sys-'));
  for (const f of ['online', 'possible', 'present']) put(join(root, 'devices/system/cpu', f), `${cpus}\n`);
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
