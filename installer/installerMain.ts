// The DaemonSet's entrypoint. `run` (the default): preflight, install, keep the vnode CNI dir in
// step with the host's, run the vnode-manager, and on SIGTERM either uninstall (the DaemonSet is
// being deleted) or leave the host installed for the next pod (a rolling update or a restart).
// `install`, `uninstall`, `preflight` run one action and exit (for hosts without Kubernetes).
import { fileURLToPath } from 'node:url';
import { posix } from 'node:path';
import { configureLogging, logger } from '../agent/common/log.js';
import { mountPointsUnder, readMountInfo, type MountInfo } from '../agent/common/mountinfo.js';
import { CniChainSync } from './cniChain.js';
import { CriStatusProbe } from './CriStatusProbe.js';
import { HostRoot } from './HostRoot.js';
import { HostPathsNotReachable, Installer, type InstallerOptions, type NodeAccess } from './Installer.js';
import { isServerNode, loadInstallerConfig, resolveFlavor, type InstallerConfig } from './installerConfig.js';
import { ensureSupervisor, sharingPolicyFile, stopSupervisor, supervisorAlive } from './ManagerSupervisor.js';
import { KEEPER_PIDFILE, stopKeeper } from '../agent/common/keeperProcess.js';
import { NamespaceSharingWatch } from './NamespaceSharingWatch.js';
import { requestUninstall, uninstallRequested } from './UninstallRequest.js';
import { NodeEvents } from './NodeEvents.js';
import { defaultKubeConfig, NodeLabeler } from './NodeLabeler.js';
import { gatherHostFacts, judgeHost, UnsupportedHostError, type HostFacts } from './preflight.js';
import { CommandRestarter, defaultUnit, NoRestart, NsenterRestarter, runArgv, type ContainerdRestarter, type CriRuntimeProbe } from './restart.js';
import type { KubeConfig } from '@kubernetes/client-node';

const log = logger('installer');

/** The tree this program runs from: <tree>/lib/app/installer/installerMain.js. */
export function ownTree(): string {
  return fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
}

export interface InstallerDeps {
  /** Replace the strategy the config asks for (e.g. the e2e bed's own restart). */
  restarter?: ContainerdRestarter;
  cri?: CriRuntimeProbe;
  /** undefined: from the config (Kubernetes API when node.kubernetes and NODE_NAME are set); null: none. */
  node?: NodeAccess | null;
  kubeConfig?: KubeConfig;
  facts?: HostFacts;
  /** Test hook passed to the Installer (kill -9 tests pause a real run at a step). */
  onStep?: InstallerOptions['onStep'];
}

export interface PreparedInstaller {
  installer: Installer;
  host: HostRoot;
  facts: HostFacts;
  cfg: InstallerConfig;
  cniSync: CniChainSync | undefined;
}

