// The manager's life on the host is not the installer pod's: the installer starts (or adopts) a
// vnode-supervise process on the host (addon/launcher/supervise.c), which leaves the pod's cgroup
// for its own (`manager.cgroup`, with limits), detaches, and restarts the manager within a second
// whenever it exits. A plain SIGTERM of the installer pod (a rolling update, a liveness restart, a
// drain) leaves it running: only an uninstall stops it. The next installer pod adopts it, and when
// that pod installed another version, asks it to restart the manager into it (SIGHUP).
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../agent/common/atomicWrite.js';
import { logger } from '../agent/common/log.js';
import { processRunning } from '../agent/common/procState.js';
import type { HostRoot } from './HostRoot.js';
import type { InstallerConfig } from './installerConfig.js';

const log = logger('installer');

export interface SupervisorLaunch {
  argv: string[];
  env: Record<string, string>;
  /** Host path of the supervisor's pidfile (it holds an exclusive lock on it for life). */
  pidFile: string;
  /** Host path of the manager's log (the supervisor writes it, with one rotation). */
  logFile: string;
}

export class SupervisorError extends Error {}

/** PATH of a systemd unit (systemd's default), for the manager in the host's namespaces. */
const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ManagerLaunch {
  argv: string[];
  /** The manager's configuration, as the environment overrides agent/common/config.ts reads. */
  env: Record<string, string>;
}

/**
 * How the installer starts the manager: the installed vnode-manager, in the host's namespaces
 * (nsenter) or in this process's, with the host paths it needs: its run and state dirs, the vnode
 * handler's CNI conf dir (the chain the installer keeps; the manager runs the host network from it
 * for a vNode's own netns) and containerd's CNI bin dir, its log level, vNode mode and metrics
 * endpoint. undefined for mode none.
 */
export function managerLaunch(cfg: InstallerConfig, host: HostRoot, cni: { vnodeConfDir: string; binDir: string }): ManagerLaunch | undefined {
  if (cfg.manager.mode === 'none') return undefined;
  const bin = posix.join(cfg.installDir, 'current/bin/vnode-manager');
  const nsenter = cfg.manager.mode === 'nsenter';
  const argv = nsenter ? ['nsenter', '--target', String(cfg.hostPid), '--mount', '--uts', '--ipc', '--net', '--pid', '--', bin, ...cfg.manager.args] : [host.path(bin), ...cfg.manager.args];
  // The pod's VNODE_RUN_DIR is a pod path (for the probes); the manager gets host paths, seen
  // directly in the host's mount namespace or through the host root in this pod's.
  const at = (p: string) => (nsenter ? p : host.path(p));
  const env = {
    VNODE_RUN_DIR: at(cfg.manager.runDir),
    VNODE_STATE_DIR: at(cfg.manager.stateDir),
    VNODE_CNI_CONF_DIR: at(cni.vnodeConfDir),
    VNODE_CNI_BIN_DIR: at(cni.binDir),
    VNODE_LOG_LEVEL: cfg.manager.logLevel,
    VNODE_VNODE_MODE: cfg.manager.vnodeMode,
    VNODE_CPU_BUDGET: String(cfg.manager.cpuBudget),
    ...(cfg.manager.deviceAllow ? { VNODE_DEVICE_ALLOW: JSON.stringify(cfg.manager.deviceAllow) } : {}),
    VNODE_METRICS_ENABLED: String(cfg.manager.metrics.enabled),
    VNODE_METRICS_ADDRESS: cfg.manager.metrics.address,
    VNODE_METRICS_PORT: String(cfg.manager.metrics.port),
    ...(Object.keys(cfg.manager.sharing.vnodes).length ? { VNODE_SHARED_VNODES: JSON.stringify(cfg.manager.sharing.vnodes) } : {}),
    ...(sharingPolicyFile(cfg) ? { VNODE_SHARING_POLICY_FILE: at(sharingPolicyFile(cfg)!) } : {}),
  };
  return { argv, env };
}

