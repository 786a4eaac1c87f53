// The manager's supervisor, for real: the built vnode-supervise, a real cgroup of its own in every
// hierarchy of this machine, and a stand-in manager compiled here (it records its starts and
// SIGTERMs) run from a versioned install tree, so restart timing, adoption and the upgrade restart
// are what the installer gets on a node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { built, installed, ROOT, skipUnless } from '../e2e/lib/e2eGate.js';
import { HostRoot } from './HostRoot.js';
import { parseInstallerConfig } from './installerConfig.js';
import { ensureSupervisor, runningSupervisor, runningVersion, stopSupervisor, supervisedManager, supervisorAlive, supervisorLaunch } from './ManagerSupervisor.js';

const TREE = fileURLToPath(new URL('../../build/opt/vnode', import.meta.url));
const SUPERVISE = join(TREE, 'bin/vnode-supervise');
const skip = skipUnless(ROOT, built(SUPERVISE), installed('/usr/bin/cc', 'npm test installs build-essential'));

// The stand-in manager: records "start <pid>" and "term <pid>" in $FAKE_LOG, prints a line, waits.
const FAKE_C = `#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static void rec(const char *what) { FILE *f = fopen(getenv("FAKE_LOG"), "a"); if (f) { fprintf(f, "%s %d\\n", what, getpid()); fclose(f); } }
static void term(int s) { (void)s; rec("term"); _exit(0); }
int main(void) { signal(SIGTERM, term); rec("start"); printf("fake manager %d up\\n", getpid()); fflush(stdout); for (;;) pause(); }
`;

/** Every hierarchy dir of cgroup `name` on this machine. */
function cgroupDirs(name: string): string[] {
  return readdirSync('/sys/fs/cgroup')
    .map((h) => join('/sys/fs/cgroup', h, name))
    .filter((d) => existsSync(join(d, 'cgroup.procs')));
}

/** Removes cgroup `name` and everything below it in every hierarchy, killing what still runs there. */
function removeCgroup(name: string): void {
  const all = (): string[] => {
    const out: string[] = [];
    const walk = (d: string) => {
      out.push(d);
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    };
    for (const d of cgroupDirs(name)) walk(d);
    return out.sort((a, b) => b.length - a.length);
  };
  for (const d of all()) {
    for (const pid of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  for (let i = 0; i < 50 && all().length; i++) {
    for (const d of all()) {
      try {
        rmdirSync(d);
      } catch {
        // still busy: tasks exiting
      }
    }
    if (all().length) spawnSync('sleep', ['0.1']);
  }
  assert.deepEqual(all(), [], `cgroup ${name} removed`);
}

interface Node {
  root: string;
  installDir: string;
  fakeLog: string;
  cgroup: string;
  addVersion(v: string): void;
  switchTo(v: string): void;
  starts(): number[];
  terms(): number[];
}

function fakeNode(t: { after(fn: () => void): void }): Node {
  const root = mkdtempSync(join(tmpdir(), 'vnode-sup-'));
  chmodSync(root, 0o755);
  const installDir = join(root, 'opt/vnode');
  const fakeBin = join(root, 'fake-manager');
  writeFileSync(`${fakeBin}.c`, FAKE_C);
  execFileSync('cc', ['-O1', '-o', fakeBin, `${fakeBin}.c`]);
  const cgroup = `vnt-suptest-${process.pid}/vnode`;
  const fakeLog = join(root, 'fake.log');
  const node: Node = {
    root,
    installDir,
    fakeLog,
    cgroup,
    addVersion(v) {
      mkdirSync(join(installDir, 'versions', v, 'bin'), { recursive: true });
      copyFileSync(SUPERVISE, join(installDir, 'versions', v, 'bin/vnode-supervise'));
      copyFileSync(fakeBin, join(installDir, 'versions', v, 'bin/vnode-manager'));
      chmodSync(join(installDir, 'versions', v, 'bin/vnode-supervise'), 0o755);
      chmodSync(join(installDir, 'versions', v, 'bin/vnode-manager'), 0o755);
    },
    switchTo(v) {
      rmSync(join(installDir, 'current'), { force: true });
      symlinkSync(`versions/${v}`, join(installDir, 'current'));
    },
    starts: () => lines(fakeLog, 'start'),
    terms: () => lines(fakeLog, 'term'),
  };
  t.after(() => {
    const pid = runningSupervisor(new HostRoot('/'), join(root, 'run/supervisor.pid'));
    if (pid) process.kill(pid, 'SIGKILL');
    removeCgroup(cgroup.split('/')[0]!);
    rmSync(root, { recursive: true, force: true });
  });
  return node;
}

function lines(file: string, what: string): number[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith(`${what} `)).map((l) => Number(l.split(' ')[1]));
  } catch {
    return [];
  }
}

