// The "Done when" behaviours inside a privileged vNode container run by the real runc 1.1.5 with
// the vNode profile and this agent (see testing/SeccompTestBed.ts): proc and sysfs mounts show
// the emulated files, tmpfs/bind/overlay work, emulated files cannot be unmounted or moved,
// mknod of the safe devices works and of a block device does not, reboot stops only the calling
// container, free/nproc show the container's limits, every runc exec's listener is tracked and
// released, and a flood from one vNode does not starve another.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { e2eSkipReason } from '../../e2e/lib/e2eGate.js';
import { processes } from '../../e2e/lib/hostState.js';
import { buildStatic, SeccompTestBed, type TestContainer } from './testing/SeccompTestBed.js';

const skip = e2eSkipReason(['/usr/sbin/runc', '/bin/busybox', '/dev/fuse']);
let bed: SeccompTestBed;
let c: TestContainer;
let tmp: string;
let loadBin: string;

const sh = async (cmd: string): Promise<{ out: string; code: number }> => {
  const r = await c.exec(['sh', '-c', cmd]);
  return { out: r.stdout + r.stderr, code: r.code };
};

function listenerFds(): number {
  return readdirSync('/proc/self/fd').filter((f) => {
    try {
      return readlinkSync(`/proc/self/fd/${f}`) === 'anon_inode:seccomp notify';
    } catch {
      return false;
    }
  }).length;
}

before(async () => {
  if (skip) return;
  tmp = mkdtempSync('/tmp/vnode-sec-e2e-');
  loadBin = join(tmp, 'notifyload');
  const b = await buildStatic(fileURLToPath(new URL('../../../agent/seccomp/fixtures/notifyload.c', import.meta.url)), loadBin);
  assert.equal(b.code, 0, b.stderr);
  bed = await SeccompTestBed.start({ agent: { workers: 1 } });
  c = await bed.container('main', { vnode: 'shared:sec-e2e-a', memoryBytes: 256 << 20, cpuQuotaUs: 50_000, files: { '/bin/notifyload': loadBin } });
});
after(async () => {
  if (bed) await bed.teardown();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('mount -t proc and -t sysfs come up with the emulated files', { skip, timeout: 60_000 }, async () => {
  let r = await sh('mkdir -p /tmp/p && mount -t proc proc /tmp/p && head -1 /tmp/p/meminfo && ls /tmp/p/1/ >/dev/null && grep " /tmp/p/meminfo " /proc/self/mountinfo');
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^MemTotal:\s+262144 kB/, 'the new /proc shows the container limit, not the host');
  assert.match(r.out, /fuse\.vnodefs/);
  r = await sh('mkdir -p /tmp/s && mount -t sysfs sysfs /tmp/s && cat /tmp/s/devices/system/cpu/online && ls /tmp/s/class/net');
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^0\n/, 'half a CPU shows one CPU');
  assert.match(r.out, /\blo\b/, "sysfs shows the container's own network namespace");
  // A bind of /proc (not recursive) still shows the emulated files.
  r = await sh('mkdir -p /tmp/pb && mount --bind /proc /tmp/pb && head -1 /tmp/pb/meminfo');
  assert.match(r.out, /^MemTotal:\s+262144 kB/, r.out);
  // The fd mount API is not available to build a mount the manager never sees.
  r = await sh('umount /tmp/p /tmp/s /tmp/pb; echo done');
  assert.match(r.out, /done/);
});

test('tmpfs, bind and overlay mounts work; a bind of the caller\'s own netns file names its netns', { skip, timeout: 60_000 }, async () => {
  const r = await sh(
    [
      'set -e',
      'mkdir -p /tmp/t /tmp/b /tmp/l /tmp/u /tmp/w /tmp/m',
      'mount -t tmpfs -o size=1m tmpfs /tmp/t && echo x > /tmp/t/f && cat /tmp/t/f',
      'mount --bind /etc /tmp/b && cat /tmp/b/passwd | head -1',
      'echo lower > /tmp/l/f',
      'mount -t overlay overlay -o lowerdir=/tmp/l,upperdir=/tmp/u,workdir=/tmp/w /tmp/m && cat /tmp/m/f && echo upper > /tmp/m/g && ls /tmp/u',
      'touch /root/netns && mount --bind /proc/self/ns/net /root/netns',
      'echo ino $(stat -L -c %i /root/netns) $(stat -L -c %i /proc/self/ns/net)',
      'umount /tmp/m /tmp/b /tmp/t /root/netns',
    ].join('\n'),
  );
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^x$/m);
  assert.match(r.out, /^root:x:0:0/m);
  assert.match(r.out, /^lower$/m);
  assert.match(r.out, /^g$/m, 'the overlay wrote its upper dir');
  const m = /ino (\d+) (\d+)/.exec(r.out);
  assert.ok(m && m[1] === m[2], `bound netns is the caller's: ${r.out}`);
  assert.notEqual(Number(m![1]), statSync('/proc/self/ns/net').ino, 'not the host netns');
});

