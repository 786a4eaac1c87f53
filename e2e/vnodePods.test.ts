// Pods in vNodes, through CRI the way kubelet calls containerd: a pod is root only of its vNode;
// a privileged hostPID + hostNetwork pod gets the vNode's namespaces, never the host's; pods of
// one namespace share a vNode, another namespace gets another with disjoint ids; and removing
// the pods removes every vNode, netns, mount and id range.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { e2eSkipReason } from './lib/e2eGate.js';
import { mounts, processes, waitFor } from './lib/hostState.js';
import type { ManagerProcess } from './lib/ManagerProcess.js';
import type { TestBed } from './lib/TestBed.js';
import { manyFilesImage, manyLayersImage } from './lib/testImages.js';
import { startVNodeBed, type VNodeBed } from './lib/vnodeBed.js';

const skip = e2eSkipReason();
const BASE = '/run/vnt-pods';
let vb: VNodeBed;
let bed: TestBed;
let manager: ManagerProcess;

before(async () => {
  if (skip) return;
  vb = await startVNodeBed({ name: 'pods', subnetIndex: 11, baseDir: BASE });
  bed = vb.bed;
  manager = vb.manager;
});

after(async () => {
  if (!vb) return;
  assert.deepEqual(await vb.teardown(), [], 'nothing left behind');
});

interface VNodeState {
  name: string;
  idRange: { uidStart: number; gidStart: number };
  /** where its runtime files are (rootfs layer binds under rootfs/<task id>) */
  dir: string;
  holder: { pid: number } | null;
  pods: string[];
  netns: Record<string, string>;
}
const vnodeStates = (): VNodeState[] => {
  const dir = join(manager.stateDir, 'vnodes');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as VNodeState) : [];
};
const sh = async (id: string, script: string) => bed.cri.execSync(id, ['sh', '-c', script]);
const uidMap = async (id: string) => (await sh(id, 'cat /proc/self/uid_map')).stdout.trim().split(/\s+/).map(Number);
const containerPid = async (id: string) => (JSON.parse((await bed.cri.containerStatus(id, true)).info.info!) as { pid: number }).pid;

