// Devices through CRI (ContainerConfig.devices, what device plugins hand out) in vNode pods: the
// container gets a node of the device owned by its user in the vNode, usable per the requested
// permissions; a privileged pod's "every host device" stays cut to the safe set; a block device,
// a node made outside /dev or a symlink to the host's disk is refused with a clear message and
// nothing is left. /dev/fuse and /dev/net/tun are 0600 root's on this host: a bind of the host's
// node (runc's way in a user namespace) would show them as nobody's and refuse the open.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { e2eSkipReason } from './lib/e2eGate.js';
import type { ManagerProcess } from './lib/ManagerProcess.js';
import type { CriMessage } from '../installer/cri/CriClient.js';
import type { TestBed } from './lib/TestBed.js';
import { startVNodeBed, type VNodeBed } from './lib/vnodeBed.js';

const skip = e2eSkipReason();
const BASE = '/run/vnt-devices';
let vb: VNodeBed;
let bed: TestBed;
let manager: ManagerProcess;

before(async () => {
  if (skip) return;
  vb = await startVNodeBed({ name: 'devices', subnetIndex: 51, baseDir: BASE });
  bed = vb.bed;
  manager = vb.manager;
});

after(async () => {
  if (!vb) return;
  assert.deepEqual(await vb.teardown(), [], 'nothing left behind');
});

const sh = async (id: string, script: string) => bed.cri.execSync(id, ['sh', '-c', script]);
const vnodeDirs = (): string[] => {
  const d = join(manager.runDir, 'vnodes');
  return existsSync(d) ? readdirSync(d).map((n) => join(d, n)) : [];
};
/** Every device node the manager made for containers, on the host. */
const hostNodes = (): string[] =>
  vnodeDirs().flatMap((v) => (existsSync(join(v, 'dev')) ? readdirSync(join(v, 'dev')).flatMap((c) => readdirSync(join(v, 'dev', c)).map((n) => join(v, 'dev', c, n))) : []));

async function create(name: string, ctr: { devices: { containerPath: string; hostPath: string; permissions: string }[]; privileged?: boolean; runAsUser?: number }): Promise<{ podId: string; id: string; podConfig: CriMessage }> {
  const pb = bed.podConfig({ name, namespace: 'dev-ns', privileged: ctr.privileged });
  const podConfig = pb.build();
  mkdirSync(podConfig.logDirectory as string, { recursive: true });
  const podId = await bed.cri.runPodSandbox(podConfig, 'vnode');
  const id = await bed.cri.createContainer(podId, bed.containerConfig({ name: 'main', command: ['sleep', '3600'], namespaceOptions: pb.containerNamespaceOptions(), ...ctr }), podConfig);
  return { podId, id, podConfig };
}

