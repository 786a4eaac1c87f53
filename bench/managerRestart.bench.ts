// What a manager restart costs a vNode workload (issue 14, part 5): the longest stall one reader
// sees across a kill -9 of the vnode-manager and its restart (as its supervisor does it, at once),
// against the longest stall a CRI client sees across a kill -9 of containerd and its restart (the
// peer: the restart of the component a node cannot do without), measured in the same run.
// The reader is e2e/images/chaosload.c in a vnode pod: open+read+close and pread on kept fds of
// vnodefs' files, sysinfo and sched_getaffinity (intercepted), one loop every 1 ms; the CRI client
// loops ContainerStatus on that pod. Several rounds each; the figure is the median round's longest
// stall.
//   BENCH manager-restart reader_stall_ms=.. failed=.. containerd_stall_ms=.. rounds=.. ratio=<reader stall / CRI stall>
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from '../e2e/lib/TestBed.js';
import { startVNodeBed } from '../e2e/lib/vnodeBed.js';
import { bench, median } from './lib.js';

const ROUNDS = Number(process.env.BENCH_RESTART_ROUNDS ?? 5);
const BASE = '/run/vnt-mgrrestart';
const vb = await startVNodeBed({ name: 'mgrstart', subnetIndex: 73, baseDir: BASE, managerEnv: { VNODE_LOG_LEVEL: 'warn' } });
const { bed } = vb;
try {
  const bin = join(BASE, 'bin');
  mkdirSync(bin, { recursive: true });
  chmodSync(bin, 0o755);
  execFileSync('cc', ['-static', '-O2', '-o', join(bin, 'chaosload'), join(REPO_ROOT, 'e2e/images/chaosload.c')]);
  const pod = await bed.runPod({ name: 'reader', namespace: 'restart', handler: 'vnode' }, { name: 'load', command: ['/b/chaosload', '/tmp/stat', '1000'], mounts: [{ containerPath: '/b', hostPath: bin, readonly: true }] });
  const pid = (JSON.parse((await bed.cri.containerStatus(pod.containerId, true)).info.info!) as { pid: number }).pid;
  const stat = async (): Promise<{ iter: number; fail: number; maxus: number }> => {
    // Read from the host (through the container's root): no exec that would wait on anything.
    const text = readFileSync(`/proc/${pid}/root/tmp/stat`, 'utf8');
    const m = /^iter=(\d+) fail=(\d+) maxus=(\d+)/.exec(text)!;
    return { iter: Number(m[1]), fail: Number(m[2]), maxus: Number(m[3]) };
  };
  await sleep(1000);

  const readerStalls: number[] = [];
  let failed = 0;
  for (let r = 0; r < ROUNDS; r++) {
    process.kill(pid, 'SIGUSR1');
    await sleep(300);
    await vb.manager.stop('SIGKILL');
    await vb.manager.start();
    await sleep(1500);
    const s = await stat();
    readerStalls.push(s.maxus / 1000);
    failed += s.fail;
  }

  const criStalls: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let longest = 0;
    let running = true;
    const loop = (async () => {
      let last = performance.now();
      while (running) {
        try {
          await bed.cri.containerStatus(pod.containerId);
          const now = performance.now();
          longest = Math.max(longest, now - last);
          last = now;
        } catch {
          // containerd is down: the stall goes on until an answer
          await sleep(5);
        }
      }
    })();
    await sleep(300);
    await bed.stopContainerd('SIGKILL');
    await bed.startContainerd();
    await sleep(1500);
    running = false;
    await loop;
    criStalls.push(longest);
  }
  const reader = median(readerStalls);
  const cri = median(criStalls);
  bench('manager-restart', { reader_stall_ms: reader, reader_stall_max_ms: Math.max(...readerStalls), failed, containerd_stall_ms: cri, rounds: ROUNDS }, reader / cri);
  await bed.cri.stopPodSandbox(pod.podId);
  await bed.cri.removePodSandbox(pod.podId);
} finally {
  const left = await vb.teardown();
  if (left.length) console.error(`left behind: ${left.join(', ')}`);
}
