// Every renderer on fixture cgroup trees, v1 and v2: limited, unlimited, tiny, fractional CPU and
// a missing controller.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { CgroupReader } from '../../cgroup/CgroupReader.js';
import { parseProcCgroup } from '../../cgroup/procCgroup.js';
import { HOST_CPUINFO, HOST_DISKSTATS, HOST_LOADAVG, HOST_MEMINFO, HOST_STAT, MiB, v1Fixture, v2Fixture, type Limits } from '../../cgroup/testing/testFixtures.js';
import { decayLoad } from './loadAverage.js';
import { renderCpuinfo } from './renderCpuinfo.js';
import { renderCpuOnline, renderCpuPossible, renderCpuPresent } from './renderCpuLists.js';
import { renderDiskstats } from './renderDiskstats.js';
import { renderLoadavg } from './renderLoadavg.js';
import { renderMeminfo } from './renderMeminfo.js';
import { renderStat } from './renderStat.js';
import { renderSwaps } from './renderSwaps.js';
import { renderUptime } from './renderUptime.js';
import type { LoadSample, ViewInput } from './ViewInput.js';

/** The kernel's own /proc/swaps header line (mm/swapfile.c), read from this machine. */
const KERNEL_SWAPS_HEADER = `${readFileSync('/proc/swaps', 'utf8').split('\n')[0]}\n`;
import { visibleCpus } from './visibleCpus.js';

const NOW = 1_700_000_100_000;
const host = {
  meminfo: HOST_MEMINFO,
  cpuinfo: HOST_CPUINFO,
  stat: HOST_STAT,
  diskstats: HOST_DISKSTATS,
  loadavg: HOST_LOADAVG,
  onlineCpus: [0, 1, 2, 3],
  possibleCpus: [0, 1, 2, 3],
  presentCpus: [0, 1, 2, 3],
};

function view(version: 1 | 2, l: Limits, opts: { omit?: string[]; startedAgoMs?: number; load?: LoadSample | null } = {}): ViewInput {
  const f = version === 1 ? v1Fixture(l, opts) : v2Fixture(l, opts);
  try {
    const text = version === 1 ? ['memory', 'cpu', 'cpuacct', 'cpuset', 'blkio', 'pids'].map((c, i) => `${i + 1}:${c}:${f.path}`).join('\n') + '\n0::/\n' : `0::${f.path}\n`;
    const cg = new CgroupReader({ root: f.root }).snapshot(parseProcCgroup(text));
    return { cg, host, nowMs: NOW, startedAtMs: NOW - (opts.startedAgoMs ?? 2000), load: opts.load === undefined ? null : opts.load, vnode: null };
  } finally {
    f.cleanup();
  }
}

function kb(text: string, key: string): number {
  const m = new RegExp(`^${key.replace(/[()]/g, '\\$&')}:\\s+(\\d+) kB$`, 'm').exec(text);
  assert.ok(m, `${key} missing in\n${text}`);
  return Number(m[1]);
}

const LIMITED: Limits = { memory: 256 * MiB, cpu: { quota: 50000, period: 100000 } };
const UNLIMITED: Limits = { memory: null, cpu: null };
const TINY: Limits = { memory: 4 * MiB, cpu: { quota: 1000, period: 100000 }, cpuset: '2' };
const FRACTIONAL: Limits = { memory: 256 * MiB, cpu: { quota: 150000, period: 100000 } };