/** The host path of the shared-vNode policy the installer keeps from namespace labels
 * (NamespaceSharingWatch), when it reads them: with the Kubernetes API and a label configured. */
export function sharingPolicyFile(cfg: InstallerConfig): string | undefined {
  return cfg.node.kubernetes && cfg.manager.sharing.namespaceLabel ? posix.join(cfg.manager.stateDir, 'sharing-policy.json') : undefined;
}

/**
 * The manager's whole environment. Nothing of this pod's VNODE_* (the image's VNODE_TREE names the
 * image's tree, not the installed one; VNODE_RUN_DIR is the pod's path for the probes), and in the
 * host's namespaces the host's PATH, not the image's.
 */
export function managerEnv(cfg: InstallerConfig, m: ManagerLaunch, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !k.startsWith('VNODE_')) out[k] = v;
  if (cfg.manager.mode === 'nsenter') out.PATH = HOST_PATH;
  return { ...out, ...m.env };
}


/** How the installer starts the supervisor: managerLaunch's manager behind vnode-supervise. */
export function supervisorLaunch(cfg: InstallerConfig, host: HostRoot, cni: { vnodeConfDir: string; binDir: string }): SupervisorLaunch | undefined {
  const m = managerLaunch(cfg, host, cni);
  if (!m) return undefined;
  const nsenter = cfg.manager.mode === 'nsenter';
  const at = (p: string) => (nsenter ? p : host.path(p));
  const bin = (name: string) => at(posix.join(cfg.installDir, 'current/bin', name));
  const pidFile = posix.join(cfg.manager.runDir, 'supervisor.pid');
  const logFile = cfg.manager.logFile ?? posix.join(cfg.manager.stateDir, 'manager.log');
  const cg = cfg.manager.cgroup;
  const sup = [
    bin('vnode-supervise'),
    '--pidfile', at(pidFile),
    '--log', at(logFile),
    ...(cg ? ['--cgroup', cg.name, ...(cg.memoryMax ? ['--memory-max', cg.memoryMax] : []), ...(cg.pidsMax ? ['--pids-max', cg.pidsMax] : []), ...(cg.cpuWeight ? ['--cpu-weight', String(cg.cpuWeight)] : [])] : []),
    '--',
    bin('vnode-manager'),
    ...cfg.manager.args,
  ];
  // In the host's cgroup namespace too, so the supervisor sees (and moves to) the host's hierarchy.
  const argv = nsenter ? ['nsenter', '--target', String(cfg.hostPid), '--mount', '--uts', '--ipc', '--net', '--pid', '--cgroup', '--', ...sup] : sup;
  return { argv, env: managerEnv(cfg, m), pidFile, logFile };
}

/** The pid in the supervisor's pidfile when that process is alive and is a vnode-supervise of this pidfile. */
export function runningSupervisor(host: HostRoot, pidFile: string, procRoot = '/proc'): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(host.path(pidFile), 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const argv = readFileSync(`${procRoot}/${pid}/cmdline`, 'utf8').split('\0');
    // Pids are reused: it must be a supervisor, and of this pidfile.
    if (posix.basename(argv[0] ?? '') !== 'vnode-supervise') return undefined;
    const i = argv.indexOf('--pidfile');
    if (i < 0 || !(argv[i + 1] ?? '').endsWith(pidFile)) return undefined;
    return pid;
  } catch {
    return undefined;
  }
}

