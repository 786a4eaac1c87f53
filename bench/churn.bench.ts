// Pod churn on one manager: nothing may grow with the number of pods that came and went.
// Each lifecycle goes through CRI the way kubelet drives it: RunPodSandbox, CreateContainer,
// StartContainer, an ExecSync that reads vnodefs files (/proc/uptime, loadavg, meminfo) and writes
// a per-vNode /proc/sys value, StopPodSandbox, RemovePodSandbox, then the pod's cgroup removed.
// Even lifecycles join a namespace whose vNode an anchor pod keeps; odd ones each get a namespace
// of their own, so a vNode is created and torn down with the pod.
// After a warm-up, the manager's RSS (VmRSS), open fds, files under its stateDir and runDir, and
// the sizes of its in-memory tables (the `vnode-state` launch entry) are taken before and after
// the lifecycles (each after the same settling: see anchorReads). RSS is taken after every thread
// of the manager collected its garbage (`vnode-state --gc`): V8 lets a worker's old generation
// fill up to a limit before collecting it, and vnodefs' workers, blocked in read(2), get no
// idle-time collection, so raw RSS climbs for thousands of pods before it levels (printed too, as
// churn-rss-raw), and the heap each thread still uses after the collection, summed, is
// churn-heap-retained. Each figure is one
// `BENCH churn-<figure>` line with ratio = after/before (flat: <= 1.05). BENCH_CHURN_PODS
// (default 1000) sets the count for a quick run, BENCH_CHURN_WARMUP the warm-up (default 10%: V8 sizes its heaps over the first ~100 pods);
// BENCH_CHURN_SMAPS=<path> keeps the manager's /proc/PID/smaps at each snapshot (<path>.1, .2).
import { lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { callLaunch } from '../agent/launch/launchClient.js';
import { STATE_ENTRY, type StateSizes } from '../agent/manager/stateLaunch.js';
import { startVNodeBed } from '../e2e/lib/vnodeBed.js';
import { bench } from './lib.js';

const PODS = Number(process.env.BENCH_CHURN_PODS ?? 1000);
const WARMUP = Number(process.env.BENCH_CHURN_WARMUP ?? Math.max(10, Math.round(PODS / 10)));
const FLAT = 1.05;
/** Time for the manager's work after the last RemovePodSandbox (runc shim exit, vNode teardown, the spare's refill). */
const SETTLE_MS = 12_000; // > one vnodefs load-sampler tick (5 s), which drops the loads of containers that are gone, and > V8's memory reducer delay (8 s), which shrinks a quiet thread's heap

const { bed, manager, teardown } = await startVNodeBed({ name: 'churn', subnetIndex: 41, baseDir: '/run/vnt-churn', managerEnv: { VNODE_LOG_LEVEL: 'warn' } });

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

const openFds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

/** Open fds by what they point at (socket, pipe, anon_inode:[pidfd], /proc, /sys/fs/cgroup, ...). */
function fdKinds(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let l: string;
    try {
      l = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const kind = l.startsWith('/') ? l.split('/').slice(0, l.startsWith('/sys/fs/cgroup') ? 5 : 2).join('/') : l.replace(/\[\d+\]$/, '');
    out[kind] = (out[kind] ?? 0) + 1;
  }
  return out;
}

/** Entries below dir, not descending into other filesystems (the vnodefs mount, netns binds). */
function countFiles(dir: string, dev = lstatSync(dir).dev): number {
  let n = 0;
  for (const e of readdirSync(dir)) {
    n++;
    const p = join(dir, e);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue; // raced with the manager
    }
    if (st.isDirectory() && st.dev === dev) n += countFiles(p, dev);
  }
  return n;
}

async function managerState(gc = false): Promise<{ memory: Record<string, number>; heapAfterGcKb: Record<string, number>; tables: StateSizes }> {
  const argv = gc ? [STATE_ENTRY, '--gc'] : [STATE_ENTRY];
  const a = await callLaunch(join(manager.runDir, 'launch.sock'), { entry: STATE_ENTRY, cwd: '/', argv, env: {}, stdin: Buffer.alloc(0) });
  if (a.kind !== 'exit' || a.code !== 0) throw new Error(`${STATE_ENTRY}: ${JSON.stringify(a)}`);
  return JSON.parse(String(a.stdout)) as { memory: Record<string, number>; heapAfterGcKb: Record<string, number>; tables: StateSizes };
}

/** The entries the manager keeps per task, pod, vNode or connection (capacities, counters and tombstone slots of the shared table excluded). */
function stateEntries(t: StateSizes): number {
  const skip = new Set(['vnodefs.capacity', 'vnodefs.dead', 'vnodefs.requests', 'vnodefs.malformed', 'vnodefs.failed', 'vnodefs.entries']);
  let n = 0;
  for (const [group, fields] of Object.entries(t))
    for (const [k, v] of Object.entries(fields)) if (typeof v === 'number' && !skip.has(`${group}.${k}`)) n += v;
  return n;
}

interface Snapshot {
  /** VmRSS as it is, with whatever garbage V8 has not collected yet */
  rawRssKb: number;
  /** VmRSS after every thread of the manager collected its garbage */
  rssKb: number;
  /** heap each thread retains after that collection (main, vnodefs workers and sampler, seccomp workers) */
  heapAfterGcKb: Record<string, number>;
  fds: number;
  files: number;
  memory: Record<string, number>;
  tables: StateSizes;
  entries: number;
  fdKinds: Record<string, number>;
}

