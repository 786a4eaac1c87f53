// `npm run local`: brings vNode up on this machine the way a node gets it. A private containerd
// (CRI socket /run/vnode-local/containerd.sock, runtime handler runc) with a node's layout under
// /run/vnode-local; the real installer entry installs vNode onto it (tree, CNI chain, shim link,
// config, one containerd restart, through its `command` strategy and a systemctl stand-in); the
// vnode-manager started as the installer starts it, left running detached; a demo pod in a vNode.
// `npm run local -- down` uninstalls through the installer (containerd's config back to its
// original bytes), stops the manager and containerd, and leaves nothing behind. Both are
// idempotent. `up` prints one line per step with its duration and ends with the CLI command and
// the metrics URL. VNODE_LOCAL_BASE / VNODE_LOCAL_NAME / VNODE_LOCAL_SUBNET move it (the e2e test
// uses another base so it never touches a running local node); VNODE_LOCAL_METRICS_PORT sets the
// manager's metrics port (default 9713; 0 takes a free one).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { checkHealth } from '../agent/cli/health.js';
import { askManager } from '../agent/cli/ManagerClient.js';
import { StatusReportSchema } from '../agent/manager/introspectionReports.js';
import { CriStatusProbe } from '../installer/CriStatusProbe.js';
import { HostRoot } from '../installer/HostRoot.js';
import { loadInstallerConfig } from '../installer/installerConfig.js';
import { ensureSupervisor, runningSupervisor, stopSupervisor, supervisedManager, supervisorLaunch } from '../installer/ManagerSupervisor.js';
import { stopKeeper } from '../agent/common/keeperProcess.js';
import { ContainerdUnit } from './lib/ContainerdUnit.js';
import { processes, waitFor } from './lib/hostState.js';
import { TestBed, TREE_DIR, type TestBedOptions } from './lib/TestBed.js';

const BASE = process.env.VNODE_LOCAL_BASE || '/run/vnode-local';
const NAME = process.env.VNODE_LOCAL_NAME ?? 'local';
const SUBNET = Number(process.env.VNODE_LOCAL_SUBNET ?? 200);
const METRICS_PORT = Number(process.env.VNODE_LOCAL_METRICS_PORT ?? 9713);
const DEFAULT_BASE = '/run/vnode-local';
const at = (p: string) => join(BASE, p);

/** The node's paths, under the base. */
const P = {
  socket: at('containerd.sock'),
  installDir: at('opt/vnode'),
  shimLinkDir: at('usr/local/bin'),
  installerState: at('var/lib/vnode/installer'),
  vnodeCniDir: at('etc/cni/vnode.d'),
  runDir: at('run/vnode'),
  managerState: at('var/lib/vnode'),
  /** What local.ts keeps about the node it brought up. */
  local: at('local'),
};
const CONFIG_FILE = join(P.local, 'installer.yaml');
const ORIGINAL_CONFIG = join(P.local, 'containerd-config.toml.orig');
const STATE_FILE = join(P.local, 'state.json');

interface LocalState {
  podId: string;
  containerId: string;
  managerPid: number;
  supervisorPid: number;
}

function bedOptions(): TestBedOptions {
  return {
    name: NAME,
    subnetIndex: SUBNET,
    baseDir: BASE,
    hostLayout: true,
    socket: P.socket,
    // The launcher containerd runs finds the manager here; the shim link is on containerd's PATH.
    env: { VNODE_RUN_DIR: P.runDir },
    path: [P.shimLinkDir],
  };
}

const say = (line: string) => process.stdout.write(`${line}\n`);

/** The real installer entry, as the image runs it (the staged tree's node), with the local config. */
function runInstaller(op: 'install' | 'uninstall'): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const p = spawn(join(TREE_DIR, 'lib/node'), [join(TREE_DIR, 'lib/app/installer/installerEntry.js'), '--config', CONFIG_FILE, op], {
      env: { PATH: process.env.PATH, VNODE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`installer ${op} exited ${code}:\n${err.trim()}`));
      else resolve(JSON.parse(out) as Record<string, unknown>);
    });
  });
}

/** Runs fn with the bed's containerd owned by a systemctl stand-in the installer's restart command reaches. */
async function withUnit<T>(bed: TestBed, fn: () => Promise<T>): Promise<T> {
  const unit = new ContainerdUnit(bed, at('run/containerd-unit.sock'));
  mkdirSync(at('run'), { recursive: true });
  await unit.listen();
  try {
    return await fn();
  } finally {
    await unit.close();
  }
}

