// The installer against a real containerd 1.6 (the bed's, restarted through a systemctl stand-in
// that the installer runs as its `command` restart strategy): install, a second install that
// changes nothing, vnode pods through the installed handler with the manager started as the
// installer starts it, uninstall back to the same bytes, and kill -9 at the points where a run
// leaves the host half changed, each followed by another run. The node's /usr/local/bin is the
// bed's <base>/usr/local/bin, on the bed containerd's PATH: no test touches the real one.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { CriStatusProbe } from '../installer/CriStatusProbe.js';
import { HostRoot } from '../installer/HostRoot.js';
import { loadInstallerConfig } from '../installer/installerConfig.js';
import { managerLaunch } from '../installer/ManagerSupervisor.js';
import { closeUnitAndBed, ContainerdUnit } from './lib/ContainerdUnit.js';
import { e2eSkipReason } from './lib/e2eGate.js';
import { diffSnapshots, snapshotFiles, type Snapshot } from './lib/fileSnapshot.js';
import { snapshotNodePaths } from './lib/hostGuard.js';
import { isAlive, mounts, run, waitFor, type Ran } from './lib/hostState.js';
import { ManagerProcess } from './lib/ManagerProcess.js';
import { REPO_ROOT, TestBed, TREE_DIR } from './lib/TestBed.js';

const skip = e2eSkipReason();
const BASE = '/run/vnt-inst';
const RUN_DIR = join(BASE, 'run/vnode');
const INSTALL_DIR = join(BASE, 'opt/vnode');
const STATE_DIR = join(BASE, 'var/lib/vnode/installer');
const VNODE_CNI_DIR = join(BASE, 'etc/cni/vnode.d');
const CONFIG_FILE = join(BASE, 'installer.yaml');
const SHIM_LINK_DIR = join(BASE, 'usr/local/bin');
const MANAGER_STATE = join(BASE, 'mgr/state');
const JOURNAL = join(STATE_DIR, 'journal.json');

let bed: TestBed;
let unit: ContainerdUnit;
let nodeBefore: Snapshot;
/** The bed before any install (S0), and after a complete install (S1, mtimes not compared). */
let pristine: Snapshot;
let pristineConfig: Buffer;
let installed: Snapshot;

const watched = (opts: { mtime?: boolean } = {}) => snapshotFiles([join(BASE, 'etc'), join(BASE, 'opt'), join(BASE, 'usr'), join(BASE, 'var')], { ...opts, skip: (p) => p === JOURNAL });

before(async () => {
  if (skip) return;
  nodeBefore = snapshotNodePaths();
  // The bed's containerd finds containerd-shim-vnode-v2 where a node's would: on its PATH.
  bed = await TestBed.start({ name: 'inst', subnetIndex: 20, baseDir: BASE, hostLayout: true, env: { VNODE_RUN_DIR: RUN_DIR }, path: [SHIM_LINK_DIR] });
  mkdirSync(SHIM_LINK_DIR, { recursive: true });
  unit = new ContainerdUnit(bed, join(BASE, 'run/containerd-unit.sock'));
  await unit.listen();
  writeFileSync(
    CONFIG_FILE,
    stringify({
      hostRoot: '/',
      stagedTree: TREE_DIR,
      installDir: INSTALL_DIR,
      shimLinkDir: SHIM_LINK_DIR,
      stateDir: STATE_DIR,
      containerd: { flavor: 'containerd', configPath: bed.configPath, binary: '/usr/bin/containerd', socket: bed.socket, root: bed.root },
      runtime: { cniConfDir: VNODE_CNI_DIR },
      restart: { strategy: 'command', command: unit.restartArgv(), timeoutSeconds: 60 },
      readinessTimeoutSeconds: 30,
      drainTimeoutSeconds: 10,
      node: { kubernetes: false },
      // install/uninstall never start it; the vnode pod test starts it as `run` would.
      manager: { mode: 'child', runDir: RUN_DIR, stateDir: MANAGER_STATE, logLevel: 'debug', sharing: { vnodes: { tenant1: ['team-b', 'team-c'] } } },
    }),
  );
  pristine = watched();
  pristineConfig = readFileSync(bed.configPath);
});

