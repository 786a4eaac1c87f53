// The vNode lifecycle on the real kernel: identities inside a vNode, disjoint ranges, reference
// counting, per-pod netns, a manager killed with SIGKILL and restarted, and 200 vNodes created
// and destroyed with nothing left behind.
//
// Run as a child (VNODE_CORE_CHILD=<config json>) this file is a manager that creates the vNodes
// named in VNODE_CORE_KEYS, prints them, and waits to be killed.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { parseConfig, type Config } from '../common/config.js';
import { configureLogging } from '../common/log.js';
import { execInVNode } from './testing/execInVNode.js';
import { locateTree, processStartTime } from './Holder.js';
import { IdPoolExhaustedError, parseSubIds } from './IdAllocator.js';
import { isolatedConfig } from './testing/isolatedConfig.js';
import { mountsBelow, VNodeManager } from './VNodeManager.js';
import type { VNode } from './VNodeRecord.js';

const B = 65536;
const POOL_BASE = 3 << 28; // 805306368: this file's own part of the id space
let region = 0;

/** A fresh runDir/stateDir and a pool of `count` blocks in a region no other test uses (the
 * footprint check counts processes by uid). Blocks 0 and 2 of the pool are host subids. */
function makeConfig(count = 16): { cfg: Config; base: string; poolStart: number } {
  const POOL_START = POOL_BASE + region++ * 512 * B;
  // A host user's subordinate range covering the pool's first block, and a subgid entry in the third.
  const { cfg, base } = isolatedConfig({ prefix: 'vnode-core-e2e-', poolStart: POOL_START, count, subuid: `alice:${POOL_START}:${B}\n`, subgid: `bob:${POOL_START + 2 * B + 100}:1000\n` });
  return { cfg, base, poolStart: POOL_START };
}

function run(cmd: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000 }, (e, out, err) => resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err }));
  });
}

const nsexec = (): string => join(locateTree(), 'bin/vnode-nsexec');

/** Runs a busybox shell inside the vNode: its user, pid (with a fresh /proc), uts, ipc, net and
 * cgroup namespaces; the host filesystem stays visible, as it would through a pod's mounts. */
