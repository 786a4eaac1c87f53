// vnodefs' per-vNode CPU budget on the real kernel: readers running as the host uids of one
// vNode's id block flood /proc/meminfo; their requests beyond the budget wait for the next window
// (none is lost: every reader finishes with whole files), while the host's uid 0 and another
// vNode's light reader are served at once.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { installed, ROOT, skipUnless } from '../../e2e/lib/e2eGate.js';
import { VnodeFs } from './VnodeFs.js';

const skip = skipUnless(ROOT, installed('/dev/fuse'), installed('/usr/bin/cc', 'npm test installs build-essential'));
const POOL = 1 << 30;
const BLOCK = 65536;
let fs: VnodeFs | undefined;
let mnt = '';
let work = '';
let reader = '';

before(async () => {
  if (skip) return;
  mkdirSync('/var/tmp', { recursive: true });
  work = mkdtempSync('/var/tmp/vnodefs-budget-');
  chmodSync(work, 0o755);
  reader = join(work, 'reader');
  execFileSync('cc', ['-O2', '-o', reader, fileURLToPath(new URL('../../../bench/vnodefsReader.c', import.meta.url))]);
  mnt = join(work, 'mnt');
  mkdirSync(mnt);
  fs = new VnodeFs({ mountpoint: mnt, workers: 2, budget: { cpuPerVnode: 0.05, windowMs: 20, poolStart: POOL, blockSize: BLOCK } });
  await fs.mount();
});

after(async () => {
  await fs?.unmount();
  if (work) rmSync(work, { recursive: true, force: true });
});

function readers(n: number, uid: number, seconds: number, extra: string[] = []): Promise<{ reads: number; bytes: number; p99Ns?: number }[]> {
  return Promise.all(
    [...Array(n)].map(
      () =>
        new Promise<{ reads: number; bytes: number; p99Ns?: number }>((resolve, reject) => {
          const p = spawn(reader, [join(mnt, 'proc/meminfo'), String(seconds), ...extra], { uid, gid: uid, stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          p.stdout.on('data', (d: Buffer) => (out += d.toString()));
          p.stderr.on('data', (d: Buffer) => (err += d.toString()));
          p.on('close', (code) => {
            if (code !== 0) return reject(new Error(`reader as uid ${uid} exited ${code}: ${err}`));
            const f = (k: string) => Number(new RegExp(`${k}=(\\d+)`).exec(out)?.[1] ?? NaN);
            resolve({ reads: f('reads'), bytes: f('bytes'), p99Ns: out.includes('p99_ns') ? f('p99_ns') : undefined });
          });
        }),
    ),
  );
}

test("a vNode's flood waits for its budget, nothing is lost, the host and another vNode are served", { skip, timeout: 60_000 }, async (t) => {
  const [idle] = await readers(1, POOL + BLOCK + 1000, 1.2, ['lat', '2000']);
  const host = await readers(4, 0, 1.5);
  const hostReads = host.reduce((a, r) => a + r.reads, 0);
  const [flood, victim] = await Promise.all([readers(4, POOL + 1000, 1.5), readers(1, POOL + BLOCK + 1000, 1.2, ['lat', '2000'])]);
  const floodReads = flood.reduce((a, r) => a + r.reads, 0);
  t.diagnostic(`4 readers, 1.5 s: host uid ${hostReads} reads, one vNode's uids ${floodReads} reads (budget 0.05 CPU); another vNode's light reader p99 ${(victim[0]!.p99Ns! / 1e6).toFixed(2)} ms (idle ${(idle!.p99Ns! / 1e6).toFixed(2)} ms)`);
  assert.ok(floodReads > 0, 'the flooding vNode is slowed, not starved');
  assert.ok(floodReads * 3 < hostReads, `the vNode's flood is held to its budget (${floodReads} vs ${hostReads} unthrottled)`);
  // Every read returned a whole file: a deferred request is answered, never dropped.
  for (const r of [...flood, ...victim]) assert.ok(r.bytes >= r.reads * 500, `whole files: ${r.bytes} bytes in ${r.reads} reads`);
  assert.ok(victim[0]!.reads > 100, 'the other vNode kept reading');
  // Not held behind the flood's windows (20 ms each): its p99 stays near its idle p99.
  assert.ok(victim[0]!.p99Ns! < idle!.p99Ns! * 3 + 10e6, `the other vNode is not held behind the flood (p99 ${victim[0]!.p99Ns} ns, idle ${idle!.p99Ns} ns)`);
});
