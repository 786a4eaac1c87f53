// vnodefs on the real kernel: mounted through the addon, read by processes placed in a cgroup v1
// group limited to 256 MiB and half a CPU, with the FUSE files bind-mounted over their /proc and
// /sys paths in a private mount namespace (what runc does for a container).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { productUuid } from './render/renderIdentity.js';
import { VnodeFs } from './VnodeFs.js';
import { installed, ROOT, skipUnless } from '../../e2e/lib/e2eGate.js';

const CG = '/sys/fs/cgroup';
const skip = skipUnless(ROOT, installed('/dev/fuse'), installed(`${CG}/memory/cgroup.procs`, 'a host with cgroup v1 controllers'));

const name = `vnodefs-e2e-${process.pid}`;
const groups: string[] = [];
let mnt = '';
let fs: VnodeFs | null = null;

/** A cgroup v1 group under every controller we use; returns its path (the same in each). */
function makeGroup(suffix: string, opts: { memory: number; quota: number; period: number; cpus: string }): string {
  const path = `/${name}-${suffix}`;
  for (const c of ['memory', 'cpu', 'cpuacct', 'cpuset']) {
    mkdirSync(`${CG}/${c}${path}`);
    groups.push(`${CG}/${c}${path}`);
  }
  writeFileSync(`${CG}/memory${path}/memory.limit_in_bytes`, String(opts.memory));
  writeFileSync(`${CG}/cpu${path}/cpu.cfs_period_us`, String(opts.period));
  writeFileSync(`${CG}/cpu${path}/cpu.cfs_quota_us`, String(opts.quota));
  writeFileSync(`${CG}/cpuset${path}/cpuset.mems`, readFileSync(`${CG}/cpuset/cpuset.mems`, 'utf8').trim());
  writeFileSync(`${CG}/cpuset${path}/cpuset.cpus`, opts.cpus);
  return path;
}

/**
 * Shell lines that move the shell into the group and bind vnodefs files over /proc and /sys, as
 * the spec rewrite does for a container: its own per-container files (containers/<id>/, the id
 * here the group's name unless another is given).
 */
function enter(path: string, container = path.slice(1)): string {
  const binds = ['proc/meminfo', 'proc/cpuinfo', 'proc/stat', 'proc/uptime', 'proc/loadavg', 'proc/swaps', 'proc/diskstats', 'sys/devices/system/cpu/online']
    .map((f) => `mount --bind -o ro ${mnt}/containers/${container}/${f} /${f}`)
    .join('\n');
  return `set -e\nfor c in memory cpu cpuacct cpuset; do echo $$ > ${CG}/$c${path}/cgroup.procs; done\n${binds}\n`;
}

function run(script: string): string {
  return execFileSync('unshare', ['-m', '--propagation', 'private', 'bash', '-c', script], { encoding: 'utf8', timeout: 20_000 });
}

before(async () => {
  if (skip) return;
  mnt = mkdtempSync(join(tmpdir(), 'vnodefs-e2e-mnt-'));
  fs = new VnodeFs({ mountpoint: mnt, loadIntervalMs: 200 });
  await fs.mount();
});

after(async () => {
  await fs?.unmount();
  if (mnt) rmSync(mnt, { recursive: true, force: true });
  for (const g of groups.reverse()) {
    try {
      rmdirSync(g);
    } catch {
      /* a process may still be exiting; retried below */
      await new Promise((r) => setTimeout(r, 200));
      if (existsSync(g)) rmdirSync(g);
    }
  }
});