describe('devices in vNode pods', { skip }, () => {
  afterEach(async () => {
    await bed.removeAllPods();
  });

  test('requested devices are usable and owned by the vNode root; permissions hold', { timeout: 60_000 }, async () => {
    const { id } = await create('dev-plain', {
      devices: [
        { containerPath: '/dev/fuse', hostPath: '/dev/fuse', permissions: 'rw' },
        { containerPath: '/dev/net/tun', hostPath: '/dev/net/tun', permissions: 'rwm' },
        { containerPath: '/dev/sink', hostPath: '/dev/null', permissions: 'rw' },
        // kvm: a device plugin's device outside the safe set, so the device cgroup holds the "r"
        { containerPath: '/dev/ro-kvm', hostPath: '/dev/kvm', permissions: 'r' },
      ],
    });
    await bed.cri.startContainer(id);
    assert.equal(statSync('/dev/fuse').mode & 0o077, 0, 'the host node is 0600 root (the test needs it so)');
    // ownership and type inside: the vNode's root, the same device numbers (hex), rw for owner and group
    assert.equal((await sh(id, 'stat -c "%u:%g %a %F %t:%T" /dev/fuse /dev/net/tun /dev/sink /dev/ro-kvm')).stdout, [
      '0:0 660 character special file a:e5',
      '0:0 660 character special file a:c8',
      '0:0 660 character special file 1:3',
      '0:0 440 character special file a:e8',
    ].map((l) => `${l}\n`).join(''));
    // usable: open fuse and tun read-write, write to the null device
    const use = await sh(id, 'exec 3<>/dev/fuse && echo fuse-open; exec 4<>/dev/net/tun && echo tun-open; echo data > /dev/sink && echo sink-written');
    assert.equal(use.stdout, 'fuse-open\ntun-open\nsink-written\n', use.stderr);
    // read-only: reading works, writing is refused (by the device cgroup: root passes the mode bits)
    assert.equal((await sh(id, 'exec 3</dev/ro-kvm && echo read-ok')).stdout, 'read-ok\n');
    const w = await sh(id, 'exec 3>/dev/ro-kvm');
    assert.notEqual(w.exitCode, 0, 'a write to an "r" device fails');
    assert.match(w.stderr, /Operation not permitted|Permission denied/);
    // the nodes on the host are owned by the vNode's root (its host uid), not by host root
    const v = JSON.parse(readFileSync(join(manager.stateDir, 'vnodes', readdirSync(join(manager.stateDir, 'vnodes')).find((f) => f.endsWith('.json'))!), 'utf8')) as { idRange: { uidStart: number } };
    const nodes = hostNodes();
    assert.equal(nodes.length, 4);
    for (const n of nodes) assert.equal(statSync(n).uid, v.idRange.uidStart, n);
    // Their directory goes with the container.
    await bed.cri.stopContainer(id);
    await bed.cri.removeContainer(id);
    assert.deepEqual(hostNodes(), []);
  });

  test("a non-root container's device is owned by its user", { timeout: 60_000 }, async () => {
    const { id } = await create('dev-user', { runAsUser: 1000, devices: [{ containerPath: '/dev/fuse', hostPath: '/dev/fuse', permissions: 'rw' }] });
    await bed.cri.startContainer(id);
    assert.equal((await sh(id, 'id -u; stat -c %u /dev/fuse; exec 3<>/dev/fuse && echo open')).stdout, '1000\n1000\nopen\n');
  });

  test("a privileged pod gets its requested device, and still only the safe set of the host's", { timeout: 60_000 }, async () => {
    const { id } = await create('dev-priv', { privileged: true, devices: [{ containerPath: '/dev/plugin-fuse', hostPath: '/dev/fuse', permissions: 'rw' }] });
    await bed.cri.startContainer(id);
    assert.equal((await sh(id, 'stat -c "%u %t:%T" /dev/plugin-fuse; exec 3<>/dev/plugin-fuse && echo open')).stdout, '0 a:e5\nopen\n');
    const ls = (await sh(id, 'ls /dev')).stdout.split(/\s+/);
    for (const disk of ['vda', 'kmsg', 'mem', 'kvm']) assert.ok(!ls.includes(disk), `${disk} is not in a privileged vNode container: ${ls.join(' ')}`);
  });

  test('block devices, nodes outside /dev and symlinks to disks are refused; nothing is left', { timeout: 90_000 }, async () => {
    mkdirSync(BASE, { recursive: true });
    const outside = join(BASE, 'kmsg-outside-dev');
    const link = join(BASE, 'disk-link');
    rmSync(outside, { force: true });
    rmSync(link, { force: true });
    execFileSync('mknod', [outside, 'c', '1', '11']); // /dev/kmsg's number, made outside /dev
    symlinkSync('/dev/vda', link);
    const cases: [string, { containerPath: string; hostPath: string; permissions: string }, RegExp][] = [
      ['dev-block', { containerPath: '/dev/vda', hostPath: '/dev/vda', permissions: 'rw' }, /device request "\/dev\/vda": block device 254:0 \(vda on the host\) refused: a vNode gets no block device/],
      ['dev-outside', { containerPath: '/dev/log', hostPath: outside, permissions: 'r' }, /device request "\/dev\/log": character device 1:11 \(kmsg on the host\) refused: not in the manager's device allow-list/],
      ['dev-link', { containerPath: '/dev/disk0', hostPath: link, permissions: 'r' }, /block device 254:0 \(vda on the host\) refused/],
      ['dev-kvm', { containerPath: '/dev/kmsg', hostPath: '/dev/kmsg', permissions: 'rw' }, /character device 1:11 \(kmsg on the host\) refused/],
      ['dev-path', { containerPath: '/etc/fuse', hostPath: '/dev/fuse', permissions: 'rw' }, /device request "\/etc\/fuse": the container path must be a normalized absolute path under \/dev\//],
    ];
    for (const [name, device, message] of cases) {
      // A good device beside the refused one: nothing of either may be left.
      const { id } = await create(name, { devices: [{ containerPath: '/dev/fuse', hostPath: '/dev/fuse', permissions: 'rw' }, device] });
      // containerd makes the task (the vNode's first sight of the container) at StartContainer.
      await assert.rejects(bed.cri.startContainer(id), message, name);
      assert.deepEqual(hostNodes(), [], `${name}: no device node left`);
      const st = (await bed.cri.containerStatus(id)).status;
      assert.equal(st.state, 'CONTAINER_EXITED', name);
      assert.match(String(st.message), message, `${name}: the container's status says why`);
      await bed.cri.removeContainer(id);
    }
    rmSync(outside, { force: true });
    rmSync(link, { force: true });
    // Each refusal is spooled for a Warning Event on its pod (the installer posts them).
    const spooled = readFileSync(join(manager.stateDir, 'pod-events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { pod: { namespace: string; name: string }; reason: string; message: string });
    assert.deepEqual(spooled.map((e) => `${e.pod.namespace}/${e.pod.name} ${e.reason}`), cases.map(([name]) => `dev-ns/${name} VNodeDeviceRefused`));
    for (const [i, [, , message]] of cases.entries()) assert.match(spooled[i]!.message, message);
  });
});