for (const v of [1, 2] as const) {
  test(`v${v} meminfo: 256 MiB limit shows MemTotal 262144 kB and the container's own usage`, () => {
    const out = renderMeminfo(view(v, LIMITED));
    assert.equal(kb(out, 'MemTotal'), 262144);
    assert.equal(kb(out, 'MemFree'), 262144 - 102400);
    assert.ok(kb(out, 'MemAvailable') >= kb(out, 'MemFree') && kb(out, 'MemAvailable') <= 262144);
    assert.equal(kb(out, 'Cached'), 40 * 1024);
    assert.equal(kb(out, 'Buffers'), 0);
    assert.equal(kb(out, 'Shmem'), 4 * 1024);
    assert.equal(kb(out, 'Active(file)'), 30 * 1024);
    assert.match(out, /^HugePages_Total:\s+0$/m, 'host-only lines pass through');
    assert.equal(out.split('\n').length, HOST_MEMINFO.split('\n').length, 'same lines, same order');
    assert.match(out, /^MemTotal:         262144 kB$/m, 'kernel column layout');
  });

  test(`v${v} meminfo: no container limit falls back to the pod's 512 MiB; no limit anywhere shows the host`, () => {
    assert.equal(kb(renderMeminfo(view(v, UNLIMITED)), 'MemTotal'), 524288);
  });

  test(`v${v} meminfo: a tiny limit below usage gives MemFree 0, never negative`, () => {
    const out = renderMeminfo(view(v, TINY));
    assert.equal(kb(out, 'MemTotal'), 4096);
    assert.equal(kb(out, 'MemFree'), 0);
    assert.ok(kb(out, 'Cached') <= 4096 && kb(out, 'Active') <= 4096);
  });

  test(`v${v} meminfo and swaps: swap allowance shows as SwapTotal and one virtual swap line`, () => {
    const vi = view(v, { ...LIMITED, swap: 64 * MiB });
    const out = renderMeminfo(vi);
    assert.equal(kb(out, 'SwapTotal'), 65536);
    assert.equal(kb(out, 'SwapFree'), 65536 - 10240);
    const swaps = renderSwaps(vi);
    assert.ok(swaps.startsWith(KERNEL_SWAPS_HEADER));
    assert.match(swaps, /^none\s+virtual\s+65536\s+10240\s+0$/m);
  });

  test(`v${v} swaps: no swap allowance shows only the header`, () => {
    assert.equal(renderSwaps(view(v, { ...LIMITED, swap: 0 })), KERNEL_SWAPS_HEADER);
  });

  test(`v${v} missing memory controller: meminfo and swaps are the host's`, () => {
    const vi = view(v, LIMITED, { omit: ['memory'] });
    assert.equal(renderMeminfo(vi), HOST_MEMINFO);
    assert.match(renderSwaps(vi), /^Filename/);
  });

  test(`v${v} half a CPU: one CPU online, one cpuinfo block, one cpu line in stat`, () => {
    const vi = view(v, LIMITED);
    assert.equal(renderCpuOnline(vi), '0\n');
    assert.equal(renderCpuPossible(vi), '0-3\n', 'possible keeps every CPU the cpuset allows');
    assert.equal(renderCpuPresent(vi), '0-3\n');
    assert.equal((renderCpuinfo(vi).match(/^processor/gm) ?? []).length, 1);
    const stat = renderStat(vi);
    assert.deepEqual(stat.match(/^cpu\d+/gm), ['cpu0']);
  });

  test(`v${v} fractional 1.5 CPUs rounds up to 2`, () => {
    const vi = view(v, FRACTIONAL);
    assert.equal(renderCpuOnline(vi), '0-1\n');
    assert.equal((renderCpuinfo(vi).match(/^processor/gm) ?? []).length, 2);
  });

  test(`v${v} tiny CPU quota on cpuset "2": CPU 2 is the one shown, with its real id`, () => {
    const vi = view(v, TINY);
    assert.equal(renderCpuOnline(vi), '2\n');
    assert.equal(renderCpuPossible(vi), '2\n');
    assert.match(renderCpuinfo(vi), /^processor\t: 2$/m);
  });

  test(`v${v} unlimited CPU shows the whole cpuset`, () => {
    const vi = view(v, UNLIMITED);
    assert.equal(renderCpuOnline(vi), '0-3\n');
    assert.equal((renderCpuinfo(vi).match(/^processor/gm) ?? []).length, 4);
  });

  test(`v${v} missing cpu and cpuset controllers: every host CPU`, () => {
    const vi = view(v, LIMITED, { omit: ['cpu', 'cpuset'] });
    assert.equal(renderCpuOnline(vi), '0-3\n');
  });

  test(`v${v} uptime counts from the pod's start; idle never exceeds uptime x CPUs`, () => {
    const out = renderUptime(view(v, LIMITED, { startedAgoMs: 1500 }));
    const [up, idle] = out.trim().split(' ').map(Number) as [number, number];
    assert.equal(up, 1.5);
    assert.equal(idle, 0, 'the fixture used 30 s of CPU, more than 1.5 s x 1 CPU');
    const later = renderUptime(view(v, LIMITED, { startedAgoMs: 100_000 })).trim().split(' ').map(Number);
    assert.deepEqual(later, [100, 70]);
    assert.match(out, /^\d+\.\d\d \d+\.\d\d\n$/);
  });

  test(`v${v} stat: user and system from the cgroup in USER_HZ, idle from uptime`, () => {
    const out = renderStat(view(v, LIMITED, { startedAgoMs: 100_000, load: { load1: 0, load5: 0, load15: 0, running: 2, blocked: 0, total: 7 } }));
    assert.match(out, /^cpu  2000 0 1000 7000 0 0 0 0 0 0$/m);
    assert.match(out, /^cpu0 2000 0 1000 7000 0 0 0 0 0 0$/m);
    assert.match(out, /^procs_running 2$/m);
    assert.match(out, /^btime 1700000000$/m, 'host lines pass through');
    assert.doesNotMatch(out, /^cpu1 /m);
  });

  test(`v${v} loadavg: the container's own load and task counts, the host's last pid`, () => {
    const out = renderLoadavg(view(v, LIMITED, { load: { load1: 0.5, load5: 0.25, load15: 0.125, running: 1, blocked: 0, total: 3 } }));
    assert.equal(out, '0.50 0.25 0.13 1/3 4242\n');
    assert.equal(renderLoadavg(view(v, LIMITED, { load: null })), HOST_LOADAVG, 'callers outside containers see the host');
  });

  test(`v${v} diskstats: the container's reads and writes per device; missing io controller passes the host's through`, () => {
    const out = renderDiskstats(view(v, LIMITED));
    assert.match(out, /^ {3}8 {7}0 sda 10 0 100 0 20 0 300 0 0 0 0 0 0 0 0 0 0$/m);
    assert.match(out, /^ {3}8 {7}1 sda1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0$/m);
    assert.equal(renderDiskstats(view(v, LIMITED, { omit: ['blkio', 'io'] })), HOST_DISKSTATS);
  });
}