/**
 * vnodefs' workers close what they cached for callers and cgroups that are gone lazily, at their
 * first request a second or more after the last: the pod that stays (the anchor) reads its files
 * from one process, as live pods on a node do, so both snapshots see the same settled state.
 */
async function anchorReads(): Promise<void> {
  const r = await bed.cri.execSync(anchor, ['sh', '-c', 'i=0; while [ $i -lt 40 ]; do while read l; do :; done < /proc/meminfo; i=$((i+1)); done']);
  if (r.exitCode !== 0) throw new Error(`anchor reads: exit ${r.exitCode} ${r.stderr}`);
}

let smapsSeq = 0;
async function snapshot(): Promise<Snapshot> {
  await sleep(SETTLE_MS);
  const rawRssKb = rssKb(manager.pid);
  // Every thread collects its garbage (vnodefs' workers at their next request: the anchor's reads);
  // twice, as V8 gives back the space a collection freed (new space, empty pages) at the next one.
  for (let round = 0; round < 3; round++) {
    await managerState(true);
    await anchorReads();
    await sleep(1000);
  }
  if (process.env.BENCH_CHURN_SMAPS) writeFileSync(`${process.env.BENCH_CHURN_SMAPS}.${++smapsSeq}`, readFileSync(`/proc/${manager.pid}/smaps`));
  const { memory, heapAfterGcKb, tables: t } = await managerState();
  return { memory, heapAfterGcKb, rawRssKb, rssKb: rssKb(manager.pid), fds: openFds(manager.pid), files: countFiles(manager.stateDir) + countFiles(manager.runDir), tables: t, entries: stateEntries(t), fdKinds: fdKinds(manager.pid) };
}

const SCRIPT = 'cat /proc/uptime /proc/loadavg /proc/meminfo >/dev/null && echo 262144 > /proc/sys/vm/max_map_count && cat /proc/sys/vm/max_map_count';

let seq = 0;
async function lifecycle(): Promise<void> {
  const i = ++seq;
  const namespace = i % 2 === 0 ? 'churn-shared' : `churn-own-${i}`;
  const { podId, containerId, podConfig } = await bed.runPod({ name: `churn-${i}`, namespace, handler: 'vnode' }, { name: 'main', command: ['sleep', '3600'] });
  for (let attempt = 1; ; attempt++) {
    const r = await bed.cri.execSync(containerId, ['sh', '-c', SCRIPT]);
    if (r.exitCode === 0 && r.stdout.trim() === '262144') break;
    if (attempt >= 5) throw new Error(`pod ${i}: ${SCRIPT}: exit ${r.exitCode}, ${r.stdout} ${r.stderr}`);
    await sleep(50);
  }
  await bed.cri.stopPodSandbox(podId);
  await bed.cri.removePodSandbox(podId);
  bed.removePodCgroup((podConfig.linux as { cgroupParent: string }).cgroupParent);
}

let anchor = '';
try {
  anchor = (await bed.runPod({ name: 'anchor', namespace: 'churn-shared', handler: 'vnode' })).containerId;
  for (let i = 0; i < WARMUP; i++) await lifecycle();
  const before = await snapshot();
  console.log(`# before: ${JSON.stringify(before.tables)}`);
  console.log(`# fds before: ${JSON.stringify(before.fdKinds)}`);
  console.log(`# memory before: ${JSON.stringify(before.memory)}, heap after GC (KiB) ${JSON.stringify(before.heapAfterGcKb)}`);
  const t0 = performance.now();
  for (let i = 0; i < PODS; i++) {
    await lifecycle();
    if ((i + 1) % 100 === 0) {
      const m = (await managerState()).memory;
      console.log(`# ${i + 1}/${PODS} lifecycles, ${((performance.now() - t0) / 1000).toFixed(0)} s, manager RSS ${rssKb(manager.pid)} kB (main heap ${m.heapUsedKb} kB), ${openFds(manager.pid)} fds`);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const after = await snapshot();
  console.log(`# after: ${JSON.stringify(after.tables)}`);
  console.log(`# fds after: ${JSON.stringify(after.fdKinds)}`);
  console.log(`# memory after: ${JSON.stringify(after.memory)}, heap after GC (KiB) ${JSON.stringify(after.heapAfterGcKb)}`);
  const line = (figure: string, unit: string, b: number, a: number): void => {
    const ratio = a / b;
    bench(`churn-${figure}`, { lifecycles: PODS, warmup: WARMUP, [`before_${unit}`]: b, [`after_${unit}`]: a, duration_s: +seconds.toFixed(1), lifecycles_per_s: PODS / seconds, target: `<=${FLAT}`, result: ratio <= FLAT ? 'MET' : 'NOT-MET' }, ratio);
  };
  line('rss', 'kb', before.rssKb, after.rssKb);
  line('rss-raw', 'kb', before.rawRssKb, after.rawRssKb);
  const heap = (s: Snapshot): number => Object.values(s.heapAfterGcKb).reduce((x, y) => x + y, 0);
  line('heap-retained', 'kb', heap(before), heap(after));
  line('fds', 'fds', before.fds, after.fds);
  line('state-files', 'files', before.files, after.files);
  line('state-tables', 'entries', before.entries, after.entries);
} finally {
  const left = await teardown();
  if (left.length) {
    console.error(`# left behind: ${left.join('; ')}`);
    process.exitCode = 1;
  }
}
