// What a privileged workload does to "its node", inside a privileged vNode pod through CRI: mount
// proc and sysfs (emulated files on top), tmpfs, bind and overlay; no unmounting of the emulated
// files; the safe devices only, as real nodes in the rootfs; a reboot that stops the pod's
// container and nothing else.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, afterEach, before, describe, test } from 'node:test';
import type { CriMessage } from '../installer/cri/CriClient.js';
import { e2eSkipReason } from './lib/e2eGate.js';
import { isAlive, waitFor } from './lib/hostState.js';
import type { TestBed } from './lib/TestBed.js';
import { startVNodeBed, type VNodeBed } from './lib/vnodeBed.js';

const skip = e2eSkipReason();
let vb: VNodeBed;
let bed: TestBed;

before(async () => {
  if (skip) return;
  vb = await startVNodeBed({ name: 'secpods', subnetIndex: 17, baseDir: '/run/vnt-secpods' });
  bed = vb.bed;
});
after(async () => {
  if (vb) assert.deepEqual(await vb.teardown(), [], 'nothing left behind');
});

/** A privileged pod with one privileged container, limited to 256 MiB and half a CPU. */
async function privilegedPod(name: string, namespace = 'ops'): Promise<{ podId: string; id: string }> {
  const pb = bed.podConfig({ name, namespace, privileged: true });
  const pc = pb.build();
  const podId = await bed.cri.runPodSandbox(pc, 'vnode');
  const id = await bed.cri.createContainer(
    podId,
    bed.containerConfig({ name: 'main', command: ['sleep', '3600'], privileged: true, memoryLimitBytes: 256 << 20, cpuQuota: 50_000, namespaceOptions: pb.containerNamespaceOptions() }),
    pc,
  );
  await bed.cri.startContainer(id);
  return { podId, id };
}
const sh = (id: string, script: string) => bed.cri.execSync(id, ['sh', '-c', script]);
const ok = async (id: string, script: string): Promise<string> => {
  const r = await sh(id, script);
  assert.equal(r.exitCode, 0, `${script}: ${r.stdout}${r.stderr}`);
  return r.stdout;
};

describe('syscalls a privileged vNode pod makes, answered by the manager', { skip }, () => {
  afterEach(async () => {
    await bed.removeAllPods();
  });

  test('mount -t proc and -t sysfs come up with the emulated files', { timeout: 60_000 }, async () => {
    const { id } = await privilegedPod('mounts');
    assert.match(await ok(id, 'mkdir -p /tmp/p && mount -t proc proc /tmp/p && grep MemTotal /tmp/p/meminfo'), /MemTotal:\s+262144 kB/);
    assert.equal(await ok(id, 'mkdir -p /tmp/s && mount -t sysfs sysfs /tmp/s && cat /tmp/s/devices/system/cpu/online'), '0\n');
    // and free/nproc (sysinfo, sched_getaffinity) agree with the files
    assert.match(await ok(id, 'free | grep Mem:'), /^Mem:\s+262144\s/);
    assert.equal(await ok(id, 'nproc'), '1\n');
  });

  test('tmpfs, bind and overlay mounts work; the emulated files cannot be unmounted', { timeout: 60_000 }, async () => {
    const { id } = await privilegedPod('kinds');
    assert.equal(await ok(id, 'mkdir -p /t && mount -t tmpfs none /t && echo a > /t/f && cat /t/f'), 'a\n');
    assert.equal(await ok(id, 'mkdir -p /b && mount --bind /t /b && cat /b/f'), 'a\n');
    assert.equal(
      await ok(id, 'mkdir -p /t/l /t/u /t/w /o && echo low > /t/l/x && mount -t overlay overlay -o lowerdir=/t/l,upperdir=/t/u,workdir=/t/w /o && echo up >> /o/x && cat /o/x /t/l/x'),
      'low\nup\nlow\n',
    );
    for (const f of ['/proc/meminfo', '/proc/uptime', '/sys/devices/system/cpu/online']) {
      const r = await sh(id, `umount ${f}`);
      assert.notEqual(r.exitCode, 0, `umount ${f} must fail`);
      assert.match(r.stderr, /not permitted/i);
    }
    assert.match(await ok(id, 'grep MemTotal /proc/meminfo'), /262144 kB/, 'still emulated');
  });

  test('mknod: real safe-device nodes in the rootfs (usable in /tmp, removable), the bind on a pod-mounted tmpfs, no block device', { timeout: 60_000 }, async () => {
    const { id } = await privilegedPod('devs');
    // The rootfs (the overlay containerd mounted): real nodes, owned by the vNode's root, usable in
    // the sticky /tmp and removed by rm, as on a node.
    const nodes = await ok(
      id,
      [
        'cd /tmp',
        'for d in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do set -- $d; mknod $1 c $2 $3 && stat -c "%n %F %t:%T %U %a" $1; done',
        'grep -c " /tmp/" /proc/self/mountinfo || true',
        'echo x > null && echo wrote-null && head -c 3 null | wc -c',
        'head -c 3 zero | wc -c; head -c 3 urandom | wc -c; echo x > random && echo wrote-random',
        'echo x > full 2>/dev/null || echo full-enospc',
        'rm null zero full random urandom tty && echo removed',
      ].join('\n'),
    );
    for (const [n, dev] of [['null', '1:3'], ['zero', '1:5'], ['full', '1:7'], ['random', '1:8'], ['urandom', '1:9'], ['tty', '5:0']])
      assert.match(nodes, new RegExp(`^${n} character special file ${dev} root 644$`, 'm'), nodes);
    assert.match(nodes, /^0\nwrote-null\n0\n3\n3\nwrote-random\nfull-enospc\nremoved\n$/m, `no mounts, then each works: ${nodes}`);
    // A fresh /dev, as systemd and container engines inside a pod make one: that tmpfs belongs to
    // the pod's user namespace (no node on it could be opened), so the host's device is bound.
    assert.equal(await ok(id, 'mkdir -p /newdev && mount -t tmpfs -o mode=755 none /newdev && mknod /newdev/null c 1 3 && echo x > /newdev/null && head -c 3 /newdev/null | wc -c'), '0\n');
    const b = await sh(id, 'mknod /newdev/sda b 8 0');
    assert.notEqual(b.exitCode, 0);
    assert.match(b.stderr, /not permitted/i);
    const m = await sh(id, 'mknod /tmp/mem c 1 1');
    assert.notEqual(m.exitCode, 0, '/dev/mem is not a safe device');
    assert.match(m.stderr, /not permitted/i);
  });

  test('reboot stops the calling container only: the host and other pods are untouched', { timeout: 90_000 }, async () => {
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8');
    const a = await privilegedPod('reboot-a', 'ops');
    const sibling = await privilegedPod('reboot-b', 'ops'); // same vNode
    const other = await privilegedPod('reboot-c', 'other'); // another vNode
    const pid = (JSON.parse((await bed.cri.containerStatus(sibling.id, true)).info.info!) as { pid: number }).pid;
    await sh(a.id, 'reboot -f').catch(() => undefined); // the exec may die with its container
    const st = await waitFor(
      'the rebooting container to stop',
      async () => {
        const s = (await bed.cri.containerStatus(a.id)).status as CriMessage;
        return s.state === 'CONTAINER_EXITED' ? s : undefined;
      },
      30_000,
    );
    assert.ok(st);
    assert.equal(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'), bootId, 'the host did not reboot');
    assert.ok(isAlive(pid), 'the sibling container in the same vNode runs on');
    for (const p of [sibling, other]) assert.equal((await sh(p.id, 'echo alive')).stdout, 'alive\n');
  });
});