test('256 MiB and half a CPU: MemTotal 262144 kB, free agrees, nproc 1, one CPU online, uptime near 0', { skip }, () => {
  const path = makeGroup('limits', { memory: 256 * 1024 * 1024, quota: 50000, period: 100000, cpus: '0' });
  fs!.setStartTime(path, Date.now());
  const out = run(`${enter(path)}
    echo "== meminfo"; cat /proc/meminfo
    echo "== free"; free -k
    echo "== nproc"; nproc
    echo "== getconf"; getconf _NPROCESSORS_ONLN
    echo "== online"; cat /sys/devices/system/cpu/online
    echo "== cpuinfo"; grep -c ^processor /proc/cpuinfo
    echo "== uptime"; cat /proc/uptime
    echo "== loadavg"; cat /proc/loadavg
    echo "== stat"; grep ^cpu /proc/stat
  `);
  const section = (k: string): string => out.split(`== ${k}\n`)[1]!.split('\n== ')[0]!;
  assert.match(section('meminfo'), /^MemTotal:\s+262144 kB$/m);
  const freeTotal = /^Mem:\s+(\d+)/m.exec(section('free'));
  assert.equal(freeTotal?.[1], '262144', `free -k says\n${section('free')}`);
  assert.equal(section('nproc').trim(), '1');
  assert.equal(section('getconf').trim(), '1');
  assert.equal(section('online').trim(), '0');
  assert.equal(section('cpuinfo').trim(), '1');
  const up = Number(section('uptime').split(' ')[0]);
  assert.ok(up >= 0 && up < 5, `uptime ${up}`);
  assert.match(section('loadavg'), /^\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+\/\d+ \d+$/m);
  assert.deepEqual(section('stat').match(/^cpu\d+/gm), ['cpu0']);
});

test('half a CPU on a two-CPU cpuset: sysconf and /sys show one CPU (sched_getaffinity is not a file)', { skip }, () => {
  const all = readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  const path = makeGroup('quota', { memory: 256 * 1024 * 1024, quota: 50000, period: 100000, cpus: all });
  const out = run(`${enter(path)} getconf _NPROCESSORS_ONLN; cat /sys/devices/system/cpu/online; grep -c ^processor /proc/cpuinfo`);
  assert.deepEqual(out.trim().split('\n'), ['1', all.split(/[-,]/)[0], '1']);
});

test('without a registered start, uptime counts from the group\'s creation', { skip }, async () => {
  const path = makeGroup('fresh', { memory: 64 * 1024 * 1024, quota: -1, period: 100000, cpus: '0' });
  await new Promise((r) => setTimeout(r, 1200));
  const up = Number(run(`${enter(path)} cat /proc/uptime`).split(' ')[0]);
  assert.ok(up >= 1 && up < 6, `uptime ${up}`);
  assert.match(run(`${enter(path)} cat /proc/meminfo`), /^MemTotal:\s+65536 kB$/m);
});

