import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

import { CgroupReader, detectLayout } from './CgroupReader.js';
import { formatCpuList, parseCpuList } from './cpuList.js';
import { membershipKey, parseProcCgroup, type CgroupMembership } from './procCgroup.js';
import { readMountInfo } from '../common/mountinfo.js';
import { MiB, v1Fixture, v2Fixture, type Fixture } from './testing/testFixtures.js';

const v1m = (path: string): CgroupMembership => parseProcCgroup(
  `12:pids:${path}\n11:blkio:${path}\n4:memory:${path}\n3:cpuset:${path}\n2:cpuacct:${path}\n1:cpu:${path}\n9:name=systemd:/\n0::/\n`,
);
const v2m = (path: string): CgroupMembership => parseProcCgroup(`0::${path}\n`);

function withFixture(f: Fixture, fn: (r: CgroupReader) => void): void {
  try {
    fn(new CgroupReader({ root: f.root }));
  } finally {
    f.cleanup();
  }
}

test('parseProcCgroup splits v1 controllers, skips named hierarchies, keeps the v2 path', () => {
  const m = parseProcCgroup('4:memory:/a/b\n2:cpu,cpuacct:/a\n9:name=systemd:/x\n0::/u\n');
  assert.equal(m.v1.get('memory'), '/a/b');
  assert.equal(m.v1.get('cpu'), '/a');
  assert.equal(m.v1.get('cpuacct'), '/a');
  assert.equal(m.v1.has('name=systemd'), false);
  assert.equal(m.v2, '/u');
  assert.equal(membershipKey(m), 'v1:/a/b');
  assert.equal(membershipKey(parseProcCgroup('0::/k/c\n')), 'v2:/k/c');
});

test('cpu lists parse and format the kernel way', () => {
  assert.deepEqual(parseCpuList('0-2,5,7-8\n'), [0, 1, 2, 5, 7, 8]);
  assert.equal(formatCpuList([0, 1, 2, 5, 7, 8]), '0-2,5,7-8');
  assert.deepEqual(parseCpuList(''), []);
  assert.throws(() => parseCpuList('3-1'), /bad CPU range/);
  assert.throws(() => parseCpuList('a'), /bad CPU list/);
});

test('detectLayout finds v1 mounts, a pure v2 root, and nothing in an empty dir', () => {
  const f1 = v1Fixture({ memory: null, cpu: null });
  const f2 = v2Fixture({ memory: null, cpu: null });
  try {
    const l1 = detectLayout(f1.root);
    assert.deepEqual([...l1.v1.keys()].sort(), ['blkio', 'cpu', 'cpuacct', 'cpuset', 'memory', 'pids']);
    assert.equal(l1.v2, null);
    const l2 = detectLayout(f2.root);
    assert.equal(l2.v1.size, 0);
    assert.equal(l2.v2, f2.root);
    assert.deepEqual(detectLayout('/nonexistent-vnodefs').v1.size, 0);
  } finally {
    f1.cleanup();
    f2.cleanup();
  }
});

