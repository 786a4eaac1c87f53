// vnodefs through real vNode pods (CRI -> containerd -> vnode handler -> vnode-manager): a
// container limited to 256 MiB and half a CPU reads its own /proc and /sys figures with the
// tools images use (busybox cat copies with sendfile(2), others read(2)), uptime counts from its
// pod's start, /proc/sys writes stay in the vNode that made them, and nothing identifies the
// host: /sys/firmware is empty wherever the pod sees a sysfs (its /sys, a hostPath of /sys, one it
// mounts), boot_id is the pod's own, and DMI is the vNode's (this machine has none: none shows).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { vnodeName } from '../agent/vnode/VNodePlacement.js';
import { productUuid } from '../agent/vnodefs/render/renderIdentity.js';
import { containerBindings } from '../agent/vnodefs/VnodeFs.js';
import { e2eSkipReason } from './lib/e2eGate.js';
import type { TestBed } from './lib/TestBed.js';
import { startVNodeBed, type VNodeBed } from './lib/vnodeBed.js';

const skip = e2eSkipReason(['/usr/bin/containerd', '/usr/sbin/runc', '/usr/lib/cni/bridge', '/dev/fuse']);
const BASE = '/run/vnt-vfspods';
const MiB = 1024 * 1024;
const LIMITS = { memoryLimitBytes: 256 * MiB, cpuQuota: 50_000, cpuPeriod: 100_000 };
/** statfs f_type of a FUSE mount, as busybox `stat -f -c %t` prints it */
const FUSE_MAGIC = '65735546';

let vb: VNodeBed;
let bed: TestBed;
/** the 256 MiB / half-CPU container of namespace vfs-a, and when its pod was asked for */
let a: { containerId: string; askedAt: number };

const sh = async (id: string, script: string): Promise<string> => {
  const r = await bed.cri.execSync(id, ['sh', '-c', script]);
  assert.equal(r.exitCode, 0, `${script}: exit ${r.exitCode} ${r.stderr}`);
  return r.stdout;
};
const hostUptime = (): number => Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);

before(async () => {
  if (skip) return;
  vb = await startVNodeBed({ name: 'vfspods', subnetIndex: 32, baseDir: BASE });
  bed = vb.bed;
  const askedAt = Date.now();
  const p = await bed.runPod({ name: 'a', namespace: 'vfs-a', handler: 'vnode' }, { name: 'main', command: ['sleep', '3600'], ...LIMITS });
  a = { containerId: p.containerId, askedAt };
});

after(async () => {
  if (!vb) return;
  assert.deepEqual(await vb.teardown(), [], 'nothing left behind');
});

