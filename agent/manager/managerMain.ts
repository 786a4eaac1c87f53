// vnode-manager: the long-running coordinator. Serves the launcher socket: vnode-cni, vnode-runc's
// create/start/delete hooks (containerd talks to each pod's stock runc shim directly; the manager
// is not in the task path), the shim's -v/-info and the CLI; runs vnodefs and the seccomp agent.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { writeFileAtomic } from '../common/atomicWrite.js';
import { join } from 'node:path';
import { ID_RANGE_SIZE, loadConfig } from '../common/config.js';
import { collectGarbage, IdleCollector } from '../common/gc.js';
import { configureLogging, logger } from '../common/log.js';
import { VNodeCni } from '../cni/VNodeCni.js';
import { ContainerRegistry } from '../pods/ContainerRegistry.js';
import { RuncHook } from '../pods/runcHook.js';
import { HEALTH_ENTRY, healthLaunch } from './healthLaunch.js';
import { Introspection } from './Introspection.js';
import { managerVersion } from './version.js';
import { introspectLaunch } from './introspectLaunch.js';
import { INTROSPECT_ENTRY } from './introspectionReports.js';
import { managerMetrics } from '../metrics/ManagerMetrics.js';
import { MetricsServer } from '../metrics/MetricsServer.js';
import { STATE_ENTRY, stateLaunch, type StateSizes } from './stateLaunch.js';
import { DeviceNodes } from '../pods/DeviceNodes.js';
import { PodLogViews } from '../pods/PodLogViews.js';
import { VNodePods } from '../pods/VNodePods.js';
import { SeccompAgent } from '../seccomp/SeccompAgent.js';
import { ensureKeeper, type FdKeeper } from '../common/FdKeeper.js';
import { keptListeningSocket } from '../common/keptSocket.js';
import { VnodeFs } from '../vnodefs/VnodeFs.js';
import { containerProcBindings, holderDeathEvents, podEventSink, podHasContainers, seccompTargets, vnodeTeardown } from './ports.js';
import { serveVnodefs } from '../vnodefs/handoverState.js';
import { SysctlPersistence } from '../vnodefs/sysctlPersistence.js';
import { LaunchServer } from '../launch/LaunchServer.js';
import { TREE_BIN } from '../launch/treePaths.js';
import { shimLaunch } from '../shim/shimLaunch.js';
import { VNodeManager } from '../vnode/VNodeManager.js';
import { SharingPolicy } from '../vnode/SharingPolicy.js';
import { VNodePlacement } from '../vnode/VNodePlacement.js';

/** Read by the launcher from <runDir>/features (shim_exec): `rootfs-mounts`, the runc shim may
 * leave a container's overlay to this manager (agent/pods/idmapRootfs.ts, leftRootfsMount). */
export const MANAGER_FEATURES = ['rootfs-mounts'];

/** Counts manager starts on this state dir; returns how many came before this one. */
function countStart(stateDir: string): number {
  const file = join(stateDir, 'manager-starts.json');
  let before = 0;
  try {
    before = Number((JSON.parse(readFileSync(file, 'utf8')) as { starts?: unknown }).starts) || 0;
  } catch {
    // first start, or a torn file: count from here
  }
  writeFileAtomic(file, JSON.stringify({ starts: before + 1 }));
  return before;
}