test('emulated files cannot be unmounted or moved away to reveal the real ones', { skip, timeout: 60_000 }, async () => {
  for (const cmd of ['umount /proc/meminfo', 'umount -l /proc/meminfo', 'umount /sys/devices/system/cpu/online', 'mkdir -p /tmp/mv; mount --move /proc/meminfo /tmp/mv']) {
    const r = await sh(`${cmd}; echo rc=$?`);
    assert.match(r.out, /rc=(1|255)/, `${cmd}: ${r.out}`);
    assert.match(r.out, /Operation not permitted|permission denied/i, `${cmd}: ${r.out}`);
  }
  const r = await sh('head -1 /proc/meminfo; cat /sys/devices/system/cpu/online');
  assert.match(r.out, /^MemTotal:\s+262144 kB\n0\n$/);
});

test('mknod: the safe character devices work, block and other devices are refused', { skip, timeout: 60_000 }, async () => {
  const r = await sh(
    [
      'mkdir -p /root/dev && cd /root/dev',
      'mknod null c 1 3 && echo hi > null && echo null-ok',
      'mknod zero c 1 5 && head -c 7 zero | wc -c',
      'mknod -m 600 urandom c 1 9 && head -c 8 urandom | wc -c',
      'ls -l null | cut -c1',
      'mknod sda b 8 0; echo block=$?',
      'mknod mem c 1 1; echo mem=$?',
      'mknod fifo p && ls -l fifo | cut -c1',
      'mknod null c 1 3; echo again=$?',
    ].join('\n'),
  );
  assert.match(r.out, /^null-ok$/m, r.out);
  assert.match(r.out, /^7$/m);
  assert.match(r.out, /^8$/m);
  assert.match(r.out, /^c$/m, 'a character device node');
  assert.match(r.out, /block=1/);
  assert.match(r.out, /mem=1/);
  assert.match(r.out, /^p$/m, 'FIFOs are the kernel\'s business');
  assert.match(r.out, /again=1/, 'EEXIST like mknod');
});

test('mknod makes real nodes: usable in sticky /tmp, owned by the vNode\'s root, removable; a pod-mounted tmpfs gets the bind', { skip, timeout: 60_000 }, async () => {
  // Each of the six: a node (no mount), root-owned with the umask applied, written and read in a
  // sticky world-writable directory like /tmp (where a bound host device is EACCES for O_CREAT
  // opens: the kernel's may_create_in_sticky), and removed with rm (a bound one is EBUSY).
  const r = await sh(
    [
      'mkdir -m 1777 /tmp/mk && cd /tmp/mk',
      'for d in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do',
      '  set -- $d; mknod $1 c $2 $3 || echo "mknod $1 failed"',
      '  grep -q " /tmp/mk/$1 " /proc/self/mountinfo && echo "$1 is a mount"',
      '  echo "$1 $(stat -c "%F %t:%T %U:%G %a" $1)"',
      'done',
      'echo x > null && echo wrote-null; head -c 4 null | wc -c',
      'head -c 5 zero | wc -c; echo x > full; echo full=$?',
      'head -c 6 urandom | wc -c; echo x > random && echo wrote-random',
      'rm null zero full random urandom tty && echo removed; ls | wc -l',
      'umask 077 && mknod -m 0640 m c 1 3 && stat -c "%a" m && rm m',
    ].join('\n'),
  );
  assert.doesNotMatch(r.out, /failed|is a mount/, r.out);
  for (const [n, dev] of [['null', '1:3'], ['zero', '1:5'], ['full', '1:7'], ['random', '1:8'], ['urandom', '1:9'], ['tty', '5:0']])
    assert.match(r.out, new RegExp(`^${n} character special file ${dev} root:root 644$`, 'm'), r.out);
  assert.match(r.out, /^wrote-null\n0$/m, r.out);
  assert.match(r.out, /^5$/m);
  assert.match(r.out, /full=1/, 'ENOSPC, as /dev/full answers');
  assert.match(r.out, /^6$/m);
  assert.match(r.out, /^wrote-random$/m);
  assert.match(r.out, /^removed\n0$/m, 'rm works and nothing is left');
  assert.match(r.out, /^640$/m, 'an explicit mode is kept (mknod -m sets it after the umask)');
  assert.deepEqual(readdirSync(join(c.bundle, 'rootfs', 'tmp', 'mk')), [], 'nothing left in the rootfs');

  // A tmpfs mounted inside the pod belongs to its user namespace: no node there could be opened
  // (SB_I_NODEV), so the host's device is bound on an empty file, as before.
  const t = await sh(
    [
      'mkdir -p /root/t && mount -t tmpfs -o mode=755 none /root/t',
      'mknod /root/t/null c 1 3 && echo x > /root/t/null && echo bound-ok',
      'grep -c " /root/t/null " /proc/self/mountinfo',
      'rm /root/t/null; echo rm=$?',
      'umount /root/t/null && rm /root/t/null && echo removed-after-umount',
      // an overlay the pod mounts is its user namespace's too
      'mkdir -p /root/t/l /root/t/u /root/t/w /root/o && mount -t overlay overlay -o lowerdir=/root/t/l,upperdir=/root/t/u,workdir=/root/t/w /root/o',
      'mknod /root/o/zero c 1 5 && head -c 2 /root/o/zero | wc -c && grep -c " /root/o/zero " /proc/self/mountinfo',
      'umount /root/o/zero; umount /root/o; umount /root/t',
    ].join('\n'),
  );
  assert.match(t.out, /^bound-ok\n1$/m, t.out);
  assert.match(t.out, /rm=1/, 'a bound device is a mount point: EBUSY until unmounted');
  assert.match(t.out, /^removed-after-umount\n2\n1$/m, t.out);
});

