// Nested containers in a vNode pod (issue 13, part 3): a privileged vNode pod whose image carries
// Debian's docker.io (dockerd, containerd, runc) starts dockerd on an emptyDir, loads an image from
// a tar, runs it, builds a two-line Dockerfile, and the nested container has its own namespaces,
// overlay storage, cgroup limit and bridge network; the same with containerd and `ctr run` alone.
// What the pod gets for it (agent/pods/delegation.ts, the mount handler's /proc/self/fd targets)
// gives it nothing on the host: the nested processes run as the vNode's ids, their cgroups sit
// below the pod container's own, whose limits stay the host's; no link, iptables rule, mount or
// process of it is left on the host, and removing the pod removes every nested cgroup. The fd-based
// mount API (agent/seccomp/fixtures/fdmount.c) works in the same pod, through CRI's ExecSync.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { buildStatic } from '../agent/seccomp/testing/SeccompTestBed.js';
import { assertFdMountReport } from '../agent/seccomp/testing/fixtureRun.js';
import { NESTED_IMAGE, prepareDind, runDindPod } from './lib/dindPod.js';
import { e2eSkipReason } from './lib/e2eGate.js';
import { mounts, processes, sh as hostSh } from './lib/hostState.js';
import type { TestBed } from './lib/TestBed.js';
import { startVNodeBed, type VNodeBed } from './lib/vnodeBed.js';

const skip = e2eSkipReason(['/usr/bin/containerd', '/usr/sbin/runc', '/usr/lib/cni/bridge', '/usr/bin/mmdebstrap']);
const BASE = '/run/vnt-nested';
const KUBELET = join(BASE, 'kubelet');
let vb: VNodeBed;
let bed: TestBed;
let imagesDir: string;

before(async () => {
  if (skip) return;
  vb = await startVNodeBed({ name: 'nested', subnetIndex: 78, baseDir: BASE, managerEnv: { VNODE_KUBELET_ROOT: KUBELET } });
  bed = vb.bed;
  ({ imagesDir } = prepareDind(bed, BASE));
});

after(async () => {
  if (!vb) return;
  assert.deepEqual(await vb.teardown(), [], 'nothing left behind');
});