describe('pods in vNodes', { skip }, () => {
  // A failed test must not leave its pods to the next one.
  afterEach(async () => {
    await bed.removeAllPods();
  });

  test('a vnode pod is root only of its vNode: id, uid_map, host uid, exec and logs', { timeout: 60_000 }, async () => {
    const { podId, podConfig, containerId } = await bed.runPod(
      { name: 'basic', namespace: 'team-a', handler: 'vnode' },
      { name: 'main', command: ['sh', '-c', 'echo hello-from-vnode; exec sleep 3600'] },
    );
    const v = vnodeStates().find((s) => s.pods.includes(podId))!;
    assert.ok(v, 'the pod is recorded in a vNode');
    assert.ok(v.idRange.uidStart >= 65536);
    assert.equal((await sh(containerId, 'id -u; id -g')).stdout, '0\n0\n');
    assert.deepEqual(await uidMap(containerId), [0, v.idRange.uidStart, 65536]);
    // From the host, the container's root is the vNode's unprivileged uid.
    const status = readFileSync(`/proc/${await containerPid(containerId)}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${v.idRange.uidStart}\\s`, 'm'));
    const log = join(podConfig.logDirectory as string, 'main/0.log');
    assert.match(readFileSync(log, 'utf8'), /stdout F hello-from-vnode/);
    // The image's files are root's inside (idmapped lowers), and root can write the rootfs.
    assert.equal((await sh(containerId, 'stat -c %u:%g /bin/busybox /etc/passwd')).stdout, '0:0\n0:0\n');
    // The tree's runc shim left containerd's overlay to the manager, which mounted it once, with
    // its idmapped layers (no overlay of containerd's mounted and unmounted again, which synced
    // the upper's file system).
    const bundle = join(bed.state, 'io.containerd.runtime.v2.task/k8s.io', containerId);
    const left = JSON.parse(readFileSync(join(bundle, 'rootfs.mounts.json'), 'utf8')) as { type: string; options: string[] }[];
    assert.equal(left[0]?.type, 'overlay');
    const rootMount = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === join(bundle, 'rootfs'));
    assert.equal(rootMount.length, 1, 'one mount at the rootfs: the manager\'s overlay, never containerd\'s under it');
    assert.match(rootMount[0]!, new RegExp(`lowerdir=${v.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/rootfs/${containerId}/l0`), 'its lower layers are the idmapped binds');
    assert.equal((await sh(containerId, 'echo x > /etc/written && chown 1000:1000 /etc/written && stat -c %u /etc/written')).stdout, '1000\n');
    await bed.cri.stopPodSandbox(podId);
    await bed.cri.removePodSandbox(podId);
  });

  test('a privileged hostPID + hostNetwork pod gets the vNode, not the host', { timeout: 90_000 }, async () => {
    // A host directory with a root-owned file, shared into the pod as a hostPath volume.
    const hostDir = join(BASE, 'hostpath');
    mkdirSync(hostDir, { recursive: true });
    writeFileSync(join(hostDir, 'root-owned'), 'host data\n', { mode: 0o644 });
    chmodSync(hostDir, 0o755);
    const pb = bed.podConfig({ name: 'priv', namespace: 'team-a', hostNetwork: true, hostPID: true, privileged: true });
    const podConfig = pb.build();
    const podId = await bed.cri.runPodSandbox(podConfig, 'vnode');
    const ctr = bed.containerConfig({
      name: 'main',
      command: ['sleep', '3600'],
      privileged: true,
      namespaceOptions: pb.containerNamespaceOptions(),
      mounts: [
        { containerPath: '/host', hostPath: hostDir },
        { containerPath: '/host-etc', hostPath: '/etc', readonly: true },
        // what a node exporter mounts: in a vNode it gets the vNode's processes, not the host's
        { containerPath: '/host-proc', hostPath: '/proc', readonly: true },
      ],
    });
    const id = await bed.cri.createContainer(podId, ctr, podConfig);
    await bed.cri.startContainer(id);

    // What a privileged pod does in its (v)node works...
    assert.equal((await sh(id, 'mkdir -p /mnt && mount -t tmpfs none /mnt && echo ok > /mnt/f && cat /mnt/f')).stdout, 'ok\n');
    const before = hostname();
    assert.equal((await sh(id, 'hostname vnode-renamed && hostname')).stdout, 'vnode-renamed\n');
    assert.equal(hostname(), before, "the host's hostname is untouched");
    const ping = await sh(id, `ping -c 1 -W 3 ${bed.gateway}`);
    assert.equal(ping.exitCode, 0, `the vNode network reaches the gateway: ${ping.stdout}${ping.stderr}`);

    // ...but the host stays out of reach.
    const w = await sh(id, 'echo evil >> /host/root-owned');
    assert.notEqual(w.exitCode, 0, 'a root-owned host file is not writable through a hostPath');
    assert.equal(readFileSync(join(hostDir, 'root-owned'), 'utf8'), 'host data\n');
    assert.notEqual((await sh(id, 'touch /host/new')).exitCode, 0, 'nor can files be created in a root-owned host dir');
    assert.notEqual((await sh(id, 'cat /host-etc/shadow')).exitCode, 0, '/etc/shadow is not readable');
    // hostPID shows the vNode's processes only: no host process is visible or signalable.
    const cmdlines = (await sh(id, 'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline; echo; done')).stdout;
    assert.ok(!/containerd|node |vnode-manager|runc/.test(cmdlines), `host processes visible:\n${cmdlines}`);
    assert.match(cmdlines, /sleep 3600/);
    assert.ok(!cmdlines.includes(BASE), `no host path shows in the vNode's process list:\n${cmdlines}`);
    const viaHostPath = (await sh(id, 'for p in /host-proc/[0-9]*; do tr "\\0" " " < $p/cmdline; echo; done')).stdout;
    assert.ok(!/containerd|node |vnode-manager/.test(viaHostPath) && /sleep 3600/.test(viaHostPath), `a hostPath of /proc shows host processes:\n${viaHostPath}`);
    const hostPid = process.pid;
    assert.notEqual((await sh(id, `kill -0 ${hostPid}`)).exitCode, 0, 'a host pid cannot be signalled');
    const holder = vnodeStates().find((s) => s.pods.includes(podId))!.holder!.pid;
    await sh(id, 'kill -9 1; kill -TERM 1; kill -INT 1; kill -HUP 1; true');
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(processes().some((p) => p.pid === holder), 'the vNode init (every pod\'s ancestor pid 1) survives kill -9, -TERM, -INT, -HUP 1 from inside');
    await bed.cri.stopPodSandbox(podId);
    await bed.cri.removePodSandbox(podId);
  });

  test('pods of one namespace share a vNode; another namespace gets a disjoint one; removal leaves nothing', { timeout: 90_000 }, async () => {
    const a1 = await bed.runPod({ name: 'a1', namespace: 'team-a', handler: 'vnode' });
    const a2 = await bed.runPod({ name: 'a2', namespace: 'team-a', handler: 'vnode' });
    const b1 = await bed.runPod({ name: 'b1', namespace: 'team-b', handler: 'vnode' });
    const [ma1, ma2, mb1] = await Promise.all([a1, a2, b1].map((p) => uidMap(p.containerId)));
    assert.deepEqual(ma1, ma2, 'same namespace, same vNode');
    assert.notEqual(ma1![1], mb1![1]);
    const lo = (m: number[]) => m[1]!;
    assert.ok(lo(ma1!) + 65536 <= lo(mb1!) || lo(mb1!) + 65536 <= lo(ma1!), 'disjoint ranges');
    // the subuid ranges of host users are avoided too
    if (existsSync('/etc/subuid')) {
      for (const line of readFileSync('/etc/subuid', 'utf8').split('\n').filter(Boolean)) {
        const [, start, count] = line.split(':').map(Number) as [number, number, number];
        for (const m of [ma1!, mb1!]) assert.ok(lo(m) + 65536 <= start || start + count <= lo(m), `range ${lo(m)} overlaps /etc/subuid ${line}`);
      }
    }
    // Each pod has its own network in its vNode; the two team-a pods reach each other.
    const ipOf = async (id: string) => (await sh(id, "ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1")).stdout.trim();
    const ip2 = await ipOf(a2.containerId);
    assert.notEqual(await ipOf(a1.containerId), ip2);
    assert.equal((await sh(a1.containerId, `ping -c 1 -W 3 ${ip2}`)).exitCode, 0);
    assert.equal(vnodeStates().length, 2);
    const holders = vnodeStates().map((v) => v.holder!.pid);

    for (const p of [a1, a2, b1]) {
      await bed.cri.stopPodSandbox(p.podId);
      await bed.cri.removePodSandbox(p.podId);
    }
    // The vNode goes with the pod's last container (vnode-runc's delete hook of its sandbox).
    await waitFor('the vNodes to go', () => vnodeStates().length === 0, 10_000);
    const ids = join(manager.stateDir, 'idranges.json');
    const ranges = existsSync(ids) ? (JSON.parse(readFileSync(ids, 'utf8')) as { ranges: Record<string, number> }).ranges : {};
    assert.deepEqual(Object.keys(ranges), [], 'no id range left (no file: none was ever kept)');
    assert.deepEqual(mounts().filter((m) => m.mountPoint.startsWith(join(manager.runDir, 'vnodes'))).map((m) => m.mountPoint), [], 'no vNode mount left');
    assert.ok(!processes().some((p) => holders.includes(p.pid)), 'no holder left');
  });

  test('a vNode whose holder dies takes its pods with it, as a node that crashes; the tenant\'s next pod gets a new vNode; nothing left', { timeout: 90_000 }, async () => {
    // Every pod's pid namespace is nested in the holder's (runc/vnode-pidns.patch): its end kills
    // them all. containerd sees each sandbox exit and deletes its task; the pods leave the vNode,
    // which goes with its last one.
    const anchor = await bed.runPod({ name: 'f1', namespace: 'team-f', handler: 'vnode' });
    const [v] = vnodeStates().filter((x) => x.pods.includes(anchor.podId));
    assert.ok(v?.holder);
    const sandboxPid = (JSON.parse((await bed.cri.podSandboxStatus(anchor.podId, true)).info.info!) as { pid: number }).pid;
    process.kill(v.holder.pid, 'SIGKILL');
    await waitFor('the pod to be gone with its vNode', () => !processes().some((p) => p.pid === sandboxPid) || undefined, 10_000);
    await waitFor('the sandbox to be not ready', async () => (await bed.cri.podSandboxStatus(anchor.podId)).status.state === 'SANDBOX_NOTREADY' || undefined, 10_000);
    await waitFor('the vNode to go with its pods', () => !vnodeStates().some((x) => x.holder?.pid === v.holder!.pid) || undefined, 10_000);
    const next = await bed.runPod({ name: 'f2', namespace: 'team-f', handler: 'vnode' });
    const [w] = vnodeStates().filter((x) => x.pods.includes(next.podId));
    assert.ok(w?.holder && w.holder.pid !== v.holder.pid, 'a new vNode, a new holder');
    assert.equal((await sh(next.containerId, 'true')).exitCode, 0);
    for (const p of [anchor, next]) {
      await bed.cri.stopPodSandbox(p.podId);
      await bed.cri.removePodSandbox(p.podId);
    }
    await waitFor('the vNode to go with its last pod', () => vnodeStates().length === 0, 10_000);
  });

  test('the rootfs is not chowned: start cost does not depend on the image size', { timeout: 180_000 }, async () => {
    const big = manyFilesImage(20_000);
    bed.importImage(big.tar);
    const start = async (image: string, name: string) => {
      const t0 = performance.now();
      const p = await bed.runPod({ name, namespace: 'team-c', handler: 'vnode' }, { name: 'main', image, command: ['sleep', '3600'] });
      assert.equal((await sh(p.containerId, 'true')).exitCode, 0);
      return { ...p, ms: performance.now() - t0 };
    };
    await start(bed.images.busybox.name, 'warm'); // the vNode and the small image's unpack
    const small = await start(bed.images.busybox.name, 'small');
    await start(big.name, 'bigwarm'); // unpacking the big image is containerd's, not ours
    const large = await start(big.name, 'large');
    // Inside, the many files are root's and writable; on disk the layer is untouched.
    assert.equal((await sh(large.containerId, 'stat -c %u /data/7/f7 && echo y >> /data/7/f7 && tail -1 /data/7/f7')).stdout, '0\ny\n');
    const info = JSON.parse((await bed.cri.containerStatus(large.containerId, true)).info.info!) as { snapshotKey: string };
    assert.ok(info.snapshotKey);
    const layerFiles = execFileSync('sh', ['-c', `find ${bed.root}/io.containerd.snapshotter.v1.overlayfs/snapshots -path '*/fs/data/7/f7' | head -5`], { encoding: 'utf8' }).trim().split('\n');
    for (const f of layerFiles.filter(Boolean)) {
      const st = statSync(f);
      if (!f.includes('/fs/data/7/f7')) continue;
      // the image layer's copy stays root's (0); only the container's upper copy is the vNode's
      assert.ok(st.uid === 0 || st.uid >= 65536, `${f} uid ${st.uid}`);
    }
    assert.ok(large.ms < small.ms * 2 + 200, `start with 20,000 files ${large.ms.toFixed(0)} ms vs ${small.ms.toFixed(0)} ms small`);
    await bed.removeAllPods();
  });

  test('an image of 80 layers runs in a vNode: its layer binds are named relative to their directory past one page of mount options', { timeout: 120_000 }, async () => {
    const img = manyLayersImage(80);
    bed.importImage(img.tar);
    for (const handler of ['runc', 'vnode'] as const) {
      const p = await bed.runPod({ name: `layers-${handler}`, namespace: 'team-d', handler }, { name: 'main', image: img.name, command: ['sleep', '3600'] });
      const r = await sh(p.containerId, 'cat /layers/top; ls /layers | wc -l; cat /layers/1 /layers/79; stat -c %u /layers/top; echo w > /layers/top && cat /layers/top');
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.stdout, '79\n80\n1\n79\n0\nw\n', `${handler}: the top layer wins, every layer is there, root's and writable`);
    }
    await bed.removeAllPods();
  });
});