async function inside(v: VNode, script: string): Promise<{ code: number; out: string; err: string }> {
  const r = await execInVNode(v, ['busybox', 'sh', '-c', script], { mountProc: true });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

/** Everything a vNode could leave behind, as seen from the host. */
function footprint(cfg: Config): { procs: number[]; mounts: string[]; records: string[]; ranges: unknown; dirs: string[]; zombies: number[] } {
  const procs: number[] = [];
  const zombies: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${p}/status`, 'utf8');
    } catch {
      continue;
    }
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
    // A zombie holds no namespace; orphans are reaped by the host's init in its own time.
    if (!/^State:\s+Z/m.test(status) && uid >= cfg.idPool.start && uid < cfg.idPool.start + cfg.idPool.count * B) procs.push(Number(p));
    if (/^State:\s+Z/m.test(status) && Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) === process.pid) zombies.push(Number(p));
  }
  const ls = (d: string): string[] => (existsSync(d) ? readdirSync(d) : []);
  const idFile = join(cfg.stateDir, 'idranges.json');
  return {
    procs,
    zombies,
    mounts: mountsBelow(cfg.runDir),
    records: ls(join(cfg.stateDir, 'vnodes')),
    ranges: existsSync(idFile) ? (JSON.parse(readFileSync(idFile, 'utf8')) as { ranges: unknown }).ranges : {},
    dirs: ls(join(cfg.runDir, 'vnodes')),
  };
}

const EMPTY = { procs: [], zombies: [], mounts: [], records: [], ranges: {}, dirs: [] };

/** The manager's open fds as "fd -> target". */
function openFds(): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      out.add(`${fd} -> ${readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch {
      // the directory fd of this very listing
    }
  }
  return out;
}

/** That process, alive (not a zombie awaiting its reaper). */
function running(pid: number, startTime: number): boolean {
  if (processStartTime(pid) !== startTime) return false;
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- child mode
if (process.env.VNODE_CORE_CHILD) {
  configureLogging({ level: 'error' });
  const cfg = parseConfig(JSON.parse(process.env.VNODE_CORE_CHILD));
  const m = await VNodeManager.open(cfg);
  const made: VNode[] = [];
  for (const key of (process.env.VNODE_CORE_KEYS ?? '').split(',')) {
    made.push(await m.getOrCreate(key, `pod-of-${key}`));
    await m.createPodNetns(key, 'sandbox1');
  }
  process.stdout.write(JSON.stringify(m.list()) + '\n');
  setInterval(() => undefined, 1 << 30); // until SIGKILL
} else {
  configureLogging({ level: 'error' });
  registerTests();
}

function registerTests(): void {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  async function manager(count = 16): Promise<{ m: VNodeManager; cfg: Config; poolStart: number }> {
    const { cfg, base, poolStart } = makeConfig(count);
    const m = await VNodeManager.open(cfg);
    cleanups.push(async () => {
      for (const v of m.list()) await m.destroy(v.key).catch(() => undefined);
      await m.close();
      rmSync(base, { recursive: true, force: true });
    });
    return { m, cfg, poolStart };
  }

  test('inside a vNode: uid 0 is its range, host root files are out of reach, its pid namespace is its own', async () => {
    const { m, cfg } = await manager();
    const v = await m.getOrCreate('ns:team-a', 'pod-1');
    const hostFile = join(cfg.runDir, 'root-owned.txt');
    writeFileSync(hostFile, 'host data\n', { mode: 0o666 & ~0o022 }); // 0644, owned by host root
    chmodSync(cfg.runDir, 0o711);
    const r = await inside(
      v,
      [
        'echo uid=$(id -u) gid=$(id -g)',
        'echo map=$(cat /proc/self/uid_map)',
        'echo gmap=$(cat /proc/self/gid_map)',
        'echo host=$(hostname)',
        `if echo x >> ${hostFile} 2>/dev/null; then echo hostfile=written; else echo hostfile=denied; fi`,
        'if cat /etc/shadow >/dev/null 2>&1; then echo shadow=read; else echo shadow=denied; fi',
        'if touch /etc/vnode-core-probe 2>/dev/null; then echo etc=written; else echo etc=denied; fi',
        'echo pids=$(ls /proc | grep -E "^[0-9]+$" | tr "\\n" " ")',
        'echo comms=$(cat /proc/[0-9]*/comm | sort -u | tr "\\n" " ")',
        'echo pid1=$(cat /proc/1/comm)',
      ].join('; '),
    );
    assert.equal(r.code, 0, r.err);
    const kv = Object.fromEntries(r.out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]));
    assert.match(r.out, /^uid=0 gid=0$/m);
    assert.equal(kv.map!.split(/\s+/).join(' '), `0 ${v.idRange.uidStart} 65536`);
    assert.equal(kv.gmap!.split(/\s+/).join(' '), `0 ${v.idRange.gidStart} 65536`);
    assert.equal(kv.host, v.hostname);
    assert.equal(kv.hostfile, 'denied');
    assert.equal(readFileSync(hostFile, 'utf8'), 'host data\n');
    assert.equal(kv.shadow, 'denied');
    assert.equal(kv.etc, 'denied');
    assert.ok(!existsSync('/etc/vnode-core-probe'));
    // Only the holder (pid 1), the shell and its children: no host process is visible.
    const pids = kv.pids!.split(/\s+/).filter(Boolean).map(Number);
    assert.ok(pids.includes(1));
    assert.ok(pids.length < 20, `only the vNode's own processes, got ${pids.join(',')}`);
    const comms = kv.comms!.split(/\s+/).filter(Boolean);
    // busybox applets re-exec busybox through /proc/self/exe (comm "exe").
    for (const c of comms) assert.ok(['vnode-holder', 'busybox', 'exe', 'sh', 'cat', 'ls', 'grep', 'sort', 'tr'].includes(c), `unexpected process ${c} visible (${comms.join(',')})`);
    assert.ok(!comms.includes('node'), 'the host processes (the manager itself) are not visible');
    assert.equal(kv.pid1, 'vnode-holder');
    // The same process seen from the host runs as the range's first uid.
    const hostView = readFileSync(`/proc/${v.holder!.pid}/status`, 'utf8');
    assert.match(hostView, new RegExp(`^Uid:\\s+${v.idRange.uidStart}\\s`, 'm'));
    // The holder's own mount namespace is an empty root.
    const ls = await run(nsexec(), [String(v.holder!.pid), 'user,mnt', '--', 'busybox', 'ls', '-A', '/']);
    assert.equal(ls.code, 0, ls.err);
    assert.equal(ls.out, '');
    for (const [kind, path] of Object.entries(v.namespaces)) assert.equal(readlinkSync(path), readlinkSync(`/proc/${v.holder!.pid}/ns/${kind}`));
  });

  test('two vNodes get disjoint ranges that miss every subuid/subgid entry', async () => {
    const { m, cfg, poolStart } = await manager();
    const a = await m.getOrCreate('ns:a', 'p1');
    const b = await m.getOrCreate('shared:tenant-b', 'p2');
    const ra = a.idRange;
    const rb = b.idRange;
    assert.ok(ra.uidStart + B <= rb.uidStart || rb.uidStart + B <= ra.uidStart, 'disjoint');
    const entries = [
      ...parseSubIds(readFileSync(cfg.idPool.subuidFile, 'utf8'), 'fixture subuid'),
      ...parseSubIds(readFileSync(cfg.idPool.subgidFile, 'utf8'), 'fixture subgid'),
      ...parseSubIds(readFileSync('/etc/subuid', 'utf8'), '/etc/subuid'),
      ...parseSubIds(readFileSync('/etc/subgid', 'utf8'), '/etc/subgid'),
    ];
    assert.ok(entries.length >= 2);
    for (const r of [ra, rb]) {
      assert.ok(r.uidStart >= 65536, 'container root maps to a host uid of 65536 or more');
      for (const e of entries) assert.ok(r.uidStart + B <= e.start || e.end <= r.uidStart, `${r.uidStart} overlaps ${e.source}`);
    }
    // The fixture reserves blocks 0 and 2: the first two vNodes get blocks 1 and 3.
    assert.deepEqual([ra.uidStart, rb.uidStart].map((s) => (s - poolStart) / B), [1, 3]);
    // And the kernel agrees: each holder maps exactly its range.
    for (const v of [a, b]) assert.equal(readFileSync(`/proc/${v.holder!.pid}/uid_map`, 'utf8').trim().split(/\s+/).join(' '), `0 ${v.idRange.uidStart} 65536`);
    // A pod's vNode: by membership, or by the netns made for its sandbox; none for a stranger.
    assert.equal(m.ofPod('p1')?.name, a.name);
    assert.equal(m.ofPod('p2')?.name, b.name);
    await m.createPodNetns('shared:tenant-b', 'sandbox-of-p3');
    assert.equal(m.ofPod('sandbox-of-p3')?.name, b.name);
    assert.equal(m.ofPod('p3'), undefined);
  });

  test('pods are counted: the last release tears everything down; netns belong to the vNode user ns', async () => {
    const { m, cfg } = await manager();
    const v1 = await m.getOrCreate('ns:shared', 'pod-a');
    const v2 = await m.getOrCreate('ns:shared', 'pod-b');
    assert.equal(v1.name, v2.name);
    assert.equal(v1.holder!.pid, v2.holder!.pid);
    assert.deepEqual(m.get('ns:shared')!.pods, ['pod-a', 'pod-b']);
    const netns = await m.createPodNetns('ns:shared', 'sandbox-a');
    assert.equal(await m.createPodNetns('ns:shared', 'sandbox-a'), netns, 'idempotent');
    assert.equal(mountsBelow(netns).length, 1);
    // A netns id names a file in the vNode's dir: nothing that walks out of netns/.
    for (const bad of ['..', '.', '', '-x', 'a/b', '.hidden'])
      assert.throws(() => m.podNetnsPath('ns:shared', bad), /must match/, `netns id ${JSON.stringify(bad)}`);
    await assert.rejects(async () => m.createPodNetns('ns:shared', '..'), /must match/);
    // Root of the vNode may configure it: the netns is owned by the vNode's user namespace.
    const up = await run('busybox', ['nsenter', `--net=${netns}`, nsexec(), String(v1.holder!.pid), 'user', '--', 'busybox', 'ip', 'link', 'set', 'lo', 'up']);
    assert.equal(up.code, 0, up.err);
    const holderPid = v1.holder!.pid;
    assert.deepEqual(await m.release('ns:shared', 'pod-a'), { found: true, destroyed: false });
    assert.deepEqual(await m.release('ns:shared', 'pod-a'), { found: true, destroyed: false }, 'idempotent');
    assert.equal(processStartTime(holderPid), v1.holder!.startTime, 'holder still there');
    assert.deepEqual(await m.release('ns:shared', 'pod-b'), { found: true, destroyed: true });
    assert.equal(processStartTime(holderPid), undefined, 'holder gone and reaped (our child)');
    assert.deepEqual(footprint(cfg), EMPTY);
    assert.deepEqual(await m.release('ns:shared', 'pod-b'), { found: false, destroyed: false });
  });

  test('an exhausted pool is a clear error that leaves nothing behind', async () => {
    const { m, cfg } = await manager(4); // blocks 0 and 2 reserved by the fixture: room for two
    await m.getOrCreate('ns:one', 'p');
    await m.getOrCreate('ns:two', 'p');
    await assert.rejects(m.getOrCreate('ns:three', 'p'), (e: unknown) => e instanceof IdPoolExhaustedError && /id pool exhausted: all 4 blocks/.test(e.message));
    assert.equal(m.list().length, 2);
    await m.destroy('ns:one');
    await m.destroy('ns:two');
    assert.deepEqual(footprint(cfg), EMPTY);
  });

  test('a holder that dies under its pods marks the vNode failed until they are released', async () => {
    const { m, cfg } = await manager();
    const v = await m.getOrCreate('ns:fragile', 'p1');
    const told: string[] = [];
    m.onHolderDeath((d) => told.push(`${d.name} ${d.pods.join(',')}`));
    process.kill(v.holder!.pid, 'SIGKILL');
    for (let i = 0; i < 100 && m.get('ns:fragile')?.state !== 'failed'; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(m.get('ns:fragile')?.state, 'failed');
    assert.deepEqual(told, [`${v.name} p1`], 'the manager is told once, with the pods that lost their vNode (their Events)');
    await assert.rejects(m.getOrCreate('ns:fragile', 'p2'), /lost its holder/);
    assert.deepEqual(await m.release('ns:fragile', 'p1'), { found: true, destroyed: true });
    assert.deepEqual(footprint(cfg), EMPTY);
    const again = await m.getOrCreate('ns:fragile', 'p2');
    assert.equal(again.state, 'ready');
    await m.release('ns:fragile', 'p2');
  });

  test('a manager killed with SIGKILL: the next one re-adopts live holders and frees the dead', async () => {
    const { cfg, base } = makeConfig();
    cleanups.push(async () => rmSync(base, { recursive: true, force: true }));
    const child = spawn(process.execPath, ['--enable-source-maps', fileURLToPath(import.meta.url)], {
      env: { ...process.env, VNODE_CORE_CHILD: JSON.stringify(cfg), VNODE_CORE_KEYS: 'ns:live,ns:dead' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
      });
      child.once('exit', (c) => reject(new Error(`child manager exited (${c}) before it reported`)));
    });
    const before = JSON.parse(line) as VNode[];
    const live = before.find((v) => v.key === 'ns:live')!;
    const dead = before.find((v) => v.key === 'ns:dead')!;
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // The holders outlive their manager; one of them dies while no manager runs.
    assert.equal(processStartTime(live.holder!.pid), live.holder!.startTime);
    process.kill(dead.holder!.pid, 'SIGKILL');
    for (let i = 0; i < 200 && running(dead.holder!.pid, dead.holder!.startTime); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(mountsBelow(cfg.runDir).length, 2, 'both netns still mounted');

    const m = await VNodeManager.open(cfg);
    cleanups.push(async () => {
      for (const v of m.list()) await m.destroy(v.key).catch(() => undefined);
      await m.close();
    });
    const now = m.list();
    assert.deepEqual(now.map((v) => v.key), ['ns:live']);
    assert.deepEqual(now[0]!.holder, live.holder, 'same holder process, re-adopted');
    assert.deepEqual(now[0]!.idRange, live.idRange);
    assert.deepEqual(now[0]!.pods, ['pod-of-ns:live']);
    assert.deepEqual(m.idRanges().map(([o]) => o), [live.name], "the dead vNode's range is free again");
    assert.ok(!existsSync(dead.dir), 'dead vNode dir removed');
    assert.deepEqual(mountsBelow(cfg.runDir), [live.netns.sandbox1], 'only the live netns stays mounted');
    assert.ok(!existsSync(join(cfg.stateDir, 'vnodes', `${dead.name}.json`)));
    // The adopted holder still serves: a pod can join it.
    const r = await inside(now[0]!, 'id -u; hostname');
    assert.equal(r.out, `0\n${live.hostname}\n`);
    // And is torn down like any other (it is not our child: watched through its pidfd).
    assert.deepEqual(await m.release('ns:live', 'pod-of-ns:live'), { found: true, destroyed: true });
    assert.ok(!running(live.holder!.pid, live.holder!.startTime), 'adopted holder killed');
    assert.deepEqual(footprint(cfg), EMPTY);
  });

  test('200 vNodes created and destroyed leak nothing: process, manager fd, mount, record, range', async () => {
    const { m, cfg } = await manager(300);
    // Warm up (the first vNode opens whatever is opened once and kept), then take the fd list.
    await m.getOrCreate('pod:warm-up', 'p');
    await m.release('pod:warm-up', 'p');
    const fds = openFds();
    const N = 200;
    const keys = Array.from({ length: N }, (_, i) => `pod:leak-${i}`);
    const pids: Array<[number, number]> = [];
    const batch = 8;
    for (let i = 0; i < N; i += batch) {
      const vs = await Promise.all(keys.slice(i, i + batch).map((k) => m.getOrCreate(k, 'p')));
      for (const v of vs) pids.push([v.holder!.pid, v.holder!.startTime]);
      await Promise.all(keys.slice(i, i + batch).map((k) => m.createPodNetns(k, 'sb')));
    }
    assert.equal(m.list().length, N);
    assert.equal(new Set(m.list().map((v) => v.idRange.uidStart)).size, N, 'all ranges distinct');
    assert.equal(mountsBelow(cfg.runDir).length, N);
    assert.equal(footprint(cfg).procs.length, N, 'one holder per vNode');
    for (let i = 0; i < N; i += batch) await Promise.all(keys.slice(i, i + batch).map((k) => m.release(k, 'p')));
    assert.deepEqual(footprint(cfg), EMPTY);
    for (const [pid, st] of pids) assert.ok(!running(pid, st), `holder ${pid} gone`);
    const leaked = [...openFds()].filter((f) => !fds.has(f));
    assert.deepEqual(leaked, [], 'no fd left open in the manager');
    assert.equal(m.list().length, 0);
    assert.deepEqual(m.idRanges(), []);
    assert.ok(statSync(cfg.runDir).isDirectory());
  });
}