test('free shows 256 MiB and nproc 1 in a container limited to 256 MiB and half a CPU', { skip, timeout: 60_000 }, async () => {
  const r = await sh('free; nproc; uptime');
  const mem = /^Mem:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(r.out);
  assert.ok(mem, r.out);
  assert.equal(Number(mem[1]), 262144, 'total in KiB from sysinfo(2)');
  assert.ok(Number(mem[2]) + Number(mem[3]) <= 262144);
  assert.match(r.out, /^1$/m, 'nproc counts sched_getaffinity(2)');
  assert.match(r.out, /up\s+(0 min|\d+ sec|0:0\d)/, `uptime is the container's: ${r.out}`);
  const s = await sh('swapoff /dev/nonexistent; echo off=$?; swapon /tmp; echo on=$?');
  assert.match(s.out, /off=0/);
  assert.match(s.out, /on=(1|255)/);
});

test('every runc exec hands over a listener that is tracked and released', { skip, timeout: 60_000 }, async () => {
  const mine = (): number => bed.agent.connections().filter((x) => x.containerId === c.id).length;
  // Listeners of earlier execs are released once their process is gone (a moment after exec returns).
  for (let i = 0; i < 100 && mine() > 1; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(mine(), 1, 'the init listener');
  const fdsBefore = listenerFds();
  let attached = 0;
  let released = 0;
  const onA = (): void => void attached++;
  const onR = (): void => void released++;
  bed.agent.on('attached', onA).on('released', onR);
  try {
    for (let i = 0; i < 10; i++) assert.equal((await c.exec(['true'])).code, 0);
    const during = c.exec(['sleep', '2']);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(bed.agent.connections().filter((x) => x.containerId === c.id).length, 2, 'a running exec has its own listener');
    await during;
    for (let i = 0; i < 50 && released < 11; i++) await new Promise((r) => setTimeout(r, 50));
  } finally {
    bed.agent.off('attached', onA).off('released', onR);
  }
  assert.equal(attached, 11);
  assert.equal(released, 11);
  assert.equal(bed.agent.connections().filter((x) => x.containerId === c.id).length, 1);
  assert.equal(listenerFds(), fdsBefore, 'no listener fd left open');
});

test('a listener runc cannot hand over fails the create and the exec, and leaves no process of them', { skip, timeout: 90_000 }, async () => {
  // No container process may run with a listener nobody serves: runc hands it over before the
  // process goes on, and a hand-over that fails fails the call.
  await assert.rejects(bed.container('nohandover', { vnode: 'shared:sec-e2e-a', listenerPath: join(tmp, 'nobody.sock') }), /seccomp agent/);
  // A listener path that leads to the agent while the container is created and nowhere after.
  const link = join(tmp, 'agent-link.sock');
  symlinkSync(bed.agent.socketPath, link);
  const c2 = await bed.container('handover', { vnode: 'shared:sec-e2e-a', listenerPath: link });
  const running = (): number[] => processes().filter((p) => p.cmdline === 'sleep 987').map((p) => p.pid);
  try {
    rmSync(link);
    const t0 = Date.now();
    const r = await c2.exec(['sleep', '987'], 30_000);
    assert.notEqual(r.code, 0, 'the exec fails');
    assert.match(r.stderr, /seccomp agent/);
    assert.ok(Date.now() - t0 < 15_000, `the exec failed at once, not when its process would have ended (${Date.now() - t0} ms)`);
    assert.deepEqual(running(), [], 'no process of the failed exec is left');
    assert.equal((await c2.state())?.status, 'running', 'the container itself is untouched');
  } finally {
    for (const pid of running()) process.kill(pid, 'SIGKILL');
    await bed.remove(c2);
  }
});

test('a flood of notifications from one vNode does not starve another', { skip, timeout: 120_000 }, async () => {
  const quiet = await bed.container('quiet', { vnode: 'shared:sec-e2e-b', files: { '/bin/notifyload': loadBin } });
  const noisy = await bed.container('noisy', { vnode: 'shared:sec-e2e-c', files: { '/bin/notifyload': loadBin } });
  try {
    // Both vNodes are served by the agent's single worker (workers: 1).
    const workers = new Set(bed.agent.connections().filter((x) => x.vnodeId !== 'shared:sec-e2e-a').map((x) => x.worker));
    assert.equal(workers.size, 1);
    const num = (out: string, k: string): number => Number(new RegExp(`${k}=(\\d+)`).exec(out)?.[1]);
    const alone = (await quiet.exec(['/bin/notifyload', 'probe', '40'])).stdout;
    const flood = noisy.exec(['/bin/notifyload', 'flood', '64', '6'], 60_000);
    await new Promise((r) => setTimeout(r, 1000));
    const during = (await quiet.exec(['/bin/notifyload', 'probe', '40'])).stdout;
    const f = await flood;
    assert.equal(f.code, 0, f.stdout + f.stderr);
    const calls = num(f.stdout, 'calls');
    assert.ok(calls > 1000, `the flood made progress: ${f.stdout}`);
    const slowAlone = num(alone, 'slow_median_ns');
    const slowDuring = num(during, 'slow_median_ns');
    const fastDuring = num(during, 'fast_median_ns');
    // With first-come service the quiet vNode's slow call would queue behind up to 64 of the
    // flood's helper runs (~1 ms each); taking turns bounds it to a few.
    assert.ok(slowDuring < 20 * Math.max(slowAlone, 1e6), `slow path alone ${slowAlone} ns, under flood ${slowDuring} ns`);
    assert.ok(fastDuring < 5e6, `fast path under flood ${fastDuring} ns`);
    const stats = await bed.agent.stats();
    assert.equal(stats.reduce((a, s) => a + s.internalErrors, 0), 0);
    console.log(`# flood: ${calls} calls; quiet vNode slow call median ${(slowAlone / 1e3).toFixed(0)} us alone, ${(slowDuring / 1e3).toFixed(0)} us under flood; fast ${(fastDuring / 1e3).toFixed(0)} us`);
  } finally {
    await bed.remove(quiet);
    await bed.remove(noisy);
  }
});

test('reboot stops only the calling container: its vNode sibling, another vNode and the host are untouched', { skip, timeout: 120_000 }, async () => {
  const victim = await bed.container('victim', { vnode: 'shared:sec-e2e-a' });
  const sibling = await bed.container('sibling', { vnode: 'shared:sec-e2e-a' });
  const other = await bed.container('other', { vnode: 'shared:sec-e2e-d' });
  try {
    const holder = victim.vnode.holder!.pid;
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8');
    await victim.exec(['sh', '-c', 'reboot -f -n; echo after=$?'], 20_000);
    for (let i = 0; i < 100; i++) {
      if ((await victim.state())?.status === 'stopped') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await victim.state())?.status, 'stopped', 'the rebooting container stopped');
    assert.equal((await sibling.state())?.status, 'running');
    assert.equal((await other.state())?.status, 'running');
    assert.equal((await c.state())?.status, 'running');
    assert.equal((await sibling.exec(['true'])).code, 0);
    process.kill(holder, 0); // the vNode holder lives
    assert.equal(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'), bootId, 'the host did not reboot');
    // poweroff too; ctrl-alt-del toggles are accepted and change nothing.
    await sibling.exec(['sh', '-c', 'poweroff -f -n; echo still']);
    for (let i = 0; i < 100 && (await sibling.state())?.status !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await sibling.state())?.status, 'stopped');
    assert.equal((await other.state())?.status, 'running');
  } finally {
    for (const x of [victim, sibling, other]) await bed.remove(x);
  }
});