after(() => closeUnitAndBed(bed, unit, nodeBefore));

/** The installer as the image runs it: the staged tree's node and entry, the config file. */
function runEntry(op: 'install' | 'uninstall'): Promise<Ran> {
  return run(join(TREE_DIR, 'lib/node'), [join(TREE_DIR, 'lib/app/installer/installerEntry.js'), '--config', CONFIG_FILE, op], { env: { PATH: process.env.PATH, VNODE_LOG_LEVEL: 'warn' } });
}

async function mustRun(op: 'install' | 'uninstall'): Promise<Ran & { report: Record<string, unknown> }> {
  const r = await runEntry(op);
  assert.equal(r.code, 0, `${op} failed:\n${r.stderr}\ncontainerd:\n${bed.tailLog(20)}`);
  return { ...r, report: JSON.parse(r.stdout) as Record<string, unknown> };
}

/** A real installer process paused at STEP:PHASE, then SIGKILLed. */
async function killAt(op: 'install' | 'uninstall', at: string): Promise<void> {
  const p = spawn(process.execPath, [join(REPO_ROOT, 'dist/e2e/lib/installerChild.js'), CONFIG_FILE, op, at], { env: { PATH: process.env.PATH, VNODE_LOG_LEVEL: 'error' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  await Promise.race([
    waitFor(`installer to reach ${op} ${at}`, () => out.includes(`PAUSED ${at}`), 60_000, 20),
    exited.then(() => {
      throw new Error(`installer exited before ${at}: ${out}\n${err}`);
    }),
  ]);
  p.kill('SIGKILL');
  await exited;
}

async function handlers(): Promise<string[]> {
  return new CriStatusProbe(bed.socket).runtimeHandlers();
}

/** containerd's CRI config for the vnode handler, as CRI Status (verbose) reports it. */
async function vnodeRuntime(): Promise<Record<string, unknown> | undefined> {
  const { info } = await bed.cri.status(true);
  const cfg = JSON.parse(info.config!) as { containerd: { runtimes: Record<string, Record<string, unknown>> } };
  return cfg.containerd.runtimes.vnode;
}

function configParses(): void {
  const r = spawnSync('containerd', ['--config', bed.configPath, 'config', 'dump'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `containerd cannot load ${bed.configPath}: ${r.stderr}`);
}

async function runcPodRuns(): Promise<void> {
  const { podId, containerId } = await bed.runPod({ name: `runc-${Date.now() % 100000}`, handler: 'runc' });
  const r = await bed.cri.execSync(containerId, ['echo', 'ok']);
  assert.equal(r.stdout, 'ok\n');
  await bed.cri.stopPodSandbox(podId);
  await bed.cri.removePodSandbox(podId);
}

function assertInstalled(): void {
  assert.deepEqual(diffSnapshots(installed, watched()), [], 'the host is exactly as after a complete install');
}
function assertPristine(): void {
  assert.deepEqual(diffSnapshots(pristine, watched()), [], 'the host is exactly as before any install');
  assert.ok(readFileSync(bed.configPath).equals(pristineConfig), "containerd's config has its original bytes");
}

test('install: one containerd restart, CRI lists the vnode handler with its own CNI dir; runc pods still run', { skip, timeout: 120_000 }, async () => {
  assert.ok(!(await handlers()).includes('vnode'));
  const r = await mustRun('install');
  process.stdout.write(`# install took ${r.ms.toFixed(0)} ms (CRI ready ${String(r.report.readyMs)} ms after the restart)\n`);
  assert.equal(unit.restarts, 1, 'containerd restarted exactly once');
  assert.deepEqual(r.report.changed, ['tree', 'cniBin', 'shimLink', 'cliLink', 'cniDir', 'config', 'restart']);

  const vn = await vnodeRuntime();
  assert.ok(vn, 'CRI Status (verbose) lists the vnode handler');
  assert.equal(vn.runtimeType, 'io.containerd.vnode.v2');
  assert.equal(vn.runtimePath, join(INSTALL_DIR, 'current/bin/containerd-shim-vnode-v2'));
  assert.equal(vn.cniConfDir, VNODE_CNI_DIR, 'its own CNI conf dir');
  assert.deepEqual(vn.PodAnnotations, ['vnode.loft.sh/*'], "the tenant annotation reaches the pods' specs");
  const cri = JSON.parse((await bed.cri.status(true)).info.config!) as { cni: { confDir: string } };
  assert.equal(cri.cni.confDir, bed.cniConfDir, "the default network keeps the host's dir");

  // The chain: the host network with vnode-cni last; the plugin linked where containerd looks.
  const chain = JSON.parse(readFileSync(join(VNODE_CNI_DIR, '10-vnode.conflist'), 'utf8')) as { name: string; plugins: { type: string; capabilities?: unknown }[] };
  assert.deepEqual(chain.plugins.map((p) => p.type), ['bridge', 'vnode-cni']);
  assert.deepEqual(chain.plugins[1]!.capabilities, { 'io.kubernetes.cri.pod-annotations': true }, 'vnode-cni is given the pod annotations');
  assert.equal(readlinkSync(join(bed.cniBinDir, 'vnode-cni')), join(INSTALL_DIR, 'current/bin/vnode-cni'));
  // containerd 1.6 starts the sandbox's shim by name from its PATH, not from runtime_path.
  assert.equal(readlinkSync(join(SHIM_LINK_DIR, 'containerd-shim-vnode-v2')), join(INSTALL_DIR, 'current/bin/containerd-shim-vnode-v2'));
  assert.ok(existsSync(join(INSTALL_DIR, 'current/bin/containerd-shim-vnode-v2')));
  installed = watched();
  await runcPodRuns();
});

test('install again: nothing written, no restart', { skip, timeout: 60_000 }, async () => {
  const before = watched({ mtime: true });
  const cfgBytes = readFileSync(bed.configPath);
  const r = await mustRun('install');
  assert.deepEqual(r.report.changed, []);
  assert.equal(r.report.restarted, false);
  assert.equal(unit.restarts, 1, 'no second restart');
  assert.deepEqual(diffSnapshots(before, watched({ mtime: true })), [], 'every file the installer touches: same bytes, same mtime');
  assert.ok(readFileSync(bed.configPath).equals(cfgBytes));
});

test('vnode pods through the installed handler: busybox in a vNode, ExecSync, the tenant annotation, a hostNetwork pod', { skip, timeout: 120_000 }, async (t) => {
  // The manager as the installer's `run` starts it (managerLaunch): the installed binary, with
  // the run/state dirs, the CNI chain dir it keeps, containerd's CNI bin dir and the admin's shared vNodes.
  const cfg = loadInstallerConfig(CONFIG_FILE);
  const launch = managerLaunch(cfg, new HostRoot('/'), { vnodeConfDir: VNODE_CNI_DIR, binDir: bed.cniBinDir })!;
  assert.deepEqual(launch.env, {
    VNODE_RUN_DIR: RUN_DIR,
    VNODE_STATE_DIR: MANAGER_STATE,
    VNODE_CNI_CONF_DIR: VNODE_CNI_DIR,
    VNODE_CNI_BIN_DIR: bed.cniBinDir,
    VNODE_LOG_LEVEL: 'debug',
    VNODE_VNODE_MODE: 'namespace',
    VNODE_CPU_BUDGET: '0.25',
    VNODE_METRICS_ENABLED: 'true',
    VNODE_METRICS_ADDRESS: '127.0.0.1',
    VNODE_METRICS_PORT: '9713',
    VNODE_SHARED_VNODES: JSON.stringify({ tenant1: ['team-b', 'team-c'] }),
  });
  const manager = new ManagerProcess(RUN_DIR, MANAGER_STATE, launch.env, launch.argv[0]);
  await manager.start();
  const uidMap = async (id: string) => (await bed.cri.execSync(id, ['cat', '/proc/self/uid_map'])).stdout.trim().split(/\s+/).map(Number);
  try {
    const a = await bed.runPod({ name: 'vn1', namespace: 'team-a', handler: 'vnode' });
    const r = await bed.cri.execSync(a.containerId, ['sh', '-c', 'echo hello from $(hostname) as $(id -u)']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^hello from \S+ as 0\n$/);
    const ma = await uidMap(a.containerId);
    assert.equal(ma[0], 0);
    assert.ok(ma[1]! >= 65536 && ma[2] === 65536, `root of a vNode's own 65536-id range, not the host's: ${ma.join(' ')}`);

    // The installer's sharing config reaches the manager: team-b and team-c share tenant1 (one
    // without the annotation, one naming it through both ways the installer wires: the CNI
    // capability and pod_annotations); team-a naming it is refused and leaves nothing.
    const tenant = { 'vnode.loft.sh/name': 'tenant1' };
    const b = await bed.runPod({ name: 'vn2', namespace: 'team-b', handler: 'vnode' });
    const c = await bed.runPod({ name: 'vn3', namespace: 'team-c', handler: 'vnode', annotations: tenant });
    const [mb, mc] = [await uidMap(b.containerId), await uidMap(c.containerId)];
    assert.deepEqual(mb, mc, 'two namespaces the admin put in one shared vNode share it');
    assert.notEqual(mb[1], ma[1], "and it is not team-a's");
    await assert.rejects(bed.runPod({ name: 'vn4', namespace: 'team-a', handler: 'vnode', annotations: tenant }), /may not join it/);

    // hostNetwork: the vNode's own netns, given the host network by the manager from the chain dir.
    const pb = bed.podConfig({ name: 'vnhost', namespace: 'team-a', hostNetwork: true, privileged: true });
    const podConfig = pb.build();
    mkdirSync(podConfig.logDirectory as string, { recursive: true });
    const hostPod = await bed.cri.runPodSandbox(podConfig, 'vnode');
    const hid = await bed.cri.createContainer(hostPod, bed.containerConfig({ name: 'main', command: ['sleep', '3600'], privileged: true, namespaceOptions: pb.containerNamespaceOptions() }), podConfig);
    await bed.cri.startContainer(hid);
    assert.deepEqual(await uidMap(hid), ma, "a hostNetwork pod of team-a is in team-a's vNode");
    const ip = await bed.cri.execSync(hid, ['sh', '-c', `ip -4 -o addr; ping -c 1 -W 3 ${bed.gateway}`]);
    assert.equal(ip.exitCode, 0, `the vNode's network reaches the gateway: ${ip.stdout}${ip.stderr}`);
    assert.match(ip.stdout, /inet 10\.210\.20\.\d+\//, 'an address of the host network, set up by the manager');
  } catch (e) {
    t.diagnostic(`manager log:\n${manager.tail(40)}`);
    throw e;
  } finally {
    // While the manager still answers vnode-cni DEL and the shim's delete.
    for (const p of await bed.cri.listPodSandboxes()) {
      if (p.runtimeHandler !== 'vnode') continue;
      await bed.cri.stopPodSandbox(p.id as string);
      await bed.cri.removePodSandbox(p.id as string);
    }
    await manager.stop();
  }
  assert.deepEqual(mounts().filter((m) => m.mountPoint.startsWith(`${RUN_DIR}/`)).map((m) => m.mountPoint), [], "the manager's mounts went with it");
});

test('uninstall: config byte-identical, handler and its CNI dir gone, tree gone, runc pods run', { skip, timeout: 120_000 }, async () => {
  const restarts = unit.restarts;
  const r = await mustRun('uninstall');
  process.stdout.write(`# uninstall took ${r.ms.toFixed(0)} ms\n`);
  assert.equal(unit.restarts, restarts + 1, 'containerd restarted exactly once');
  assert.ok(!(await handlers()).includes('vnode'));
  assert.equal(await vnodeRuntime(), undefined);
  assert.ok(!existsSync(VNODE_CNI_DIR), 'the vnode CNI dir is gone');
  assert.ok(!existsSync(INSTALL_DIR), 'the installed tree is gone');
  assert.ok(!existsSync(join(BASE, 'var/lib/vnode')), 'the journal and the dirs made for it are gone');
  assertPristine();
  await runcPodRuns();
});

// kill -9 of a real installer process where a run leaves the host half changed, then another
// run: install finishes to exactly the installed state, uninstall returns exactly the original.
// The points (the unit tests in installer/Installer.test.ts crash at every step and phase):
//   shimLink:after   links made, no config yet -> uninstall removes exactly the links
//   config:middle    intent journaled, restart owed, files not written -> uninstall
//   restart:middle   config written, containerd restarted, not yet confirmed -> install, uninstall
//   uninstall config:middle  original config back, the restart still owed -> uninstall
//   uninstall cniDir:after   half uninstalled -> install again
// Kills inside the tree copy are the arbitrary-instant test below.
const KILLS: { op: 'install' | 'uninstall'; at: string; then: 'install' | 'uninstall' }[] = [
  { op: 'install', at: 'shimLink:after', then: 'uninstall' },
  { op: 'install', at: 'config:middle', then: 'uninstall' },
  { op: 'install', at: 'restart:middle', then: 'install' },
  { op: 'install', at: 'restart:middle', then: 'uninstall' },
  { op: 'uninstall', at: 'config:middle', then: 'uninstall' },
  { op: 'uninstall', at: 'cniDir:after', then: 'install' },
];

test('kill -9 mid-install or mid-uninstall, then run again: installed fully or not at all', { skip, timeout: 600_000 }, async (t) => {
  for (const k of KILLS) {
    await t.test(`${k.op} killed at ${k.at}, then ${k.then}`, async () => {
      // Start from the state the killed run begins in.
      if (k.op === 'uninstall') await mustRun('install');
      const restarts = unit.restarts;
      await killAt(k.op, k.at);
      configParses();
      const again = await mustRun(k.then);
      assert.ok(unit.restarts - restarts <= 2, `at most the killed run's and this run's restart (${unit.restarts - restarts})`);
      configParses();
      // containerd restarts fine on what is left, and agrees with the files.
      await unit.restart();
      const hs = await handlers();
      if (k.then === 'install') {
        assertInstalled();
        assert.ok(hs.includes('vnode'), `handler present after ${JSON.stringify(again.report.changed)}`);
        await mustRun('uninstall');
      } else {
        assert.ok(!hs.includes('vnode'));
      }
      assertPristine();
    });
  }
});

test('kill -9 of the real entry at arbitrary instants, then uninstall: the original bytes', { skip, timeout: 300_000 }, async () => {
  for (const delayMs of [300, 1500]) {
    const p = spawn(join(TREE_DIR, 'lib/node'), [join(TREE_DIR, 'lib/app/installer/installerEntry.js'), '--config', CONFIG_FILE, 'install'], { stdio: 'ignore', env: { PATH: process.env.PATH, VNODE_LOG_LEVEL: 'error' } });
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    await new Promise((r) => setTimeout(r, delayMs));
    if (p.pid && isAlive(p.pid)) p.kill('SIGKILL');
    await exited;
    configParses();
    await mustRun('uninstall');
    assertPristine();
    await unit.restart();
    assert.ok(!(await handlers()).includes('vnode'), `after a kill at ${delayMs} ms`);
  }
});