function writeInstallerConfig(bed: TestBed): void {
  const unitArgv = new ContainerdUnit(bed, at('run/containerd-unit.sock')).restartArgv();
  mkdirSync(P.local, { recursive: true });
  writeFileSync(
    CONFIG_FILE,
    stringify({
      hostRoot: '/',
      stagedTree: TREE_DIR,
      installDir: P.installDir,
      shimLinkDir: P.shimLinkDir,
      stateDir: P.installerState,
      containerd: { flavor: 'containerd', configPath: bed.configPath, binary: '/usr/bin/containerd', socket: bed.socket, root: bed.root },
      runtime: { cniConfDir: P.vnodeCniDir },
      restart: { strategy: 'command', command: unitArgv, timeoutSeconds: 60 },
      readinessTimeoutSeconds: 30,
      drainTimeoutSeconds: 20,
      node: { kubernetes: false },
      // Under its supervisor in a cgroup of the node's own (inside the bed's, which down removes).
      manager: { mode: 'child', runDir: P.runDir, stateDir: P.managerState, metrics: { port: METRICS_PORT }, cgroup: { name: `vnt-${NAME}/vnode.slice`, memoryMax: '4294967296', pidsMax: '65536', cpuWeight: 100 } },
    }),
  );
}

/** The manager as the installer's `run` starts it: under vnode-supervise, detached, restarted within a second when it dies. */
async function startManager(cni: { vnodeConfDir: string; binDir: string }): Promise<{ supervisor: number; manager: number; log: string }> {
  const cfg = loadInstallerConfig(CONFIG_FILE);
  const host = new HostRoot('/');
  const s = (await ensureSupervisor(cfg, host, cni))!;
  await waitFor('the vnode-manager to answer', async () => (await checkHealth(P.runDir)).ok, 20_000);
  return { supervisor: s.pid, manager: supervisedManager(s.pid) ?? 0, log: supervisorLaunch(cfg, host, cni)!.logFile };
}

/** Stops the supervisor and its manager, if one runs, and the manager's fd keeper. */
async function stopManager(): Promise<void> {
  const cfg = loadInstallerConfig(CONFIG_FILE);
  const pidFile = supervisorLaunch(cfg, new HostRoot('/'), { vnodeConfDir: P.vnodeCniDir, binDir: '/' })!.pidFile;
  if (runningSupervisor(new HostRoot('/'), pidFile)) await stopSupervisor(new HostRoot('/'), pidFile);
  await stopKeeper(cfg.manager.runDir); // the manager's fd keeper outlives managers, not `down`
}

/** Whether everything `up` makes is there and working; the reason when not. */
async function health(): Promise<{ ok: true; state: LocalState } | { ok: false; why: string }> {
  if (!existsSync(STATE_FILE)) return { ok: false, why: 'no record of a finished up' };
  const state = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as LocalState;
  const bed = TestBed.attach(bedOptions());
  if (!bed.findContainerd()) return { ok: false, why: 'containerd is not running' };
  try {
    if (!(await new CriStatusProbe(bed.socket).runtimeHandlers()).includes('vnode')) return { ok: false, why: 'CRI does not list the vnode handler' };
    const h = await checkHealth(P.runDir);
    if (!h.ok) return { ok: false, why: h.message };
    const pod = (await bed.cri.listPodSandboxes()).find((p) => p.id === state.podId);
    if (pod?.state !== 'SANDBOX_READY') return { ok: false, why: 'the demo pod is not running' };
    return { ok: true, state };
  } catch (e) {
    return { ok: false, why: (e as Error).message };
  } finally {
    bed.cri.close();
  }
}

/** Runs one step of `up` and prints it with its duration: `[n/5] what: N ms; detail`. */
async function step<T>(n: number, what: string, fn: () => Promise<T>, detail: (r: T) => string): Promise<T> {
  const t0 = Date.now();
  const r = await fn();
  say(`[${n}/5] ${what}: ${Date.now() - t0} ms; ${detail(r)}`);
  return r;
}

/** How to look at the node: the CLI (package.json's `vnode` script, or the installer's link) and the metrics URL. */
async function sayAccess(): Promise<void> {
  const env = BASE === DEFAULT_BASE ? '' : `VNODE_LOCAL_BASE=${BASE} `;
  say(`CLI: ${env}npm run vnode -- status   (also ls, inspect REF, doctor; --json for scripts)`);
  say(`     or the installed link: VNODE_RUN_DIR=${P.runDir} ${join(P.shimLinkDir, 'vnode')} status`);
  const st = await askManager(P.runDir, ['status'], StatusReportSchema);
  say(`metrics: ${st.metricsUrl ?? 'not served (vnode status says why)'}`);
  say('remove everything with: npm run local -- down');
}

