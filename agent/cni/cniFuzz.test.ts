// Seeded, bounded fuzz of what vnode-cni reads: its stdin (the network configuration) and its
// environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS), through the
// manager's handler (VNodeCni with the real VNodePods and placement, a recording vNode registry)
// and through the no-manager fallback. For every input: no exception, ADD and CHECK answer a CNI
// error object (exit 1, JSON with a numeric code and a message), DEL succeeds (exit 0), VERSION
// answers the versions. No fuzzed netns is a real network namespace, so nothing is ever moved.
// FUZZ_SEED and FUZZ_CASES reproduce or widen a run; a failure prints its seed and case.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { cniFallback } from './cniEntry.js';
import { vnodeCniWithoutVNodes } from './testing/vnodeCniWithoutVNodes.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed12);
const CASES = Number(process.env.FUZZ_CASES ?? 1500);

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const tmp = mkdtempSync(join(tmpdir(), 'cni-fuzz-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
// A regular file where a netns would be: setns refuses it, so no ADD reaches a real namespace.
const notANetns = join(tmp, 'netns-file');
writeFileSync(notANetns, '');

// What containerd 1.7 sends the last plugin of a chain, with the host plugin's result.
const valid = {
  cniVersion: '1.0.0',
  name: 'vnode-chain',
  type: 'vnode-cni',
  runtimeConfig: { 'io.kubernetes.cri.pod-annotations': { 'vnode.loft.sh/name': 'tenant1', other: 'x' } },
  prevResult: {
    cniVersion: '1.0.0',
    interfaces: [
      { name: 'cni0', mac: '00:11:22:33:44:55' },
      { name: 'eth0', mac: '66:77:88:99:aa:bb', sandbox: '/var/run/netns/cni-1' },
    ],
    ips: [{ address: '10.22.0.5/24', gateway: '10.22.0.1', interface: 1 }],
    routes: [{ dst: '0.0.0.0/0' }],
  },
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function fuzzer(r: () => number) {
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const weird = ['', ' ', '\u0000', '../../etc/passwd', '/', '.', '-', 'a'.repeat(200), 'A'.repeat(5000), '\u00e9\u4e2d', '\ud800', 'null', '{}', '%s%n', 'eth0;rm -rf /', 'x=y;z'];
  const str = (): string => (r() < 0.5 ? pick(weird) : Array.from({ length: int(40) }, () => String.fromCharCode(int(r() < 0.9 ? 128 : 0x10000))).join(''));
  const scalar = (): Json => pick<() => Json>([() => null, () => true, () => int(2 ** 31) - 2 ** 30, () => 1e308, () => -0, () => str()])();
  const value = (depth = 0): Json => {
    if (depth > 3 || r() < 0.5) return scalar();
    if (r() < 0.5) return Array.from({ length: int(4) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: int(4) }, () => [pick(['name', 'cniVersion', 'interfaces', 'sandbox', 'io.kubernetes.cri.pod-annotations', str()]), value(depth + 1)]));
  };
  /** A structural mutation of a JSON value: replace, delete or add at a random path. */
  const mutate = (v: Json, depth = 0): Json => {
    if (v === null || typeof v !== 'object' || depth > 4 || r() < 0.25) return value();
    const copy: Json = Array.isArray(v) ? [...v] : { ...v };
    const keys = Object.keys(copy);
    const roll = r();
    if (roll < 0.15 && keys.length) {
      const k = pick(keys);
      if (Array.isArray(copy)) copy.splice(Number(k), 1);
      else delete copy[k];
    } else if (roll < 0.25) {
      if (Array.isArray(copy)) copy.push(value());
      else copy[str()] = value();
    } else if (keys.length) {
      const k = pick(keys);
      if (Array.isArray(copy)) copy[Number(k)] = mutate(copy[Number(k)]!, depth + 1);
      else copy[k] = mutate(copy[k]!, depth + 1);
    }
    return copy;
  };
  const bytes = (b: Buffer): Buffer => {
    const out = Buffer.from(b);
    for (let i = int(8); i >= 0 && out.length; i--) out[int(out.length)] = int(256);
    return r() < 0.3 ? out.subarray(0, int(out.length + 1)) : out;
  };
  const stdin = (): Buffer => {
    const base = Buffer.from(JSON.stringify(r() < 0.7 ? mutate(valid as unknown as Json) : value()));
    const roll = r();
    if (roll < 0.25) return bytes(base);
    if (roll < 0.3) return Buffer.alloc(0);
    if (roll < 0.33) return Buffer.from('['.repeat(2000));
    return base;
  };
  const env = (): Record<string, string> => {
    const e: Record<string, string> = {};
    const set = (k: string, good: () => string) => {
      const roll = r();
      if (roll < 0.6) e[k] = good();
      else if (roll < 0.85) e[k] = str();
      // else absent
    };
    set('CNI_COMMAND', () => pick(['ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS', 'add']));
    set('CNI_CONTAINERID', () => pick(['abc123', 'f'.repeat(64), '0', 'a.b_c-d']));
    set('CNI_NETNS', () => pick([notANetns, join(tmp, 'missing'), '/nonexistent/netns', '']));
    set('CNI_IFNAME', () => pick(['eth0', 'net1', 'lo', 'a'.repeat(16)]));
    set('CNI_ARGS', () => pick(['IgnoreUnknown=1;K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=p;K8S_POD_UID=u', 'K8S_POD_NAMESPACE=', ';;;==;', 'K8S_POD_NAMESPACE=team-b;K8S_POD_UID=' + 'u'.repeat(300)]));
    set('CNI_PATH', () => '/opt/cni/bin');
    return e;
  };
  return { stdin, env };
}


function checkAnswer(where: string, cmd: string | undefined, code: number, stdout: string): void {
  if (cmd === 'DEL') {
    assert.equal(code, 0, `${where}: DEL must succeed for any input, got ${code}: ${stdout}`);
    return;
  }
  if (cmd === 'VERSION') {
    assert.equal(code, 0, where);
    assert.ok(Array.isArray((JSON.parse(stdout) as { supportedVersions: unknown }).supportedVersions), where);
    return;
  }
  assert.notEqual(code, 0, `${where}: ${cmd ?? '(no command)'} of fuzzed input must fail: ${stdout}`);
  const err = JSON.parse(stdout) as { code?: unknown; msg?: unknown; cniVersion?: unknown };
  assert.equal(typeof err.code, 'number', `${where}: a CNI error object: ${stdout}`);
  assert.ok(typeof err.msg === 'string' && err.msg.length > 0, `${where}: with a message: ${stdout}`);
  assert.equal(typeof err.cniVersion, 'string', where);
}

test(`vnode-cni in the manager: ${CASES} fuzzed configs and environments (seed ${SEED})`, async () => {
  const calls: string[] = [];
  const cni = vnodeCniWithoutVNodes(calls, tmp);
  const f = fuzzer(rng(SEED));
  const counts: Record<string, number> = {};
  for (let i = 0; i < CASES; i++) {
    const env = f.env();
    const stdin = f.stdin();
    const where = `seed ${SEED} case ${i} (env ${JSON.stringify(env).slice(0, 300)}, stdin ${JSON.stringify(stdin.toString('utf8').slice(0, 300))})`;
    let a;
    try {
      a = await cni.handle({ entry: 'vnode-cni', cwd: '/', argv: ['vnode-cni'], env, stdin });
    } catch (e) {
      assert.fail(`${where}: threw ${(e as Error).stack}`);
    }
    assert.equal(a.kind, 'exit', where);
    if (a.kind !== 'exit') continue;
    checkAnswer(where, env.CNI_COMMAND, a.code, String(a.stdout ?? ''));
    const key = a.code === 0 ? `${env.CNI_COMMAND} ok` : `code ${(JSON.parse(String(a.stdout)) as { code: number }).code}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  assert.deepEqual(calls, [], 'no fuzzed ADD got as far as joining a vNode');
  // The fuzz reaches every way of failing, not only the parser's.
  for (const k of ['code 4', 'code 7', 'DEL ok', 'VERSION ok']) assert.ok(counts[k], `the fuzz reached ${k}: ${JSON.stringify(counts)}`);
});

test(`vnode-cni without a manager: ${Math.ceil(CASES / 3)} fuzzed inputs (seed ${SEED + 1})`, () => {
  const runDir = join(tmp, 'run');
  mkdirSync(join(runDir, 'vnodes/vn-x/netns'), { recursive: true });
  const f = fuzzer(rng(SEED + 1));
  for (let i = 0; i < Math.ceil(CASES / 3); i++) {
    const env: Record<string, string> = { ...f.env(), VNODE_RUN_DIR: runDir };
    const stdin = f.stdin();
    const where = `seed ${SEED + 1} case ${i} (env ${JSON.stringify(env).slice(0, 300)})`;
    const r = cniFallback(env, stdin);
    checkAnswer(where, env.CNI_COMMAND, r.code, r.stdout);
  }
});