const hostLinks = (): string[] => hostSh('ip', ['-o', 'link', 'show']).split('\n').map((l) => l.split(':')[1]?.trim() ?? '').filter(Boolean).sort();
const hostRules = (): string => ['filter', 'nat'].map((t) => hostSh('iptables-save', ['-t', t]).replace(/^[#:].*$/gm, '')).join('');
const nsPids = (pid: number): number[] => (/^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '').split(/\s+/).map(Number);
/** Host uid of a process (the real uid, /proc/<pid>/status). */
const uidOf = (pid: number): number => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? -1);

test('docker in a vNode pod: load, run, build; the nested container is isolated and bounded by the pod', { skip, timeout: 600_000 }, async () => {
  const linksBefore = hostLinks();
  const rulesBefore = hostRules();
  const mountsBefore = mounts().length;
  const uid = `nested-uid-${process.pid}`;
  const fdmount = await buildStatic(fileURLToPath(new URL('../../agent/seccomp/fixtures/fdmount.c', import.meta.url)), join(imagesDir, 'fdmount'));
  assert.equal(fdmount.code, 0, fdmount.stderr);
  const pod = await runDindPod(bed, { name: 'dind', handler: 'vnode', uid, kubeletRoot: KUBELET, imagesDir });
  const sh = async (script: string, timeoutSec = 120): Promise<string> => {
    const r = await bed.cri.execSync(pod.containerId, ['sh', '-c', script], timeoutSec);
    assert.equal(r.exitCode, 0, `${script}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  try {
    // The pod's own container cgroup, as the host sees it, and the vNode's root uid.
    const podUidMap = (await sh('cat /proc/self/uid_map')).trim().split(/\s+/).map(Number);
    const vnodeRoot = podUidMap[1]!;
    assert.equal(podUidMap[0], 0);

    // The fd-based mount API, as runtimes newer than Debian's use it (the pod's limit is 1 GiB).
    const fdm = await bed.cri.execSync(pod.containerId, ['/images/fdmount'], 150);
    assert.equal(fdm.exitCode, 0, fdm.stdout + fdm.stderr);
    assertFdMountReport(fdm.stdout, 1024 * 1024);

    assert.match(await sh('docker load -i /images/busybox.tar'), /Loaded image: localhost\/busybox:nested/);
    assert.equal((await sh("docker info --format '{{.Driver}}'")).trim(), 'overlay2', 'overlay storage inside the user namespace');

    // A nested container: its own pid, mount, net, uts namespaces; a cgroup limit of its own.
    const podNs = (await sh('readlink /proc/self/ns/pid /proc/self/ns/mnt /proc/self/ns/net /proc/self/ns/uts')).trim().split('\n');
    const out = (await sh(`docker run --rm -m 64m --hostname inner ${NESTED_IMAGE} sh -c 'for n in pid mnt net uts; do readlink /proc/self/ns/$n; done; echo pid=$$; hostname; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; ping -c1 -W2 172.17.0.1 >/dev/null && echo gw-ok'`)).trim().split('\n');
    const innerNs = out.slice(0, 4);
    for (let i = 0; i < 4; i++) assert.notEqual(innerNs[i], podNs[i], `nested ${podNs[i]} is its own`);
    assert.deepEqual(out.slice(4), ['pid=1', 'inner', String(64 * 1024 * 1024), 'gw-ok'], 'pid 1 in its namespace, its hostname, its memory limit, the bridge network');

    // docker build with a two-line Dockerfile, and the image it made.
    await sh(`mkdir -p /build && printf "FROM ${NESTED_IMAGE}\\nRUN echo built-in-vnode > /built\\n" > /build/Dockerfile`);
    assert.match(await sh('DOCKER_BUILDKIT=0 docker build -t localhost/built:1 /build 2>&1'), /Successfully tagged localhost\/built:1/);
    assert.equal((await sh('docker run --rm localhost/built:1 cat /built')).trim(), 'built-in-vnode');

    // Host side of a running nested container.
    const cid = (await sh(`docker run -d -m 32m ${NESTED_IMAGE} sleep 7337`)).trim();
    const podPid = Number((await sh(`docker inspect -f '{{.State.Pid}}' ${cid}`)).trim());
    // The host pid whose NSpid shows dockerd's pid for it one level up (pid 1 in its own namespace).
    const hostPid = processes().find((p) => p.cmdline === 'sleep 7337' && nsPids(p.pid).join(' ').endsWith(` ${podPid} 1`))?.pid ?? 0;
    assert.ok(hostPid > 0, `the nested process (pid ${podPid} in the pod) on the host`);
    assert.ok(uidOf(hostPid) >= vnodeRoot && uidOf(hostPid) < vnodeRoot + 65536, 'the nested process runs as a vNode uid on the host, never host root');
    const cg = readFileSync(`/proc/${hostPid}/cgroup`, 'utf8');
    const memPath = /:memory:(.*)/.exec(cg)![1]!;
    assert.ok(memPath.startsWith(`${pod.cgroupParent}/${pod.containerId}/`), `the nested cgroup ${memPath} is below the pod container's own`);
    assert.equal(readFileSync(`/sys/fs/cgroup/memory${memPath}/memory.limit_in_bytes`, 'utf8').trim(), String(32 * 1024 * 1024));
    // The ceiling stays the host's: the pod cannot raise its own limit, nor write above its cgroup.
    const raise = await bed.cri.execSync(pod.containerId, ['sh', '-c', 'echo -1 > /sys/fs/cgroup/memory/memory.limit_in_bytes']);
    assert.notEqual(raise.exitCode, 0);
    assert.match(raise.stderr, /Permission denied/);
    const own = `/sys/fs/cgroup/memory${pod.cgroupParent}/${pod.containerId}`;
    for (const f of ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes']) assert.equal(hostSh('stat', ['-c', '%u', join(own, f)]).trim(), '0', `${f} of the pod's cgroup stays host root's`);
    // What systemd delegates on v1 (Delegate=yes): the directory and the files that move processes.
    for (const f of ['.', 'cgroup.procs', 'tasks']) assert.equal(hostSh('stat', ['-c', '%u', join(own, f)]).trim(), String(vnodeRoot), `${f} is delegated`);
    assert.equal(hostSh('stat', ['-c', '%u', join(`/sys/fs/cgroup/memory${pod.cgroupParent}`, 'cgroup.procs')]).trim(), '0', "the pod's cgroup above it is not delegated");

    // containerd and runc alone (no dockerd): ctr import and ctr run.
    await sh('mkdir -p /var/lib/docker/ctrd && (containerd --root /var/lib/docker/ctrd/root --state /run/ctrd --address /run/ctrd.sock > /var/log/ctrd.log 2>&1 &) && for i in $(seq 50); do ctr -a /run/ctrd.sock version >/dev/null 2>&1 && break; sleep 0.2; done');
    await sh('ctr -a /run/ctrd.sock images import /images/busybox.tar');
    const ctrOut = (await sh(`ctr -a /run/ctrd.sock run --rm --memory-limit 33554432 ${NESTED_IMAGE} t1 sh -c 'echo hi-from-ctr; readlink /proc/self/ns/pid; cat /proc/self/cgroup | grep :memory:'`)).trim().split('\n');
    assert.equal(ctrOut[0], 'hi-from-ctr');
    assert.notEqual(ctrOut[1], podNs[0], 'ctr run: its own pid namespace');
    assert.match(ctrOut[2]!, /:memory:\/default\/t1$/, "ctr run: its cgroup below the pod container's, the root of the pod's cgroup namespace");

    // Nothing of it on the host: docker0 and its NAT rules live in the vNode's network namespace.
    assert.match(await sh('ls /sys/class/net'), /docker0/);
    assert.match(await sh('iptables -t nat -S POSTROUTING'), /MASQUERADE/);
    assert.deepEqual(hostLinks().filter((l) => l.startsWith('docker') || l.startsWith('br-')), linksBefore.filter((l) => l.startsWith('docker') || l.startsWith('br-')), 'no bridge on the host');
    assert.equal(hostRules(), rulesBefore, "the host's iptables are as they were");
    assert.equal(mounts().filter((m) => m.fsType === 'overlay' && m.mountPoint.includes('/var/lib/docker')).length, 0, 'no overlay of the nested runtime in the host mount namespace');
    assert.ok(mounts().length <= mountsBefore + 8, 'the host mount table gained only the pod container\'s own mounts');
  } finally {
    await bed.cri.stopPodSandbox(pod.podId).catch(() => undefined);
    await bed.cri.removePodSandbox(pod.podId).catch(() => undefined);
  }
  assert.equal(processes().filter((p) => p.cmdline === 'sleep 7337').length, 0, 'no nested process outlives the pod');
  assert.equal(hostSh('sh', ['-c', `ls -d /sys/fs/cgroup/*${pod.cgroupParent}/${pod.containerId} 2>/dev/null | wc -l`]).trim(), '0', 'every nested cgroup went with the pod');
});