async function up(): Promise<void> {
  const h = await health();
  if (h.ok) {
    say(`vNode is already up: containerd CRI socket ${P.socket}, demo pod ${h.state.podId.slice(0, 12)}, vnode-manager pid ${h.state.managerPid}`);
    await sayAccess();
    return;
  }
  if (existsSync(BASE) || TestBed.attach(bedOptions()).findContainerd()) {
    say(`found a local node that is not fully up (${h.why}); removing it first`);
    await down();
  }

  // containerd as a node has it: runc only, config.toml, the host network in etc/cni/net.d.
  const bed = await step(1, 'containerd up', () => TestBed.start(bedOptions()), (b) => `handler runc, CRI socket ${b.socket}, log ${b.containerdLog}`);
  try {
    mkdirSync(P.shimLinkDir, { recursive: true });
    mkdirSync(P.local, { recursive: true });
    writeFileSync(ORIGINAL_CONFIG, readFileSync(bed.configPath));
    writeInstallerConfig(bed);

    const report = await step(2, 'install', () => withUnit(bed, () => runInstaller('install')), (r) => `installed vNode ${String(r.version)}: ${JSON.stringify(r.changed)}; containerd restarted once; shim link ${String(r.shimLink)}, CLI link ${String(r.cliLink)}`);
    const manager = await step(3, 'supervisor+manager', () => startManager(report.cni as { vnodeConfDir: string; binDir: string }), (m) => `vnode-manager pid ${m.manager} under vnode-supervise pid ${m.supervisor}, restarted within a second if it dies (log ${m.log})`);
    const { podId, containerId } = await step(
      4,
      'demo pod',
      () =>
        bed.runPod(
          { name: 'demo', namespace: 'default', handler: 'vnode', privileged: true },
          { name: 'demo', command: ['sh', '-c', 'echo vNode demo pod up; exec sleep infinity'], privileged: true },
        ),
      (p) => `pod ${p.podId.slice(0, 12)} (handler vnode, privileged), container ${p.containerId.slice(0, 12)}`,
    );
    const r = await step(5, 'exec', () => bed.cri.execSync(containerId, ['sh', '-c', 'read a b c < /proc/self/uid_map; echo "$(hostname): uid $(id -u), uid_map: $a $b $c"']), (x) => `in the demo pod: ${x.stdout.trim()}`);
    if (r.exitCode !== 0) throw new Error(`exec in the demo pod failed: ${r.stderr}`);
    bed.cri.close();
    writeFileSync(STATE_FILE, JSON.stringify({ podId, containerId, managerPid: manager.manager, supervisorPid: manager.supervisor } satisfies LocalState));
    say(`vNode is up: containerd CRI socket ${bed.socket} (handlers runc, vnode)`);
    await sayAccess();
  } catch (e) {
    process.stderr.write(`local: up failed, removing what it made\n`);
    await down().catch((d: unknown) => process.stderr.write(`local: ${(d as Error).message}\n`));
    throw e;
  }
}

/** Holders of the vNodes the manager recorded (they must all go with the pods). */
function recordedHolders(): number[] {
  const dir = join(P.managerState, 'vnodes');
  const out: number[] = [];
  for (const f of existsSync(dir) ? readdirSync(dir) : []) {
    try {
      const pid = (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { holder?: { pid: number } | null }).holder?.pid;
      if (pid) out.push(pid);
    } catch {
      // a temp file
    }
  }
  return out;
}

async function down(): Promise<void> {
  const bed = TestBed.attach(bedOptions());
  const installed = existsSync(join(P.installerState, 'journal.json'));
  if (!existsSync(BASE) && !bed.findContainerd()) {
    await bed.teardown(); // shared dirs, bridge, cgroups of an interrupted run
    say('no local vNode node; nothing to remove');
    return;
  }
  const holders = recordedHolders();
  const problems: string[] = [];
  try {
    // vNode pods are removed through their manager (CNI DEL, the shim's delete, the vNode's
    // teardown): one that died is started again first, and re-adopts the vNodes from its state.
    if (installed && existsSync(join(P.installDir, 'current/bin/vnode-manager')) && !(await checkHealth(P.runDir)).ok) {
      say('the vnode-manager is not running; starting it to remove the vNode pods');
      await stopManager(); // a hung one, if its supervisor still runs
      await startManager({ vnodeConfDir: P.vnodeCniDir, binDir: bed.cniBinDir });
    }
    if (bed.findContainerd()) {
      // Pods first, while the manager answers vnode-cni DEL and the shim's delete: uninstall drains.
      const pods = await bed.cri.listPodSandboxes();
      await bed.removeAllPods();
      say(`removed ${pods.length} pod(s)`);
    }
    if (installed) {
      const t0 = Date.now();
      const report = await withUnit(bed, () => runInstaller('uninstall'));
      const same = existsSync(ORIGINAL_CONFIG) && readFileSync(bed.configPath).equals(readFileSync(ORIGINAL_CONFIG));
      if (!same) problems.push(`containerd's config ${bed.configPath} is not its original`);
      say(`uninstalled vNode in ${Date.now() - t0} ms: ${JSON.stringify(report.changed)}; containerd's config ${same ? 'has its original bytes' : 'DIFFERS from the original'}`);
    }
  } finally {
    if (existsSync(CONFIG_FILE)) await stopManager();
    await bed.teardown(); // closes its CRI client too
  }
  const strays = holders.filter((pid) => processes().some((p) => p.pid === pid && p.cmdline.startsWith('vnode-holder')));
  for (const pid of strays) process.kill(pid, 'SIGKILL'); // reported below; not left running
  const left = [...bed.leftovers(), ...strays.map((pid) => `vNode holder ${pid} after all pods`), ...problems];
  if (left.length) throw new Error(`left behind: ${left.join(', ')}`);
  say('vNode local node removed');
}

const cmd = process.argv[2] ?? 'up';
const run = cmd === 'down' ? down : cmd === 'up' ? up : undefined;
if (!run) {
  process.stderr.write(`usage: npm run local [-- up|down]\n`);
  process.exit(2);
}
run().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`local: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