/** Checks the host and builds the Installer the config describes. Throws UnsupportedHostError. */
export async function prepareInstaller(cfg: InstallerConfig, deps: InstallerDeps = {}): Promise<PreparedInstaller> {
  const host = new HostRoot(cfg.hostRoot);
  const fl = resolveFlavor(host, cfg.containerd);
  const missing = host.unreachable([fl.socket]);
  if (missing.length) throw new HostPathsNotReachable(missing);
  // Kernel, cgroup and containerd facts need no write access: in a pod that mounts only the
  // directories it changes, read them through a host process's root (hostPID) instead.
  const factsHost = cfg.hostRoot === '/' || host.unreachable([fl.binary, fl.root, '/sys/fs/cgroup']).length === 0 ? host : new HostRoot(`/proc/${cfg.hostPid}/root`);
  const facts = deps.facts ?? (await gatherHostFacts(factsHost, { containerdBinary: fl.binary, containerdRoot: fl.root }));
  if (!cfg.preflight.skip) {
    const verdict = judgeHost(facts, { allowedCgroups: cfg.preflight.allowedCgroups });
    for (const w of verdict.warnings) log.warn(w);
    if (!verdict.ok) throw new UnsupportedHostError(verdict.problems);
  }
  let restarter = deps.restarter;
  if (!restarter) {
    const s = cfg.restart.strategy === 'auto' ? (cfg.restart.command ? 'command' : 'nsenter') : cfg.restart.strategy;
    if (s === 'command') restarter = new CommandRestarter(cfg.restart.command!, cfg.restart.timeoutSeconds * 1000);
    else if (s === 'nsenter') restarter = new NsenterRestarter(cfg.restart.unit ?? defaultUnit(fl.flavor, isServerNode(host, fl.flavor)), cfg.restart.timeoutSeconds * 1000, 'nsenter', cfg.hostPid);
    else restarter = new NoRestart();
  }
  let node: NodeAccess | undefined;
  if (deps.node !== undefined) node = deps.node ?? undefined;
  else if (cfg.node.kubernetes) {
    const nodeName = process.env.NODE_NAME;
    if (!nodeName) throw new Error('NODE_NAME is not set (the DaemonSet passes spec.nodeName); set node.kubernetes: false to run without the API');
    node = new NodeLabeler(deps.kubeConfig ?? defaultKubeConfig(), { nodeName, readyLabel: cfg.node.readyLabel, readyValue: cfg.node.readyValue, taintKey: cfg.node.taintKey });
  }
  const installer = new Installer({
    host,
    stagedTree: cfg.stagedTree ?? ownTree(),
    installDir: cfg.installDir,
    shimLinkDir: cfg.shimLinkDir,
    stateDir: cfg.stateDir,
    target: { flavor: fl.flavor, configPath: fl.configPath, dropInName: cfg.containerd.dropInName, ...(facts.containerd ? { version: facts.containerd } : {}) },
    runtime: { ...cfg.runtime, cniMaxConfNum: 1 },
    ...(cfg.cni.binDir ? { cniBinDir: cfg.cni.binDir } : {}),
    ...(cfg.cni.hostConfDir ? { hostCniConfDir: cfg.cni.hostConfDir } : {}),
    keepVersions: cfg.keepVersions,
    restarter,
    // The socket is a host path; the pod reaches it through the host root.
    cri: deps.cri ?? new CriStatusProbe(host.path(fl.socket)),
    readinessTimeoutMs: cfg.readinessTimeoutSeconds * 1000,
    drainTimeoutMs: cfg.drainTimeoutSeconds * 1000,
    ...(node ? { node } : {}),
    taintWhileInstalling: cfg.node.taintWhileInstalling,
    ...(deps.onStep ? { onStep: deps.onStep } : {}),
  });
  return { installer, host, facts, cfg, cniSync: undefined };
}

/** What SIGTERM means for this pod. */
async function shouldUninstall(cfg: InstallerConfig, kc: KubeConfig | undefined): Promise<boolean> {
  if (cfg.onTerm !== 'auto') return cfg.onTerm === 'uninstall';
  const ns = process.env.POD_NAMESPACE;
  const ds = process.env.VNODE_DAEMONSET_NAME;
  if (!cfg.node.kubernetes || !ns || !ds) return true;
  try {
    return await uninstallRequested(kc ?? defaultKubeConfig(), ns, ds);
  } catch (e) {
    // Unsure: keeping the host installed never strands a pod; the next pod or an uninstall run cleans up.
    log.warn('cannot tell uninstall from upgrade; keeping vNode installed', { error: (e as Error).message });
    return false;
  }
}

/** How often the run loop checks that the supervisor lives. */
const SUPERVISOR_POLL_MS = 2_000;