describe('vnodefs in vNode pods', { skip }, () => {
  test('every emulated file reads the same with sendfile (busybox cat), read(2) and dd', { timeout: 60_000 }, async () => {
    const files = containerBindings('/').filter((b) => !b.dir).map((b) => b.destination);
    // One line per file: bytes through cat (sendfile), through the shell's redirect + wc (read),
    // through dd with a 1-byte block (many small reads at rising offsets), and the first line.
    const script = files.map((f) => `[ -e ${f} ] && echo "${f} $(cat ${f} | wc -c) $(wc -c < ${f}) $(dd if=${f} bs=1 2>/dev/null | wc -c)"`).join('; ');
    const out = await sh(a.containerId, `${script}; true`);
    const seen = new Map(out.trim().split('\n').map((l) => [l.split(' ')[0]!, l.split(' ').slice(1).map(Number)]));
    for (const f of files) {
      // A /proc/sys entry the kernel lacks (no conntrack in the container's netns, no sysrq
      // in this kernel) is not bound.
      if (f.startsWith('/proc/sys/') && !existsSync(f)) continue;
      if (f.startsWith('/proc/sys/net/')) continue;
      const n = seen.get(f);
      assert.ok(n, `${f} is in the container`);
      const [viaCat, viaRead, viaDd] = n;
      assert.ok(viaRead! > 0, `${f}: read(2) gives content`);
      // uptime, stat and loadavg may change length between reads by a digit or so.
      assert.ok(Math.abs(viaCat! - viaRead!) <= 4 && Math.abs(viaDd! - viaRead!) <= 4, `${f}: cat ${viaCat}, read ${viaRead}, dd ${viaDd} bytes`);
    }
    // Each is served by vnodefs, not the kernel's own file.
    const fsTypes = await sh(a.containerId, `for f in ${files.filter((f) => !f.startsWith('/proc/sys/net')).join(' ')}; do stat -f -c %t $f; done | sort -u`);
    assert.equal(fsTypes.trim(), FUSE_MAGIC);
  });

  test('256 MiB and half a CPU: MemTotal 262144 kB; cpuinfo, stat and cpu/online show one CPU', { timeout: 60_000 }, async () => {
    const id = a.containerId;
    assert.match(await sh(id, 'cat /proc/meminfo'), /^MemTotal:\s+262144 kB$/m);
    assert.match(await sh(id, 'grep MemTotal /proc/meminfo'), /^MemTotal:\s+262144 kB$/m);
    const memFree = Number(/^MemFree:\s+(\d+) kB$/m.exec(await sh(id, 'cat /proc/meminfo'))![1]);
    assert.ok(memFree > 0 && memFree <= 262144, `MemFree ${memFree} kB within the limit`);
    assert.equal((await sh(id, 'grep -c ^processor /proc/cpuinfo')).trim(), '1');
    assert.equal((await sh(id, "grep -c '^cpu[0-9]' /proc/stat")).trim(), '1');
    assert.match(await sh(id, 'cat /proc/stat'), /^cpu {2}\d+ \d+ \d+ \d+/m);
    assert.match(await sh(id, 'cat /sys/devices/system/cpu/online'), /^\d+\n$/);
    assert.match(await sh(id, 'cat /proc/loadavg'), /^\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+\/\d+ \d+\n$/);
  });

  test('uptime starts near 0 for a new pod and counts up', { timeout: 60_000 }, async () => {
    const [up1, idle1] = (await sh(a.containerId, 'cat /proc/uptime')).trim().split(' ').map(Number);
    const sinceAsked = (Date.now() - a.askedAt) / 1000;
    assert.ok(up1! >= 0 && up1! <= sinceAsked + 0.5, `uptime ${up1} s, pod asked for ${sinceAsked.toFixed(2)} s ago`);
    assert.ok(hostUptime() > up1! + 5 || hostUptime() < 60, 'not the host uptime');
    assert.ok(idle1! <= up1! + 0.01, `idle ${idle1} s of one CPU is at most the uptime`);
    await new Promise((r) => setTimeout(r, 1100));
    const up2 = Number((await sh(a.containerId, 'cat /proc/uptime')).split(' ')[0]);
    assert.ok(up2 >= up1! + 1 && up2 <= up1! + 5, `uptime counts up: ${up1} then ${up2}`);
    // A pod started now starts near 0 again, whatever the vNode's age.
    const askedAt = Date.now();
    const p2 = await bed.runPod({ name: 'a-late', namespace: 'vfs-a', handler: 'vnode' }, { name: 'main', command: ['sleep', '3600'], ...LIMITS });
    const up3 = Number((await sh(p2.containerId, 'cat /proc/uptime')).split(' ')[0]);
    assert.ok(up3 <= (Date.now() - askedAt) / 1000 + 0.5 && up3 < up2, `second pod's uptime ${up3} s`);
    // Its /proc/sys binds were made while runc created it: the launcher ran its start without
    // the manager (docs/pods.md, step 4), and the mark goes with the container.
    const mark = join(vb!.manager.runDir, 'start-ready', p2.containerId);
    assert.ok(existsSync(mark), 'its start was marked ready');
    await bed.cri.stopPodSandbox(p2.podId);
    await bed.cri.removePodSandbox(p2.podId);
    assert.ok(!existsSync(mark), 'the mark is gone with the container');
  });

  test('a /proc/sys write is seen in its vNode only (same namespace yes, other namespace no), never on the host', { timeout: 90_000 }, async () => {
    const hostPidMax = readFileSync('/proc/sys/kernel/pid_max', 'utf8');
    const hostOvercommit = readFileSync('/proc/sys/vm/overcommit_memory', 'utf8');
    const pidMax = hostPidMax.trim() === '65536' ? '65537' : '65536';
    const overcommit = hostOvercommit.trim() === '1' ? '2' : '1';
    const a2 = await bed.runPod({ name: 'a2', namespace: 'vfs-a', handler: 'vnode' }, { name: 'main', command: ['sleep', '3600'] });
    const b = await bed.runPod({ name: 'b', namespace: 'vfs-b', handler: 'vnode' }, { name: 'main', command: ['sleep', '3600'] });
    try {
      await sh(a.containerId, `echo ${pidMax} > /proc/sys/kernel/pid_max && echo ${overcommit} > /proc/sys/vm/overcommit_memory`);
      const read = (id: string): Promise<string> => sh(id, 'cat /proc/sys/kernel/pid_max /proc/sys/vm/overcommit_memory');
      assert.equal(await read(a.containerId), `${pidMax}\n${overcommit}\n`, 'the writer reads its values');
      assert.equal(await read(a2.containerId), `${pidMax}\n${overcommit}\n`, 'another pod of the same namespace = the same vNode');
      assert.equal(await read(b.containerId), `${hostPidMax}${hostOvercommit}`, 'a pod of another namespace = another vNode');
      assert.equal(readFileSync('/proc/sys/kernel/pid_max', 'utf8'), hostPidMax, 'the host pid_max is untouched');
      assert.equal(readFileSync('/proc/sys/vm/overcommit_memory', 'utf8'), hostOvercommit, 'the host overcommit_memory is untouched');
      // The files are vnodefs' in every container (not the kernel's per-namespace ones).
      for (const id of [a.containerId, a2.containerId, b.containerId]) {
        assert.equal((await sh(id, 'stat -f -c %t /proc/sys/kernel/pid_max /proc/sys/vm/overcommit_memory | sort -u')).trim(), FUSE_MAGIC);
      }
      // Another vNode's writes (here a refused one: O_TRUNC then EINVAL) change nothing here, and
      // leave the file readable by sendfile (a truncating open once hid it from busybox cat).
      await sh(b.containerId, 'echo 3 > /proc/sys/vm/overcommit_memory || true');
      assert.equal(await read(a.containerId), `${pidMax}\n${overcommit}\n`);
      assert.equal(await read(b.containerId), `${hostPidMax}${hostOvercommit}`);
    } finally {
      for (const p of [a2, b]) {
        await bed.cri.stopPodSandbox(p.podId);
        await bed.cri.removePodSandbox(p.podId);
      }
    }
  });

  test('free shows the 256 MiB limit', { timeout: 30_000 }, async () => {
    // busybox free asks sysinfo(2), which no file answers: the seccomp agent does.
    const total = Number((await sh(a.containerId, 'free')).split('\n')[1]!.trim().split(/\s+/)[1]);
    assert.equal(total, 262144);
  });

  test('nproc shows one CPU', { timeout: 30_000 }, async () => {
    // nproc asks sched_getaffinity(2), which no file answers: the seccomp agent does.
    assert.equal((await sh(a.containerId, 'nproc')).trim(), '1');
  });

  test('host identity in an unprivileged pod: /sys/firmware empty, DMI only where the host has it and then the vNode\'s, boot_id the pod\'s own', { timeout: 60_000 }, async () => {
    const id = a.containerId;
    assert.equal(await sh(id, 'ls -A /sys/firmware'), '', 'no host firmware tables');
    assert.ok(existsSync('/sys/firmware/acpi'), 'the host has ACPI tables here, so something was hidden');
    const hostDmi = existsSync('/sys/devices/virtual/dmi/id');
    if (!hostDmi) {
      // This machine has no DMI: the pod has none either (and started, though its DMI binding
      // had nowhere to go).
      assert.equal(await sh(id, '[ -e /sys/class/dmi ] && echo present || echo absent'), 'absent\n');
    } else {
      assert.equal(await sh(id, 'cat /sys/class/dmi/id/sys_vendor /sys/class/dmi/id/product_name'), 'vNode\nvNode\n');
      assert.equal(await sh(id, 'cat /sys/class/dmi/id/product_uuid'), `${productUuid(vnodeName('ns:vfs-a'))}\n`);
      assert.equal((await sh(id, 'ls /sys/devices/virtual/dmi/id | grep -c serial')).trim(), '3');
    }
    const hostBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8');
    const bootId = await sh(id, 'cat /proc/sys/kernel/random/boot_id');
    assert.match(bootId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$/);
    assert.notEqual(bootId, hostBootId, "not the host's boot id");
    assert.equal(await sh(id, 'cat /proc/sys/kernel/random/boot_id'), bootId, 'stable for the pod');
    assert.equal((await sh(id, 'stat -f -c %t /proc/sys/kernel/random/boot_id')).trim(), FUSE_MAGIC);
  });

  test('host identity in a privileged pod: its /sys, a hostPath of /sys and /proc, and a sysfs or procfs it mounts all hide the host', { timeout: 90_000 }, async () => {
    const p = await bed.runPod(
      { name: 'priv', namespace: 'vfs-a', handler: 'vnode', privileged: true },
      {
        name: 'main',
        command: ['sleep', '3600'],
        privileged: true,
        mounts: [
          { containerPath: '/host/sys', hostPath: '/sys', readonly: true },
          { containerPath: '/host/proc', hostPath: '/proc', readonly: true },
        ],
      },
    );
    try {
      const id = p.containerId;
      // No CRI mask in a privileged container: vnodefs' empty directory is what hides it.
      for (const dir of ['/sys/firmware', '/host/sys/firmware']) {
        assert.equal(await sh(id, `ls -A ${dir}`), '', `${dir} is empty`);
        assert.equal((await sh(id, `stat -f -c %t ${dir}`)).trim(), FUSE_MAGIC, `${dir} is vnodefs'`);
      }
      assert.equal((await sh(id, 'stat -f -c %t /host/sys/devices/system/cpu/online')).trim(), FUSE_MAGIC);
      const bootId = await sh(id, 'cat /proc/sys/kernel/random/boot_id');
      assert.equal(await sh(id, 'cat /host/proc/sys/kernel/random/boot_id'), bootId, 'the hostPath /proc shows the pod\'s boot id');
      assert.notEqual(bootId, await sh(a.containerId, 'cat /proc/sys/kernel/random/boot_id'), 'another pod of the same vNode booted at another time');
      if (!existsSync('/sys/devices/virtual/dmi/id')) assert.equal(await sh(id, '[ -e /host/sys/class/dmi ] && echo present || echo absent'), 'absent\n');
      // A sysfs, procfs or bind of /sys the pod makes itself gets the same (the seccomp mount handler).
      const own = await sh(
        id,
        [
          'set -e',
          'mkdir -p /tmp/s /tmp/p /tmp/b',
          'mount -t sysfs sysfs /tmp/s && echo "sysfs [$(ls -A /tmp/s/firmware)] $(stat -f -c %t /tmp/s/firmware)"',
          'mount -t proc proc /tmp/p && echo "proc $(cat /tmp/p/sys/kernel/random/boot_id)"',
          'mount --bind /sys /tmp/b && echo "bind [$(ls -A /tmp/b/firmware)]"',
          // lazily: the emulated files on top keep them busy, and go with them
          'umount -l /tmp/b /tmp/p /tmp/s',
        ].join('\n'),
      );
      assert.match(own, new RegExp(`^sysfs \\[\\] ${FUSE_MAGIC}$`, 'm'));
      assert.match(own, new RegExp(`^proc ${bootId.trim()}$`, 'm'));
      assert.match(own, /^bind \[\]$/m);
      // The empty directory cannot be unmounted to uncover the host's (EPERM, also lazily).
      for (const cmd of ['umount /sys/firmware', 'umount -l /sys/firmware', 'umount /host/sys/firmware']) {
        const r = await bed.cri.execSync(id, ['sh', '-c', `${cmd}; ls -A /sys/firmware /host/sys/firmware`]);
        assert.match(r.stderr, /Operation not permitted|permission denied/i, `${cmd}: ${r.stderr}`);
        assert.equal(r.stdout.replace(/^\/[^\n]*:\n/gm, '').trim(), '', `${cmd} uncovered nothing: ${r.stdout}`);
      }
    } finally {
      await bed.cri.stopPodSandbox(p.podId);
      await bed.cri.removePodSandbox(p.podId);
    }
  });
});
