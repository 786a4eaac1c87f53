// The addon's own answers (addon/src/seccompwatch.cc) against the JS handlers' and the kernel's:
// on a new listener (each runc exec) the first sysinfo and sched_getaffinity go to JS, which hands
// the addon the figures it answered from; the calls right after are the addon's and must match
// them, bad pointers and sizes right after a good call must get the kernel's errno (the addon
// leaves every case but the plain success to JS), and mknod of non-devices is let through.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { e2eSkipReason } from '../../e2e/lib/e2eGate.js';
import type { LoopStats } from './NotifyLoop.js';
import { buildStatic, SeccompTestBed, type TestContainer } from './testing/SeccompTestBed.js';

const skip = e2eSkipReason(['/usr/sbin/runc', '/bin/busybox', '/dev/fuse']);
let bed: SeccompTestBed;
let c: TestContainer;
let plain: TestContainer;
let tmp: string;

const num = (out: string, key: string): number => {
  const m = new RegExp(`\\b${key}=(-?\\d+)`).exec(out);
  assert.ok(m, `${key} in ${out}`);
  return Number(m[1]);
};

async function run(t: TestContainer, args: string[]): Promise<string> {
  const r = await t.exec(['/bin/fastcheck', ...args], 60_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return r.stdout;
}

async function totals(): Promise<LoopStats> {
  const all = await bed.agent.stats();
  const sum = { ...all[0]!, byName: { ...all[0]!.byName } };
  for (const s of all.slice(1)) {
    for (const k of ['received', 'answered', 'continued', 'failed', 'gone', 'internalErrors', 'native', 'windows'] as const) sum[k] += s[k];
    for (const [n, v] of Object.entries(s.byName)) sum.byName[n] = (sum.byName[n] ?? 0) + v;
  }
  return sum;
}

before(async () => {
  if (skip) return;
  tmp = mkdtempSync('/tmp/vnode-sec-native-');
  const bin = join(tmp, 'fastcheck');
  const b = await buildStatic(fileURLToPath(new URL('../../../agent/seccomp/fixtures/fastcheck.c', import.meta.url)), bin);
  assert.equal(b.code, 0, b.stderr);
  // The manager's default budget (its windows collect the native answers' time).
  bed = await SeccompTestBed.start({ agent: { workers: 1, budget: { cpuPerVnode: 0.25, windowMs: 50 } } });
  const files = { '/bin/fastcheck': bin };
  c = await bed.container('native', { vnode: 'shared:sec-native', memoryBytes: 256 << 20, cpuQuotaUs: 50_000, files });
  plain = await bed.container('plain', { vnode: 'shared:sec-native', files, seccomp: false });
});
after(async () => {
  if (bed) await bed.teardown();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('sysinfo: the addon answers from the figures JS just answered with, and JS again once they expire', { skip, timeout: 120_000 }, async () => {
  const before = await totals();
  const out = await run(c, ['sysinfo', '40', '25']);
  const after = await totals();
  assert.equal(num(out, 'failures'), 0, out);
  assert.equal(num(out, 'mismatches'), 0, `every call of a round gives its first call's figures: ${out}`);
  assert.equal(num(out, 'totalram'), 256 << 20, `the container's limit: ${out}`);
  assert.equal(num(out, 'unit'), 1);
  const calls = 40 * 25;
  assert.equal((after.byName.sysinfo ?? 0) - (before.byName.sysinfo ?? 0), calls, 'every call counted once');
  const native = after.native - before.native;
  // Each round's first call finds the figures expired (8 ms apart, kept 5 ms) and goes to JS.
  assert.ok(native >= calls / 2 && native <= calls - 40, `native answers ${native} of ${calls}`);
  assert.equal(after.internalErrors, before.internalErrors);
});

test("the addon's sysinfo memory agrees with the container's /proc/meminfo", { skip, timeout: 60_000 }, async () => {
  // Not a check of one round's figures (the test above): 200 calls can outlast the figures' 5 ms
  // on a busy machine, and JS's fresh answer then differs in freeram, as it should.
  const out = await run(c, ['sysinfo', '3', '200', '1']);
  const mem = (await c.exec(['sh', '-c', 'head -1 /proc/meminfo'])).stdout;
  assert.equal(num(out, 'failures'), 0, out);
  assert.match(mem, new RegExp(`^MemTotal:\\s+${num(out, 'totalram') / 1024} kB`), `${mem} vs ${out}`);
});

test('sched_getaffinity(0): the container CPU from the addon, also when pinned to a CPU it does not show', { skip, timeout: 60_000 }, async () => {
  const before = await totals();
  let out = await run(c, ['affinity', '300']);
  assert.equal(num(out, 'mismatches'), 0, out);
  assert.equal(num(out, 'count'), 1, `half a CPU shows one: ${out}`);
  assert.equal(num(out, 'cpu0'), 1, out);
  const after = await totals();
  assert.ok(after.native - before.native >= 250, `the addon answered most: ${after.native - before.native} of 300`);
  // Pinned to CPU 1, which the container does not show: the first CPU of the real mask (JS's
  // narrowMask rule), from both.
  out = await run(c, ['affinity', '300', '1']);
  assert.equal(num(out, 'mismatches'), 0, out);
  assert.equal(num(out, 'count'), 1, out);
  assert.equal(num(out, 'cpu1'), 1, out);
});

test('native answers are collected window by window while they come; idle listeners leave the loop asleep', { skip, timeout: 60_000 }, async () => {
  // The budget's window timer ran forever, 20 turns a second on every worker: most of an idle
  // manager's CPU. It now runs from a native answer until a window passes without one.
  const settled = async (): Promise<number> => {
    for (let prev = (await totals()).windows, i = 0; i < 25; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const now = (await totals()).windows;
      if (now === prev) return now;
      prev = now;
    }
    assert.fail('the window timer never stopped with every listener idle');
  };
  const idle = await settled();
  const before = await totals();
  await run(c, ['affinity', '300']);
  const busy = await settled();
  const after = await totals();
  assert.ok(after.native - before.native >= 250, `answered natively: ${after.native - before.native}`);
  assert.ok(busy > idle, `windows collected while the addon answered: ${busy - idle}`);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await totals()).windows, busy, 'no window turns while idle');
});

test('bad pointers and sizes right after a good call get the kernel\'s answers', { skip, timeout: 60_000 }, async () => {
  const kernel = (await run(plain, ['faults'])).trim();
  const vnode = (await run(c, ['faults'])).trim();
  assert.match(kernel, /sysinfo_null=-1\/14 .*aff_len7=-1\/22 /, kernel);
  assert.equal(vnode, kernel);
});

test('mknod of FIFOs, sockets, files and whiteouts goes on as the caller\'s own call', { skip, timeout: 60_000 }, async () => {
  const before = await totals();
  const out = await run(c, ['mknod', '/tmp', '100']);
  assert.equal(num(out, 'failures'), 0, out);
  assert.equal(num(out, 'wrong'), 0, out);
  const after = await totals();
  assert.equal(after.continued - before.continued, 400, 'every one let through');
  assert.equal(after.native - before.native, 400, 'by the addon');
  // A device still goes to JS: /dev/null's numbers make a real node, block devices are refused.
  const r = await c.exec(['sh', '-c', 'mknod /tmp/nul c 1 3 && ls -l /tmp/nul && rm /tmp/nul; mknod /tmp/blk b 7 0; echo blk=$?']);
  assert.match(r.stdout, /^crw/, r.stdout + r.stderr);
  assert.match(r.stdout, /blk=1/, r.stdout + r.stderr);
});

test('with native answers off every call comes to JS, with the same answers', { skip, timeout: 120_000 }, async () => {
  const jsBed = await SeccompTestBed.start({ agent: { workers: 1, loop: { nativeAnswers: false } } });
  try {
    const js = await jsBed.container('js', { vnode: 'shared:sec-native-js', memoryBytes: 256 << 20, cpuQuotaUs: 50_000, files: { '/bin/fastcheck': join(tmp, 'fastcheck') } });
    const r = async (args: string[]): Promise<string> => {
      const x = await js.exec(['/bin/fastcheck', ...args], 60_000);
      assert.equal(x.code, 0, x.stdout + x.stderr);
      return x.stdout;
    };
    assert.equal((await r(['faults'])).trim(), (await run(plain, ['faults'])).trim());
    const out = await r(['sysinfo', '3', '20', '1']);
    assert.equal(num(out, 'totalram'), 256 << 20, out);
    assert.equal(num(await r(['affinity', '20']), 'count'), 1);
    const stats = await jsBed.agent.stats();
    assert.equal(stats.reduce((a, s) => a + s.native, 0), 0, 'nothing answered natively');
    assert.ok(stats.reduce((a, s) => a + (s.byName.sysinfo ?? 0), 0) >= 60);
  } finally {
    await jsBed.teardown();
  }
});