export async function installerMain(argv: string[]): Promise<number> {
  const args = [...argv];
  let configFile = process.env.VNODE_INSTALLER_CONFIG;
  const ci = args.indexOf('--config');
  if (ci >= 0) {
    configFile = args[ci + 1];
    args.splice(ci, 2);
  }
  const cmd = args[0] ?? 'run';
  if (!['run', 'install', 'uninstall', 'preflight', 'request-uninstall'].includes(cmd)) {
    process.stderr.write(`usage: vnode-installer [--config FILE] [run|install|uninstall|preflight|request-uninstall [--timeout-seconds N]]\n`);
    return 2;
  }
  const cfg = loadInstallerConfig(configFile);
  configureLogging({ level: process.env.VNODE_LOG_LEVEL ?? 'info' });
  if (cmd === 'request-uninstall') return requestUninstallMain(cfg, args.slice(1));
  let prepared: PreparedInstaller;
  try {
    prepared = await prepareInstaller(cfg, cmd === 'preflight' || cmd === 'uninstall' ? { node: cmd === 'uninstall' ? undefined : null } : {});
  } catch (e) {
    if (e instanceof UnsupportedHostError && cmd !== 'uninstall') {
      log.error(e.message);
      process.stderr.write(`${e.message}\n`);
      // A refused node is not an error to restart on: the pod stays, says why, and does nothing.
      if (cmd === 'run') await new Promise<void>((r) => process.once('SIGTERM', r));
      return cmd === 'run' ? 0 : 3;
    }
    throw e;
  }
  const { installer, host } = prepared;
  switch (cmd) {
    case 'preflight':
      process.stdout.write(`${JSON.stringify(prepared.facts, null, 2)}\nhost supported\n`);
      return 0;
    case 'install':
      process.stdout.write(`${JSON.stringify(await installer.install(), null, 2)}\n`);
      return 0;
    case 'uninstall':
      process.stdout.write(`${JSON.stringify(await installer.uninstall(), null, 2)}\n`);
      return 0;
    default:
      break;
  }

  const events = nodeEvents(cfg);
  const dsRef = daemonSetRef(cfg);
  if (dsRef && (await uninstallRequested(defaultKubeConfig(), dsRef.namespace, dsRef.name).catch(() => false))) {
    // Started after the operator asked for the uninstall (a restart mid-way): finish it, install nothing.
    log.info('uninstall requested on the DaemonSet: uninstalling this node, installing nothing');
    await (events ? events.around('uninstall', () => installer.uninstall()) : installer.uninstall());
    await removeManager(cfg, host);
    await untilStopped();
    return 0;
  }
  const report = events ? await events.around('install', () => installer.install()) : await installer.install();
  events?.startForwarding(host.path(cfg.manager.stateDir));
  const sync = new CniChainSync({ host, hostConfDir: report.cni.hostConfDir, vnodeConfDir: report.cni.vnodeConfDir, rescanMs: cfg.cni.rescanSeconds * 1000 });
  sync.start();
  // Before the manager: it places no pod until the admin's policy is there.
  const policyFile = sharingPolicyFile(cfg);
  const sharing = policyFile ? new NamespaceSharingWatch(defaultKubeConfig(), host, { label: cfg.manager.sharing.namespaceLabel!, file: policyFile }) : undefined;
  await sharing?.start();
  // The manager runs under its supervisor on the host, not as this pod's child (ManagerSupervisor.ts).
  const supervisor = await ensureSupervisor(cfg, host, report.cni);
  if (supervisor) log.info(supervisor.adopted ? 'manager supervisor adopted' : 'manager supervisor started', supervisor);
  // The poll also keeps this process alive until SIGTERM (the supervisor is not our child).
  let poll: NodeJS.Timeout | undefined;
  let askPoll: NodeJS.Timeout | undefined;
  const term = new Promise<'term' | 'supervisor-exit' | 'uninstall-request'>((resolve) => {
    process.once('SIGTERM', () => resolve('term'));
    process.once('SIGINT', () => resolve('term'));
    poll = setInterval(() => {
      if (supervisor && !supervisorAlive(supervisor.pid)) resolve('supervisor-exit');
    }, SUPERVISOR_POLL_MS);
    // The operator's uninstall (helm's pre-delete hook annotates the DaemonSet): act on it now,
    // while the DaemonSet's RBAC still exists.
    if (dsRef) {
      askPoll = setInterval(() => {
        uninstallRequested(defaultKubeConfig(), dsRef.namespace, dsRef.name).then(
          (asked) => asked && resolve('uninstall-request'),
          (e: unknown) => log.debug('cannot read the DaemonSet for an uninstall request', { error: (e as Error).message }),
        );
      }, UNINSTALL_POLL_MS);
    }
  });
  const why = await term;
  clearInterval(poll);
  clearInterval(askPoll);
  if (why === 'supervisor-exit') {
    log.error('the manager supervisor exited; the pod restarts and starts it again', { supervisor: supervisor?.pid });
    await events?.subsystemFailed('vnode-supervise', `the manager's supervisor (pid ${supervisor?.pid}) exited; the installer pod restarts and starts it again`);
    await events?.stop();
    sync.stop();
    await sharing?.stop();
    return 1;
  }
  const uninstall = why === 'uninstall-request' || (await shouldUninstall(cfg, undefined));
  log.info(
    why === 'uninstall-request' ? 'uninstall requested on the DaemonSet: uninstalling this node' : uninstall ? 'SIGTERM: uninstalling' : 'SIGTERM: the DaemonSet stays; vNode and its manager keep running for the next pod',
    { supervisor: supervisor?.pid },
  );
  sync.stop();
  await sharing?.stop();
  await events?.stop();
  if (!uninstall) return 0;
  // The manager runs until containerd no longer lists the handler, so no vNode pod loses it early.
  await (events ? events.around('uninstall', () => installer.uninstall()) : installer.uninstall());
  await removeManager(cfg, host);
  // Uninstalled on request while the DaemonSet still exists: stay (a pod that exited would be
  // restarted by the DaemonSet) until helm deletes it.
  if (why === 'uninstall-request') await untilStopped();
  return 0;
}

const UNINSTALL_POLL_MS = 5_000;