test('visibleCpus: cpuset cut to ceil(quota/period), never zero, never beyond the cpuset', () => {
  assert.deepEqual(visibleCpus({ quota: { quotaUs: 1, periodUs: 100000 }, cpuset: [3, 5], usage: null }, [0, 1, 2, 3, 4, 5]), [3]);
  assert.deepEqual(visibleCpus({ quota: { quotaUs: 800000, periodUs: 100000 }, cpuset: [3, 5], usage: null }, [0, 1, 2, 3, 4, 5]), [3, 5]);
  assert.deepEqual(visibleCpus({ quota: null, cpuset: [9], usage: null }, [0, 1]), [0, 1], 'a cpuset of offline CPUs falls back to the host');
  assert.deepEqual(visibleCpus(null, [0, 1]), [0, 1]);
});

test('decayLoad converges to the active count like the kernel (1-minute figure after 5 minutes)', () => {
  let s = { load1: 0, load5: 0, load15: 0 };
  for (let i = 0; i < 60; i++) s = decayLoad(s, 2);
  assert.ok(Math.abs(s.load1 - 2) < 0.02, `load1 ${s.load1}`);
  assert.ok(s.load5 > 1.2 && s.load5 < 1.3, `load5 ${s.load5}`);
  assert.ok(s.load15 < s.load5);
});