export async function managerMain(_argv: string[]): Promise<number> {
  const startedAt = Date.now();
  const cfg = loadConfig();
  configureLogging({ level: cfg.logLevel });
  const log = logger('manager');
  mkdirSync(cfg.runDir, { recursive: true, mode: 0o711 });
  mkdirSync(cfg.stateDir, { recursive: true, mode: 0o700 });
  const restarts = countStart(cfg.stateDir);
  // vNodes first: live holders are re-adopted, dead ones cleaned up.
  const vnodes = await VNodeManager.open(cfg, { log: logger('vnode') });

  // The fd keeper (bin/vnode-keeper, started detached if none runs): holds what must outlive this
  // process: the FUSE connection, the seccomp listeners, the sockets launchers and runc connect to.
  let keeper: FdKeeper | undefined;
  try {
    keeper = ensureKeeper(cfg.runDir, join(TREE_BIN, 'vnode-keeper'));
  } catch (e) {
    log.error('no fd keeper: vNode containers will lose /proc, /sys and their intercepted syscalls when this manager exits', { error: (e as Error).message });
  }

  // vnodefs: the per-container /proc and /sys files, bound into every vNode container. Served
  // below, once the running pods' vNodes and start times are registered again.
  let vnodefs: VnodeFs | undefined;
  if (cfg.vnodefs && !existsSync('/dev/fuse'))
    log.error('vnodefs is enabled but this host has no /dev/fuse: containers will see the host\'s /proc and /sys figures and no per-vNode /proc/sys (load the fuse module, or set vnodefs: false to say so)');
  if (cfg.vnodefs && existsSync('/dev/fuse')) {
    const mountpoint = join(cfg.runDir, 'vnodefs');
    mkdirSync(mountpoint, { recursive: true, mode: 0o755 });
    vnodefs = new VnodeFs({ mountpoint, budget: { cpuPerVnode: cfg.budget.cpuPerVnode, windowMs: cfg.budget.windowMs, poolStart: cfg.idPool.start, blockSize: ID_RANGE_SIZE } });
  }
  // The calls between modules are the ports of ports.ts, plugged in here.
  vnodes.onTeardown(vnodeTeardown.vnodefs(vnodefs));
  const placement = new VNodePlacement(cfg.vnodeMode, new SharingPolicy(cfg.sharing.vnodes, cfg.sharing.policyFile));
  const podEvents = podEventSink(cfg.stateDir, log);
  // What a node agent's hostPath of kubelet's pod log root shows: its vNode's pods only.
  const logViews = new PodLogViews(cfg.podLogRoot, join(cfg.runDir, 'logviews'), logger('logviews'), cfg.containerLogDir);
  vnodes.onTeardown(vnodeTeardown.logViews(logViews, log));
  const pods = new VNodePods(
    vnodes,
    placement,
    {
      procBindings: containerProcBindings(vnodefs),
      startReadyDir: join(cfg.runDir, 'start-ready'),
      seccompListener: join(cfg.runDir, 'seccomp.sock'),
      vnodefs,
      cni: cfg.cni,
      devices: new DeviceNodes(cfg.devices.allow),
      // Refusals become Events on the pod.
      refused: podEvents,
      logViews,
      kubeletRoot: cfg.kubeletRoot,
    },
    logger('pods'),
  );

  // The containers vnode-runc's hooks saw; a restarted manager takes up the running ones and
  // lets go of those deleted while it was away (now, and every 30 s for deletes that gave up
  // waiting for it).
  const registry = new ContainerRegistry(cfg.stateDir, logger('containers'));
  const hook = new RuncHook(pods, registry, logger('runc-hook'));
  await hook.reconcile({ adopt: true });
  // /proc/sys values the vNodes wrote, kept across managers (vnodefs/sysctlPersistence.ts).
  const sysctls = vnodefs ? new SysctlPersistence(vnodefs, join(cfg.stateDir, 'vnodefs-sysctl.json'), logger('vnodefs')) : undefined;
  sysctls?.start(vnodes.list());
  if (vnodefs) {
    const how = await serveVnodefs(vnodefs, keeper, join(cfg.stateDir, 'vnodefs-connection.json'), logger('vnodefs'));
    log.info(how === 'adopted' ? 'vnodefs: took over the live FUSE connection' : 'vnodefs: mounted', { mountpoint: vnodefs.mountpoint });
  }
  const reconcileTimer = setInterval(() => void hook.reconcile().catch((e: unknown) => log.error('reconcile failed', { error: (e as Error).message })), 30_000);
  reconcileTimer.unref();
  // The two sockets others connect to are kept too: a launcher or a runc that connects while no
  // manager runs waits in the backlog for the next one (common/keptSocket.ts).
  const seccompSocket = keptListeningSocket(keeper, 'seccomp', join(cfg.runDir, 'seccomp.sock'), log);
  const launchSocket = keptListeningSocket(keeper, 'launch', join(cfg.runDir, 'launch.sock'), log);
  // The seccomp agent: runc hands it every vNode container's notify fd (create and each exec).
  const seccomp = await SeccompAgent.start({
    socketPath: join(cfg.runDir, 'seccomp.sock'),
    listenFd: seccompSocket.fd,
    socketKept: seccompSocket.kept,
    budget: cfg.budget,
    keeper,
    log: logger('seccomp'),
    resolve: seccompTargets(pods, registry, vnodefs),
  });
  seccomp.on('listener', (l) => pods.containerListening(l.containerId, l.pid, l.status));
  // Listeners the previous manager left in the keeper: served again (docs/seccomp.md, "Restarts").
  await seccomp.adopt();
  const launch = new LaunchServer(join(cfg.runDir, 'launch.sock'), logger('launch'));
  launch.handle('containerd-shim-vnode-v2', shimLaunch());
  launch.handle('vnode-runc', hook.handle);
  launch.handle('vnode-cni', new VNodeCni(vnodes, pods, podHasContainers(hook), logger('cni')).handle);
  vnodes.onHolderDeath(holderDeathEvents(pods, podEvents));
  vnodes.onTeardown(vnodeTeardown.seccomp(seccomp));
  const sizes = (): StateSizes => ({
    registry: registry.stats(),
    pods: pods.stats(),
    vnodes: vnodes.stats(),
    seccomp: { connections: seccomp.connections().length },
    launch: { connections: launch.connections },
    ...(vnodefs ? { vnodefs: { ...vnodefs.tableStats(), ...vnodefs.stats() } } : {}),
  });
  // Heap each thread retains after a requested collection (`vnode-state --gc`; bench/churn).
  let mainHeapAfterGcKb = 0;
  const gcAll = (): void => {
    mainHeapAfterGcKb = collectGarbage();
    vnodefs?.requestGc();
    seccomp.requestGc();
  };
  const heapAfterGc = (): Record<string, number> => ({ main: mainHeapAfterGcKb, ...vnodefs?.heapAfterGc(), ...seccomp.heapAfterGc() });
  launch.handle(STATE_ENTRY, stateLaunch(sizes, gcAll, heapAfterGc));
  // After a burst of pod work (the shim, runc and CNI entries of pod starts and stops), collections
  // in every thread once it has been quiet for a second (common/gc.ts, IdleCollector). Health
  // checks and introspection are not work: a probe every few seconds would collect each time.
  const idleGc = new IdleCollector(gcAll);
  const podWork = new Set(['containerd-shim-vnode-v2', 'vnode-runc', 'vnode-cni']);
  launch.onAnswered((entry) => {
    if (podWork.has(entry)) idleGc.touch();
  });
  const metricsLog = logger('metrics');
  let metricsServer: MetricsServer | undefined;
  let metricsError: string | null = null;
  const intro = new Introspection({
    version: managerVersion(),
    startedAt,
    runDir: cfg.runDir,
    stateDir: cfg.stateDir,
    cni: cfg.cni,
    vnodes,
    registry,
    podIdentity: (id) => pods.podIdentity(id),
    seccomp,
    vnodefs,
    sockets: { launch: { path: launch.path, ino: 0 } },
    metricsUrl: () => metricsServer?.url ?? null,
    metricsError: () => metricsError,
  });
  launch.handle(HEALTH_ENTRY, healthLaunch(() => intro.health()));
  launch.handle(INTROSPECT_ENTRY, introspectLaunch(intro));
  await launch.listen(launchSocket.fd, launchSocket.kept);
  intro.setLaunchInode(statSync(launch.path).ino);
  if (cfg.metrics.enabled) {
    const server = new MetricsServer(managerMetrics({ version: managerVersion(), vnodes, registry, seccomp, vnodefs, introspection: intro, tables: sizes, restarts }), metricsLog);
    try {
      await server.listen(cfg.metrics.address, cfg.metrics.port);
      metricsServer = server;
    } catch (e) {
      // Not fatal: pods run without metrics; readiness and `vnode status` report it.
      metricsError = `cannot serve metrics on ${cfg.metrics.address}:${cfg.metrics.port}: ${(e as Error).message}`;
      metricsLog.error(metricsError);
    }
  }
  // What this manager takes that a launcher must not assume of every manager: the runc shim
  // leaves a container's overlay to it (addon/launcher/runc.c, shim_exec). With its pid: a file
  // left by a manager that is gone says nothing.
  writeFileAtomic(join(cfg.runDir, 'features'), `${process.pid} ${MANAGER_FEATURES.join(' ')}\n`, { durable: false });
  log.info('vnode-manager ready', { runDir: cfg.runDir, stateDir: cfg.stateDir, pid: process.pid, vnodes: vnodes.list().length, metrics: metricsServer?.url ?? metricsError });

  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('vnode-manager stopping');
  // Everything that matters outlives this process (state on disk, fds in the keeper, holders), so
  // a step that hangs must not hold up the next manager: 3 s, then exit anyway.
  setTimeout(() => {
    log.warn('vnode-manager stop took over 3 s; exiting anyway');
    exitNow();
  }, 3000).unref();
  const step = async (what: string, fn: () => unknown): Promise<void> => {
    const t0 = performance.now();
    try {
      await fn();
    } catch (e) {
      log.warn('stop step failed', { step: what, error: (e as Error).message });
    }
    const ms = performance.now() - t0;
    if (ms > 200) log.warn('stop step was slow', { step: what, ms: Math.round(ms) });
  };
  clearInterval(reconcileTimer);
  idleGc.stop();
  await step('metrics', () => metricsServer?.close());
  await step('launch', () => launch.close());
  await step('seccomp', () => seccomp.close()); // its listeners stay in the keeper for the next manager
  keeper?.close();
  sysctls?.stop();
  await step('vnodes', () => vnodes.close()); // holders stay up for the next manager
  // vnodefs stays mounted, its connection in the keeper, for the next manager (an uninstall
  // stops the keeper and unmounts it); without a keeper nothing could take it over.
  if (!keeper) await step('vnodefs', () => vnodefs?.unmount());
  exitNow();
}

/**
 * Ends the process at once. process.exit() would wait for every worker thread to stop, and
 * vnodefs' workers sit in blocking reads of a FUSE connection the keeper keeps open for the next
 * manager: nothing would end them before the supervisor's SIGKILL (10-20 s later). Everything of
 * value is on disk or in the keeper by now, which is what a SIGKILL leaves too.
 */
function exitNow(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: SIGKILL of self returned');
}