/** The DaemonSet this pod belongs to, when the installer talks to the API. */
function daemonSetRef(cfg: InstallerConfig): { namespace: string; name: string } | undefined {
  const namespace = process.env.POD_NAMESPACE;
  const name = process.env.VNODE_DAEMONSET_NAME;
  return cfg.node.kubernetes && namespace && name ? { namespace, name } : undefined;
}

function untilStopped(): Promise<void> {
  return new Promise((resolve) => {
    const keep = setInterval(() => undefined, 1 << 30);
    const done = () => {
      clearInterval(keep);
      resolve();
    };
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
  });
}

/** After an uninstall: the supervisor and its manager stopped, their mounts and dirs removed. */
async function removeManager(cfg: InstallerConfig, host: HostRoot): Promise<void> {
  const pidFile = posix.join(cfg.manager.runDir, 'supervisor.pid');
  await stopSupervisor(host, pidFile);
  // The manager's fd keeper (bin/vnode-keeper) outlives every manager but not an uninstall: the
  // seccomp listeners it holds go with it.
  await stopKeeper(cfg.manager.runDir, { pidFile: host.path(posix.join(cfg.manager.runDir, KEEPER_PIDFILE)) });
  if (cfg.manager.mode === 'none') return;
  // With vNode gone and no vNode pod left, the manager's own state has nobody to serve. Its FUSE
  // mount (vnodefs) outlives it by design, for a restart; after an uninstall it goes too.
  // (A child manager shares our mount namespace.)
  await unmountInHost(cfg.manager.mode === 'nsenter' ? cfg.hostPid : process.pid, [cfg.manager.runDir, cfg.manager.stateDir]);
  for (const d of [cfg.manager.stateDir, cfg.manager.runDir]) purgeDir(host, d);
}

/** `request-uninstall`: what the chart's pre-delete hook runs (UninstallRequest.ts). */
async function requestUninstallMain(cfg: InstallerConfig, argv: string[]): Promise<number> {
  const ref = daemonSetRef(cfg);
  if (!ref) {
    process.stderr.write('request-uninstall: needs node.kubernetes and POD_NAMESPACE, VNODE_DAEMONSET_NAME in the environment\n');
    return 2;
  }
  const ti = argv.indexOf('--timeout-seconds');
  const timeoutS = ti >= 0 ? Number(argv[ti + 1]) : 600;
  if (!(timeoutS > 0)) {
    process.stderr.write(`request-uninstall: --timeout-seconds must be a positive number\n`);
    return 2;
  }
  try {
    const r = await requestUninstall(defaultKubeConfig(), ref.namespace, ref.name, { readyLabel: cfg.node.readyLabel, timeoutMs: timeoutS * 1000, log: (m) => log.info(m) });
    process.stdout.write(`every node uninstalled vNode (${Math.round(r.waitedMs / 1000)} s)\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`request-uninstall: ${(e as Error).message}\n`);
    return 1;
  }
}

/** Events on this node and its pods, when the installer talks to the API (node.kubernetes). */
function nodeEvents(cfg: InstallerConfig): NodeEvents | undefined {
  const nodeName = process.env.NODE_NAME;
  return cfg.node.kubernetes && nodeName ? NodeEvents.forCluster(defaultKubeConfig(), nodeName) : undefined;
}

/** Lazily unmounts, in the host's mount namespace, every mount below the given host dirs. */
async function unmountInHost(hostPid: number, dirs: string[]): Promise<void> {
  let table: MountInfo[];
  try {
    table = readMountInfo(hostPid);
  } catch (e) {
    log.warn('cannot read the host mount table', { error: (e as Error).message });
    return;
  }
  const points = dirs.flatMap((d) => mountPointsUnder(d, table, { strictlyBelow: true })).sort((a, b) => b.length - a.length);
  for (const m of points) {
    try {
      await runArgv(['nsenter', '--target', String(hostPid), '--mount', '--', 'umount', '-l', m], 10_000);
    } catch (e) {
      log.warn('cannot unmount the manager mount', { path: m, error: (e as Error).message });
    }
  }
}

/** Removes what is inside a host dir, then the dir unless it is a mount point (a hostPath volume). */
function purgeDir(host: HostRoot, dir: string): void {
  for (const name of host.list(dir)) {
    try {
      host.remove(posix.join(dir, name));
    } catch (e) {
      log.warn('cannot remove the manager state', { path: posix.join(dir, name), error: (e as Error).message });
    }
  }
  try {
    host.remove(dir);
  } catch {
    // a mount point: kubelet made it and keeps it
  }
}