test('a /proc/sys write is seen in that user namespace only and never reaches the host', { skip }, async () => {
  const hostBefore = readFileSync('/proc/sys/kernel/pid_max', 'utf8');
  const dir = mkdtempSync(join(tmpdir(), 'vnodefs-e2e-sysctl-'));
  try {
    const bind = `mount --bind ${mnt}/proc/sys/kernel/pid_max /proc/sys/kernel/pid_max; mount --bind ${mnt}/proc/sys/vm/overcommit_memory /proc/sys/vm/overcommit_memory`;
    // vNode A: writes, reads back, then stays alive (its user namespace too) while B runs.
    const a = spawn('unshare', ['-m', '--propagation', 'private', 'bash', '-c', `${bind}
      exec unshare -U -r bash -c '
        readlink /proc/self/ns/user > ${dir}/a.ns
        echo 65536 > /proc/sys/kernel/pid_max && echo 1 > /proc/sys/vm/overcommit_memory
        cat /proc/sys/kernel/pid_max > ${dir}/a1
        while [ ! -e ${dir}/go ]; do sleep 0.05; done
        cat /proc/sys/kernel/pid_max /proc/sys/vm/overcommit_memory > ${dir}/a2'`], { stdio: 'inherit' });
    const aDone = new Promise<number | null>((r) => a.on('exit', r));
    for (let i = 0; i < 200 && !existsSync(join(dir, 'a1')); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(readFileSync(join(dir, 'a1'), 'utf8'), '65536\n');
    // vNode B: a second user namespace sees the host's value, and its write stays its own.
    const b = execFileSync('unshare', ['-m', '--propagation', 'private', 'bash', '-c', `${bind}
      exec unshare -U -r bash -c 'readlink /proc/self/ns/user; cat /proc/sys/kernel/pid_max /proc/sys/vm/overcommit_memory; echo 99999 > /proc/sys/kernel/pid_max; cat /proc/sys/kernel/pid_max'`], { encoding: 'utf8' });
    const [bNs, bBefore, bOvercommit, bAfter] = b.trim().split('\n');
    assert.equal(bBefore, hostBefore.trim());
    assert.equal(bOvercommit, readFileSync('/proc/sys/vm/overcommit_memory', 'utf8').trim());
    assert.equal(bAfter, '99999');
    writeFileSync(join(dir, 'go'), '');
    assert.equal(await aDone, 0);
    assert.equal(readFileSync(join(dir, 'a2'), 'utf8'), '65536\n1\n', "B's write did not reach A");
    assert.equal(readFileSync('/proc/sys/kernel/pid_max', 'utf8'), hostBefore, 'the host value is untouched');
    const aNs = readFileSync(join(dir, 'a.ns'), 'utf8').trim();
    assert.notEqual(aNs, bNs);
    const id = (ns: string): string => `userns:${/\[(\d+)\]/.exec(ns)![1]}`;
    assert.deepEqual(fs!.sysctlValues(id(aNs)), { 'kernel.pid_max': '65536', 'vm.overcommit_memory': '1' });
    assert.deepEqual(fs!.sysctlValues(id(bNs!)), { 'kernel.pid_max': '99999' });
    fs!.dropVnode(id(aNs));
    assert.deepEqual(fs!.sysctlValues(id(aNs)), {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('identity files through the kernel: a registered vNode reads its own DMI and boot_id, its root alone the UUID, the host gets EIO', { skip }, async () => {
  // This machine has no DMI, so the vnodefs directory is read where it is mounted, as processes
  // of a vNode owning host ids 300000-365535 and as the host.
  const name = 'vn-e2e-identity';
  fs!.registerVnode({ name, uidStart: 300000, size: 65536 });
  const dmi = join(mnt, 'sys/devices/virtual/dmi/id');
  try {
    const asUser = (uid: number, script: string): string =>
      execFileSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'sh', '-c', script], { encoding: 'utf8', timeout: 10_000 });
    // A user of the vNode (uid 1000 in it): world-readable attributes yes, product_uuid no.
    assert.equal(asUser(301000, `cat ${dmi}/sys_vendor ${dmi}/product_name`), 'vNode\nvNode\n');
    assert.match(asUser(301000, `cat ${dmi}/product_uuid 2>&1; echo rc=$?`), /Permission denied\nrc=1\n$/);
    assert.equal(asUser(301000, `ls ${dmi} | wc -l`).trim(), '21', 'the attributes, modalias and uevent');
    // Root of a user namespace whose 0 is the vNode's root (300000) reads it (util-linux's
    // `unshare -r` as uid 300000 maps exactly that).
    const out = asUser(300000, `unshare -U -r sh -c 'cat ${dmi}/product_uuid /proc/self/uid_map ${mnt}/proc/sys/kernel/random/boot_id'`);
    const [uuid, uidMap, bootId] = out.trim().split('\n');
    assert.match(uidMap!, /^\s*0\s+300000\s+1$/);
    assert.equal(uuid, productUuid(name));
    assert.match(bootId!, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notEqual(`${bootId}\n`, readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'));
    // The host (no registered vNode) gets an error, never values.
    assert.match(asUser(0, `cat ${dmi}/sys_vendor 2>&1; echo rc=$?`), /Input\/output error\nrc=1\n$/);
    // The empty directories list nothing through the kernel either.
    assert.equal(asUser(301000, `ls -A ${mnt}/sys/firmware ${mnt}/sys/hypervisor`), `${mnt}/sys/firmware:\n\n${mnt}/sys/hypervisor:\n`);
  } finally {
    fs!.forgetVnode(300000);
  }
  assert.match(execFileSync('setpriv', ['--reuid=301000', '--regid=301000', '--clear-groups', 'sh', '-c', `cat ${dmi}/sys_vendor 2>&1; echo rc=$?`], { encoding: 'utf8' }), /rc=1/, 'forgotten: no longer answered');
});

test('per-container files: reads come from the page cache, expire within the bound, and another cgroup still sees its own', { skip }, async () => {
  const path = makeGroup('cached', { memory: 256 * 1024 * 1024, quota: -1, period: 100000, cpus: '0' });
  const other = makeGroup('cached-other', { memory: 96 * 1024 * 1024, quota: -1, period: 100000, cpus: '0' });
  fs!.setStartTime(path, Date.now() - 10_000);
  // 300 open+read+close: the text comes from the page cache, so a READ only when the cached
  // pages expired (every 100 ms), where direct reads need two per read (the text, end of file).
  const reads = (): number => fs!.metrics.totals().read.requests;
  const before = reads();
  const out = run(`${enter(path)}
    for i in $(seq 300); do read -r first < /proc/meminfo; done; echo "$first"
    cat /proc/uptime; sleep 0.3; cat /proc/uptime`);
  const requests = reads() - before;
  const [first, up1, up2] = out.trim().split('\n');
  assert.match(first!, /^MemTotal:\s+262144 kB$/);
  assert.ok(requests < 60, `${requests} READ requests for 300 reads of meminfo and 2 of uptime (direct reads need 600)`);
  // Cached pages expire: the second uptime, 0.3 s later, is a new rendering.
  const d = Number(up2!.split(' ')[0]) - Number(up1!.split(' ')[0]);
  assert.ok(d >= 0.2 && d < 1.5, `uptime moved by ${d} s in 0.3 s (${up1} -> ${up2})`);
  // A limit change is seen after the freshness bounds (100 ms for the pages, 1 s for cached limits).
  writeFileSync(`${CG}/memory${path}/memory.limit_in_bytes`, String(128 * 1024 * 1024));
  await new Promise((r) => setTimeout(r, 1300));
  assert.match(run(`${enter(path)} head -1 /proc/meminfo`), /^MemTotal:\s+131072 kB$/m);
  // A process of another cgroup reading this container's file (as through /proc/<pid>/root) gets
  // its own figures, never the cached pages, while the container's process keeps reading them.
  const both = run(`${enter(other, path.slice(1))} head -1 /proc/meminfo; cat /proc/meminfo > /dev/null`) + run(`${enter(path)} head -1 /proc/meminfo`);
  assert.deepEqual(both.trim().split('\n').map((l) => l.replace(/\s+/g, ' ')), ['MemTotal: 98304 kB', 'MemTotal: 131072 kB']);
  // The container deleted: its pin leaves the shared table (the kernel may keep the inodes long).
  const pins = (): number => fs!.tableStats().entries.pin ?? 0;
  const had = pins();
  fs!.forgetContainer(path.slice(1));
  assert.equal(pins(), had - 1);
});

test('readers keep being answered while the main thread is blocked for 2 s', { skip }, async () => {
  const file = join(mnt, 'proc/meminfo');
  const reader = spawn(process.execPath, ['-e', `
    const fs = require('node:fs');
    const t0 = Date.now(); let n = 0, max = 0, inWindow = 0;
    process.stdout.write('ready\\n');
    while (Date.now() - t0 < 3000) {
      const s = process.hrtime.bigint();
      fs.readFileSync(${JSON.stringify(file)});
      const ms = Number(process.hrtime.bigint() - s) / 1e6;
      const at = Date.now() - t0;
      n++; if (ms > max) max = ms; if (at > 700 && at < 2300) inWindow++;
    }
    process.stdout.write(JSON.stringify({ n, max, inWindow }) + '\\n');`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  reader.stdout.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 200 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 300));
  // Block the event loop: nothing on the main thread runs for 2 s.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
  await new Promise((r) => reader.on('exit', r));
  const res = JSON.parse(out.trim().split('\n').pop()!) as { n: number; max: number; inWindow: number };
  assert.ok(res.inWindow > 200, `only ${res.inWindow} reads completed while the main thread was blocked`);
  assert.ok(res.max < 200, `slowest read took ${res.max} ms`);
});