for (const [name, make, m] of [
  ['v1', v1Fixture, v1m('/kubepods/pod1/c1')],
  ['v2', v2Fixture, v2m('/kubepods.slice/pod1/c1')],
] as const) {
  test(`${name}: memory limit is the smallest up the tree; usage and stat are read`, () => {
    withFixture(make({ memory: 256 * MiB, cpu: null }), (r) => {
      const mem = r.memory(m)!;
      assert.equal(mem.limitBytes, 256 * MiB);
      assert.equal(mem.usageBytes, 100 * MiB);
      assert.equal(mem.stat.file, 40 * MiB);
      assert.equal(mem.stat.anon, 60 * MiB);
      assert.equal(mem.stat.activeFile, 30 * MiB);
      assert.equal(mem.stat.shmem, 4 * MiB);
    });
  });

  test(`${name}: a container without its own limit gets the pod's (smallest ancestor)`, () => {
    withFixture(make({ memory: null, cpu: null }), (r) => assert.equal(r.memory(m)!.limitBytes, 512 * MiB));
  });

  test(`${name}: a limit above the pod's still yields the pod's`, () => {
    withFixture(make({ memory: 2048 * MiB, cpu: null }), (r) => assert.equal(r.memory(m)!.limitBytes, 512 * MiB));
  });

  test(`${name}: swap allowance and usage`, () => {
    withFixture(make({ memory: 256 * MiB, swap: 64 * MiB, cpu: null }), (r) => {
      const mem = r.memory(m)!;
      assert.equal(mem.swapLimitBytes, 64 * MiB);
      assert.equal(mem.swapUsageBytes, 10 * MiB);
      assert.equal(r.memory(m, false)!.swapLimitBytes, null);
    });
  });

  test(`${name}: CPU quota, cpuset and usage`, () => {
    withFixture(make({ memory: null, cpu: { quota: 150000, period: 100000 }, cpuset: '1-3' }), (r) => {
      const cpu = r.cpu(m)!;
      assert.deepEqual(cpu.quota, { quotaUs: 150000, periodUs: 100000 });
      assert.deepEqual(cpu.cpuset, [1, 2, 3]);
      assert.equal(cpu.usage!.totalUs, 30e6);
      assert.equal(cpu.usage!.userUs, 20e6);
      assert.equal(cpu.usage!.systemUs, 10e6);
    });
  });

  test(`${name}: no CPU limit means quota null`, () => {
    withFixture(make({ memory: null, cpu: null }), (r) => assert.equal(r.cpu(m)!.quota, null));
  });

  test(`${name}: io counters per device`, () => {
    withFixture(make({ memory: null, cpu: null }), (r) => {
      assert.deepEqual(r.io(m)!.devices.get('8:0'), { readIos: 10, writeIos: 20, readBytes: 51200, writeBytes: 153600 });
    });
  });

  test(`${name}: threads of the container and its sub-cgroups`, () => {
    withFixture(make({ memory: null, cpu: null }), (r) => assert.equal(r.threads(m).length, 3));
  });

  test(`${name}: a missing memory controller gives memory null, the rest still works`, () => {
    withFixture(make({ memory: 256 * MiB, cpu: { quota: 50000, period: 100000 } }, { omit: ['memory'] }), (r) => {
      assert.equal(r.memory(m), null);
      assert.deepEqual(r.cpu(m)!.quota, { quotaUs: 50000, periodUs: 100000 });
    });
  });

  test(`${name}: missing cpu and cpuset controllers give no quota and no cpuset`, () => {
    withFixture(make({ memory: null, cpu: { quota: 50000, period: 100000 } }, { omit: ['cpu', 'cpuset'] }), (r) => {
      const cpu = r.cpu(m);
      assert.equal(cpu?.quota ?? null, null);
      assert.equal(cpu?.cpuset ?? null, null);
    });
  });

  test(`${name}: a cgroup that does not exist reads as absent, not as an error`, () => {
    withFixture(make({ memory: 256 * MiB, cpu: null }), (r) => {
      const gone = name === 'v1' ? v1m('/kubepods/gone') : v2m('/kubepods.slice/gone');
      assert.equal(r.memory(gone), null);
      assert.equal(r.io(gone), null);
    });
  });
}

test('v1 with a limit cache re-reads after the TTL and the fd cache survives a rewritten file', async () => {
  const f = v1Fixture({ memory: 256 * MiB, cpu: null });
  try {
    const r = new CgroupReader({ root: f.root, limitTtlMs: 50, openFiles: 8 });
    const m = v1m(f.path);
    assert.equal(r.memory(m)!.limitBytes, 256 * MiB);
    writeFileSync(`${f.root}/memory${f.path}/memory.limit_in_bytes`, `${128 * MiB}\n`);
    writeFileSync(`${f.root}/memory${f.path}/memory.usage_in_bytes`, `${7 * MiB}\n`);
    assert.equal(r.memory(m)!.usageBytes, 7 * MiB, 'usage is never cached');
    await new Promise((res) => setTimeout(res, 60));
    assert.equal(r.memory(m)!.limitBytes, 128 * MiB);
  } finally {
    f.cleanup();
  }
});

