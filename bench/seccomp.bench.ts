// The cost of a vNode's seccomp filter, against the same busybox container run by runc in the
// same run:
//   seccomp-untrapped-overhead: a C loop of getppid() (never intercepted) in a vNode container
//     (vNode profile + listener) vs a runc container without any filter (a privileged pod of the
//     runc handler is unconfined), and vs one with a filter of the same deny rules but no
//     listener (what any seccomp profile costs: the kernel's syscall-entry work for a task with
//     a filter; the allow decision itself comes from the kernel's per-syscall action cache).
//   seccomp-intercepted-rtt: median round trip of an intercepted call answered by CONTINUE
//     (mknod of an existing FIFO path, decided from registers) in a vNode container, against
//     the floor of this machine in the same run: a minimal C listener (bench/notifyFloor.c:
//     epoll, RECV, SEND, nothing else) serving the same call. Targets: rtt <= 10 us; the full
//     handlers sysinfo (cgroup figures, ID_VALID, memory write) and sched_getaffinity (the
//     caller's real mask narrowed, written back) <= 20 us.
//   BENCH seccomp-untrapped-overhead vnode_ns=.. runc_ns=.. runc_filtered_ns=.. ratio=.. filtered_ratio=..
//   BENCH seccomp-intercepted-rtt rtt_us=.. floor_us=.. sysinfo_us=.. affinity_us=.. ratio=<rtt/floor>
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './lib.js';
import { DENIED_SYSCALLS } from '../agent/seccomp/interceptedSyscalls.js';
import { buildStatic, SeccompTestBed, type TestContainer } from '../agent/seccomp/testing/SeccompTestBed.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11);
const LOOP = 5_000_000;
const source = fileURLToPath(new URL('../../agent/seccomp/fixtures/notifyload.c', import.meta.url));
const tmp = mkdtempSync('/tmp/vnode-sec-bench-');
const bin = join(tmp, 'notifyload');
const built = await buildStatic(source, bin);
if (built.code !== 0) throw new Error(`cc notifyload: ${built.stderr}`);
const floorBin = join(tmp, 'notifyFloor');
execFileSync('cc', ['-O2', '-o', floorBin, fileURLToPath(new URL('../../bench/notifyFloor.c', import.meta.url))]);

const field = (out: string, key: string): number => {
  const m = new RegExp(`${key}=([0-9.]+)`).exec(out);
  if (!m) throw new Error(`no ${key} in ${JSON.stringify(out)}`);
  return Number(m[1]);
};
async function load(c: TestContainer, args: string[], key: string): Promise<number> {
  const r = await c.exec(['/bin/notifyload', ...args], 120_000);
  if (r.code !== 0) throw new Error(`notifyload ${args.join(' ')} in ${c.id}: ${r.stdout}${r.stderr}`);
  return field(r.stdout, key);
}

const bed = await SeccompTestBed.start({ agent: { workers: 1 } });
try {
  const files = { '/bin/notifyload': bin };
  const vnode = await bed.container('bench-vnode', { vnode: 'shared:sec-bench', files });
  const runc = await bed.container('bench-runc', { vnode: 'shared:sec-bench', files, seccomp: false });
  const filtered = await bed.container('bench-filtered', {
    vnode: 'shared:sec-bench',
    files,
    profile: {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: DENIED_SYSCALLS.map((d) => ({ names: [d.name], action: 'SCMP_ACT_ERRNO' as const, errnoRet: d.errno })),
    },
  });
  const v: number[] = [];
  const r: number[] = [];
  const f: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // Alternating order, so drift on the machine hits every side alike.
    const order: [TestContainer, number[]][] = i % 2 ? [[vnode, v], [runc, r], [filtered, f]] : [[filtered, f], [runc, r], [vnode, v]];
    for (const [c, out] of order) out.push(await load(c, ['untrapped', String(LOOP)], 'ns'));
  }
  const rtt: number[] = [];
  const floor: number[] = [];
  const sys: number[] = [];
  const aff: number[] = [];
  for (let i = 0; i < 3; i++) {
    rtt.push(await load(vnode, ['rtt', '20000'], 'median_ns'));
    floor.push(field(execFileSync(floorBin, [tmp, '20000'], { encoding: 'utf8' }), 'median_ns'));
    sys.push(await load(vnode, ['sysinfo', '5000'], 'median_ns'));
    aff.push(await load(vnode, ['affinity', '5000'], 'median_ns'));
  }
  const vm = median(v);
  const rm = median(r);
  const fm = median(f);
  console.log(
    `BENCH seccomp-untrapped-overhead vnode_ns=${vm.toFixed(1)} runc_ns=${rm.toFixed(1)} runc_filtered_ns=${fm.toFixed(1)} ratio=${(vm / rm).toFixed(3)} filtered_ratio=${(vm / fm).toFixed(3)}`,
  );
  const us = (v: number[]): string => (median(v) / 1000).toFixed(1);
  console.log(
    `BENCH seccomp-intercepted-rtt rtt_us=${us(rtt)} floor_us=${us(floor)} sysinfo_us=${us(sys)} affinity_us=${us(aff)} target_us=10 handler_target_us=20 ratio=${(median(rtt) / median(floor)).toFixed(2)}`,
  );
} finally {
  await bed.teardown();
  rmSync(tmp, { recursive: true, force: true });
}