async function until<T>(what: string, f: () => T | undefined | false, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function config(n: Node) {
  return parseInstallerConfig({
    hostRoot: '/',
    installDir: n.installDir,
    manager: { mode: 'child', runDir: join(n.root, 'run'), stateDir: join(n.root, 'state'), cgroup: { name: n.cgroup, memoryMax: '1073741824', pidsMax: '4096', cpuWeight: 50 } },
  });
}
const cni = { vnodeConfDir: '/nonexistent/vnode.d', binDir: '/nonexistent/bin' };

/** A node with version v1 installed as `current`, its config, and FAKE_LOG set for the stand-in manager. */
function installedNode(t: { after(fn: () => void): void }) {
  const n = fakeNode(t);
  n.addVersion('v1');
  n.switchTo('v1');
  process.env.FAKE_LOG = n.fakeLog;
  t.after(() => delete process.env.FAKE_LOG);
  return { n, cfg: config(n), host: new HostRoot('/') };
}

test('the supervisor leaves its cgroup for its own, detaches, and restarts a killed manager within a second', { skip }, async (t) => {
  const { n, cfg, host } = installedNode(t);

  const s = await ensureSupervisor(cfg, host, cni);
  assert.ok(s && !s.adopted);
  const launch = supervisorLaunch(cfg, host, cni)!;
  assert.equal(runningSupervisor(host, launch.pidFile), s.pid, 'the pidfile names it');
  // Detached: not our child, in a session of its own.
  const stat = readFileSync(`/proc/${s.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  assert.notEqual(Number(stat[1]), process.pid, 'not a child of the installer');
  const ourSession = Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[3]);
  assert.notEqual(Number(stat[3]), ourSession, 'a session of its own (setsid), no terminal or process group of ours');
  // Its own cgroup in every hierarchy, with the limits (v1 here; v2 files when the controller is there).
  const own = readFileSync(`/proc/${s.pid}/cgroup`, 'utf8').trim().split('\n');
  const mine = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n');
  assert.equal(own.length, mine.length);
  for (const l of own) assert.ok(l.endsWith(`:/${n.cgroup}`), `moved in every hierarchy: ${l}`);
  const mem = cgroupDirs(n.cgroup).find((d) => existsSync(join(d, 'memory.limit_in_bytes')) || existsSync(join(d, 'memory.max')))!;
  assert.equal(readFileSync(join(mem, existsSync(join(mem, 'memory.max')) ? 'memory.max' : 'memory.limit_in_bytes'), 'utf8').trim(), '1073741824');
  const pids = cgroupDirs(n.cgroup).find((d) => existsSync(join(d, 'pids.max')))!;
  assert.equal(readFileSync(join(pids, 'pids.max'), 'utf8').trim(), '4096');
  const cpu = cgroupDirs(n.cgroup).find((d) => existsSync(join(d, 'cpu.shares')) || existsSync(join(d, 'cpu.weight')))!;
  assert.equal(readFileSync(join(cpu, existsSync(join(cpu, 'cpu.weight')) ? 'cpu.weight' : 'cpu.shares'), 'utf8').trim(), existsSync(join(cpu, 'cpu.weight')) ? '50' : '512');

  const first = await until('the manager', () => n.starts()[0]);
  assert.equal(supervisedManager(s.pid), first);
  assert.equal(runningVersion(first, n.installDir), 'v1');
  // A second supervisor for the same pidfile refuses.
  const again = spawnSync(launch.argv[0]!, launch.argv.slice(1), { encoding: 'utf8', env: launch.env });
  assert.equal(again.status, 3, again.stderr);
  assert.match(again.stderr, new RegExp(`already running \\(pid ${s.pid}`));
  // ensureSupervisor adopts it.
  assert.deepEqual(await ensureSupervisor(cfg, host, cni), { pid: s.pid, adopted: true, restarted: false });

  // kill -9 of the manager: a new one within a second, three times in a row (backoff is capped at 1 s).
  const gaps: number[] = [];
  for (let i = 0; i < 3; i++) {
    const before = n.starts().length;
    const t0 = Date.now();
    process.kill(supervisedManager(s.pid)!, 'SIGKILL');
    await until('a restarted manager', () => n.starts().length > before, 3000);
    gaps.push(Date.now() - t0);
  }
  t.diagnostic(`kill -9 to the next manager's start: ${gaps.join(', ')} ms`);
  assert.ok(gaps.every((g) => g <= 1000), `restarted within a second: ${gaps.join(', ')} ms`);
  // Its output went to the log.
  const logText = readFileSync(launch.logFile, 'utf8');
  assert.match(logText, /fake manager \d+ up/);
  assert.match(logText, /"manager \(pid \d+\) killed by signal 9/);

  // Upgrade: another version becomes current; the next installer's ensureSupervisor restarts the manager into it (SIGHUP).
  n.addVersion('v2');
  n.switchTo('v2');
  const old = supervisedManager(s.pid)!;
  const up = await ensureSupervisor(cfg, host, cni);
  assert.deepEqual(up, { pid: s.pid, adopted: true, restarted: true });
  await until('the old manager to get SIGTERM', () => n.terms().includes(old));
  const next = await until('the new version', () => {
    const m = supervisedManager(s.pid);
    return m && m !== old && runningVersion(m, n.installDir) === 'v2' ? m : undefined;
  });
  assert.ok(next);

  // A changed configuration (a chart value) replaces the supervisor: it keeps what it was started with.
  const changed = parseInstallerConfig({ ...JSON.parse(JSON.stringify({ hostRoot: '/', installDir: n.installDir })), manager: { ...cfg.manager, logLevel: 'debug' } });
  const replaced = (await ensureSupervisor(changed, host, cni))!;
  assert.equal(replaced.adopted, false, 'a new supervisor for the new configuration');
  assert.notEqual(replaced.pid, s.pid);
  assert.ok(!supervisorAlive(s.pid) && n.terms().includes(next), 'the old one and its manager stopped');
  assert.deepEqual(await ensureSupervisor(changed, host, cni), { pid: replaced.pid, adopted: true, restarted: false }, 'the same configuration adopts it');
  s.pid = replaced.pid;
  const last = await until('its manager', () => supervisedManager(s.pid));

  // Stop: SIGTERM to the manager, both gone, pidfile removed.
  assert.equal(await stopSupervisor(host, launch.pidFile), true);
  await until('the manager asked to stop', () => n.terms().includes(last));
  assert.ok(!supervisorAlive(s.pid));
  assert.ok(!existsSync(launch.pidFile));
  assert.equal(await stopSupervisor(host, launch.pidFile), false, 'stopping again is a no-op');
});

test('the supervisor refuses bad arguments with a clear message and starts nothing', { skip }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-sup-args-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[]) => spawnSync(SUPERVISE, args, { encoding: 'utf8' });
  const escape = run(['--pidfile', join(dir, 'p'), '--log', join(dir, 'l'), '--cgroup', '../escape', '--', '/bin/true']);
  assert.equal(escape.status, 2);
  assert.match(escape.stderr, /--cgroup is a name below the hierarchy roots/);
  assert.equal(run(['--pidfile', join(dir, 'p'), '--', '/bin/true']).status, 2, 'no log');
  assert.equal(run(['--pidfile', join(dir, 'p'), '--log', join(dir, 'l'), '--', 'relative']).status, 2, 'a relative manager path');
  const noLog = run(['--pidfile', join(dir, 'p'), '--log', '/nonexistent/dir/log', '--', '/bin/true']);
  assert.equal(noLog.status, 1);
  assert.match(noLog.stderr, /cannot open log \/nonexistent\/dir\/log/);
  assert.ok(!existsSync(join(dir, 'l')));
});

test('a manager never outlives its supervisor: kill -9 of the supervisor stops it, and a new supervisor starts one manager', { skip }, async (t) => {
  const { n, cfg, host } = installedNode(t);
  const s = (await ensureSupervisor(cfg, host, cni))!;
  const m = await until('the manager', () => n.starts()[0]);
  process.kill(s.pid, 'SIGKILL');
  await until('the orphaned manager to get SIGTERM', () => n.terms().includes(m));
  const s2 = (await ensureSupervisor(cfg, host, cni))!;
  assert.ok(!s2.adopted && s2.pid !== s.pid, 'a new supervisor');
  await until('its manager', () => n.starts().length === 2);
  await sleep(300);
  const running = n.starts().filter((p) => !n.terms().includes(p) && existsSync(`/proc/${p}`));
  assert.equal(running.length, 1, `one manager runs: ${running.join(', ')}`);
  await stopSupervisor(host, supervisorLaunch(cfg, host, cni)!.pidFile);
});