test('the live machine: the layout is what the kernel mounted, and this process\'s memory is what its cgroup files say', () => {
  const r = new CgroupReader();
  // From the kernel's side: /proc/cgroups names the controllers, mountinfo where each is mounted.
  const controllers = readFileSync('/proc/cgroups', 'utf8').split('\n').slice(1).filter(Boolean).map((l) => l.split('\t'));
  const cgroupMounts = readMountInfo().filter((m) => m.mountPoint.startsWith('/sys/fs/cgroup'));
  const v1 = new Map<string, string>();
  for (const [name, hierarchy, , enabled] of controllers) {
    const at = cgroupMounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes(name!));
    if (hierarchy !== '0' && enabled === '1' && at) v1.set(name!, at.mountPoint);
  }
  assert.deepEqual(new Map([...r.layout.v1].sort()), new Map([...v1].sort()));
  assert.equal(r.layout.v2, cgroupMounts.find((m) => m.fsType === 'cgroup2')?.mountPoint ?? null);
  assert.ok(r.layout.v1.has('memory') || r.layout.v2, 'this machine has a memory controller');

  const m = parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8'));
  const onV1 = r.layout.v1.has('memory');
  const dir = onV1 ? join(r.layout.v1.get('memory')!, m.v1.get('memory')!) : join(r.layout.v2!, m.v2!);
  const kernel = (f: string) => readFileSync(join(dir, f), 'utf8').trim();
  const usage = () => Number(kernel(onV1 ? 'memory.usage_in_bytes' : 'memory.current'));
  const low = usage();
  const mem = r.memory(m);
  const high = usage();
  assert.ok(mem, 'a memory reading for this process');
  assert.ok(mem.usageBytes > 0);
  // Usage moves between reads; it stays within what the kernel said just before and after, give or take 64 MiB.
  assert.ok(mem.usageBytes >= Math.min(low, high) - 64 * MiB && mem.usageBytes <= Math.max(low, high) + 64 * MiB, `${mem.usageBytes} vs ${low}..${high}`);
  // The limit is the smallest set one on the way up; "max" and v1's page-rounded 2^63 mean none.
  const limits: number[] = [];
  for (let d = dir; d.length >= (onV1 ? r.layout.v1.get('memory')! : r.layout.v2!).length; d = dirname(d)) {
    const file = join(d, onV1 ? 'memory.limit_in_bytes' : 'memory.max');
    // A v2 root has no memory.max: it cannot be limited.
    const text = existsSync(file) ? readFileSync(file, 'utf8').trim() : 'max';
    if (text !== 'max' && Number(text) < 2 ** 62) limits.push(Number(text));
  }
  assert.equal(mem.limitBytes, limits.length ? Math.min(...limits) : null);
});

test('memoryTtlMs reuses a group\'s memory figures for that long, then reads them again', async () => {
  const f = v1Fixture({ memory: 256 * MiB, cpu: null });
  try {
    const r = new CgroupReader({ root: f.root, memoryTtlMs: 40 });
    const m = v1m(f.path);
    const before = r.memory(m, false)!.usageBytes;
    writeFileSync(`${f.root}/memory${f.path}/memory.usage_in_bytes`, `${before + MiB}\n`);
    assert.equal(r.memory(m, false)!.usageBytes, before, 'within the TTL: the figures read before');
    assert.equal(new CgroupReader({ root: f.root }).memory(m, false)!.usageBytes, before + MiB, 'without a TTL: read every time');
    await new Promise((res) => setTimeout(res, 60));
    assert.equal(r.memory(m, false)!.usageBytes, before + MiB, 'after the TTL: read again');
  } finally {
    f.cleanup();
  }
});