/** The supervised manager's pid (the supervisor's one child running node), if any. */
export function supervisedManager(supervisor: number, procRoot = '/proc'): number | undefined {
  try {
    const kids = readFileSync(`${procRoot}/${supervisor}/task/${supervisor}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return kids[0];
  } catch {
    return undefined;
  }
}

/** The install-tree version the process runs from (its executable under <installDir>/versions/<v>/), if any. */
export function runningVersion(pid: number, installDir: string, procRoot = '/proc'): string | undefined {
  try {
    const exe = readlinkSync(`${procRoot}/${pid}/exe`);
    const m = new RegExp(`^${installDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/versions/([^/]+)/`).exec(exe);
    return m?.[1];
  } catch {
    return undefined;
  }
}

/** Starts the supervisor, or adopts the one that runs; restarts its manager into the installed version when it runs another. */
export async function ensureSupervisor(
  cfg: InstallerConfig,
  host: HostRoot,
  cni: { vnodeConfDir: string; binDir: string },
): Promise<{ pid: number; adopted: boolean; restarted: boolean } | undefined> {
  const l = supervisorLaunch(cfg, host, cni);
  if (!l) return undefined;
  let running = runningSupervisor(host, l.pidFile);
  const specFile = posix.join(cfg.manager.runDir, 'supervisor.spec');
  const spec = launchSpec(l);
  if (running) {
    let was: string | undefined;
    try {
      was = readFileSync(host.path(specFile), 'utf8');
    } catch {
      was = undefined;
    }
    if (was !== spec) {
      // Another command line or configuration (a chart value changed): the supervisor keeps what it
      // was started with, so it is replaced; like an upgrade, its manager's pods are lost.
      log.warn("the running supervisor was started with another configuration: replacing it", { supervisor: running });
      await stopSupervisor(host, l.pidFile);
      running = undefined;
    }
  }
  if (running) {
    const installed = posix.basename(realpathSync(host.path(posix.join(cfg.installDir, 'current'))));
    const manager = supervisedManager(running);
    const version = manager ? runningVersion(manager, host.path(cfg.installDir)) ?? runningVersion(manager, cfg.installDir) : undefined;
    if (version && version !== installed) {
      log.info('the running manager is another version: restarting it into the installed one', { supervisor: running, running: version, installed });
      process.kill(running, 'SIGHUP');
      return { pid: running, adopted: true, restarted: true };
    }
    log.info('adopting the running manager supervisor', { supervisor: running, manager, version });
    return { pid: running, adopted: true, restarted: false };
  }
  for (const d of [cfg.manager.runDir, cfg.manager.stateDir, posix.dirname(l.logFile)]) mkdirSync(host.path(d), { recursive: true });
  log.info('starting vnode-supervise', { argv: l.argv, log: l.logFile });
  const child = spawn(l.argv[0]!, l.argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: l.env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  });
  const pid = Number(out.trim().split('\n').pop());
  if (code !== 0 || !Number.isInteger(pid) || pid <= 0) throw new SupervisorError(`vnode-supervise did not start (exit ${code}): ${err.trim() || out.trim()}`);
  writeFileAtomic(host.path(specFile), spec);
  return { pid, adopted: false, restarted: false };
}

/** What the supervisor is started with, as far as it decides the manager's behaviour: its command
 * line and the VNODE_* and PATH variables (not the pod's own, such as HOSTNAME). */
export function launchSpec(l: SupervisorLaunch): string {
  const env = Object.entries(l.env)
    .filter(([k]) => k.startsWith('VNODE_') || k === 'PATH')
    .sort(([a], [b]) => a.localeCompare(b));
  const from = l.argv[0] === 'nsenter' ? l.argv.indexOf('--') + 1 : 0;
  return `${JSON.stringify({ argv: l.argv.slice(from), env })}\n`;
}

/** Stops the supervisor and its manager (SIGTERM; the manager gets 20 s), waiting for both. */
export async function stopSupervisor(host: HostRoot, pidFile: string, timeoutMs = 30_000): Promise<boolean> {
  const pid = runningSupervisor(host, pidFile);
  if (!pid) return false;
  const manager = supervisedManager(pid);
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  const alive = (p: number | undefined) => p !== undefined && processRunning(p);
  while (Date.now() < deadline && (alive(pid) || alive(manager))) await sleep(50);
  if (alive(pid) || alive(manager)) {
    log.warn('the supervisor did not stop in time: SIGKILL', { supervisor: pid, manager });
    for (const p of [manager, pid]) if (p !== undefined && alive(p)) process.kill(p, 'SIGKILL');
  }
  return true;
}

/** Whether the supervisor is alive; polled by the installer's run loop. */
export function supervisorAlive(pid: number): boolean {
  return processRunning(pid);
}
