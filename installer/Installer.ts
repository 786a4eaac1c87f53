// Install and uninstall as journaled steps:
//   tree     copy the staged tree to <installDir>/versions/<v>, switch `current`
//   cniBin   <cni bin_dir>/vnode-cni -> <installDir>/current/bin/vnode-cni (libcni finds plugins there)
//   shimLink <shimLinkDir>/containerd-shim-vnode-v2 -> <installDir>/current/bin/... (containerd 1.6
//            starts a sandbox's shim by name from its PATH and ignores runtime_path there)
//   cliLink  <shimLinkDir>/vnode -> <installDir>/current/bin/vnode (the operator's CLI on the
//            host's PATH); skipped with a warning when the name is someone else's
//   cniDir   the vnode handler's CNI conf dir: the host network with vnode-cni chained last
//   config   the runtime block in containerd's config (containerdConfig.ts)
//   restart  containerd restarted once, CRI reports the handler
//   label    the node labelled ready (the RuntimeClass schedules only there)
// Uninstall walks them backwards: unlabel and drain the vNode pods, take the block out, restart
// containerd once and wait until CRI no longer lists the handler, then the CNI dir, the link and
// the tree. Every step is idempotent and records what it will touch before touching it, so a run
// killed at any point is finished by the next install or undone by the next uninstall.
import { posix } from 'node:path';
import { isTempName, symlinkAtomic } from '../agent/common/atomicWrite.js';
import { logger, type Logger } from '../agent/common/log.js';
import { planInstall, planRemoval, type ConfigPlan, type ConfigTarget, type FileEdit, type VnodeRuntimeSpec } from './containerdConfig.js';
import { CHAINED_FILE, syncChain, type ChainOptions } from './cniChain.js';
import type { HostRoot } from './HostRoot.js';
import { HostTree } from './HostTree.js';
import { InstallJournal, type StepName } from './InstallJournal.js';
import { waitForHandler, type ContainerdRestarter, type CriRuntimeProbe } from './restart.js';

/** The node in the Kubernetes API (NodeLabeler is the real one; undefined = no API, e.g. local mode). */
export interface NodeAccess {
  setReady(ready: boolean): Promise<boolean>;
  setInstallingTaint(present: boolean): Promise<boolean>;
  /** Asks the API to evict this node's pods of the RuntimeClass; returns how many were asked. */
  evictRuntimePods(runtimeClassName: string): Promise<number>;
}

export type StepPhase = 'before' | 'middle' | 'after';

export interface InstallerOptions {
  host: HostRoot;
  /** Pod path of the staged tree (bin/, lib/, VERSION). */
  stagedTree: string;
  /** Host paths. */
  installDir: string;
  stateDir: string;
  target: ConfigTarget;
  runtime: Omit<VnodeRuntimeSpec, 'runtimePath'>;
  /**
   * A directory on containerd's PATH (host path) that gets a link to the installed shim:
   * containerd 1.6.20 resolves a sandbox's shim by the runtime_type's name (./, $PATH, its own
   * dir) and does not use runtime_path for it.
   */
  shimLinkDir: string;
  /** Overrides of what containerd's config says (host paths). */
  cniBinDir?: string;
  hostCniConfDir?: string;
  chain?: ChainOptions;
  keepVersions?: number;
  restarter: ContainerdRestarter;
  cri: CriRuntimeProbe;
  readinessTimeoutMs?: number;
  node?: NodeAccess;
  taintWhileInstalling?: boolean;
  /** How long uninstall waits for the node's vNode pods to go before it refuses to strand them. */
  drainTimeoutMs?: number;
  /**
   * Test hook, called around every step; throwing (or being killed) there simulates a crash.
   * 'middle' is the dangerous instant: config install after the intent is journaled and before the
   * files are written; config uninstall after the files are restored and before the restart;
   * restart install after the restart and before CRI answers.
   */
  onStep?: (name: StepName, phase: StepPhase, op: 'install' | 'uninstall') => void | Promise<void>;
  log?: Logger;
}

export interface InstallReport {
  version: string;
  changed: StepName[];
  restarted: boolean;
  configPlan: Pick<ConfigPlan, 'mode' | 'file' | 'configVersion' | 'pluginId' | 'notes'>;
  cni: { hostConfDir: string; vnodeConfDir: string; binDir: string };
  /** Host path of the shim link containerd finds by name. */
  shimLink: string;
  /** Host path of the `vnode` CLI link; null when that name was someone else's (left alone). */
  cliLink: string | null;
  /** Milliseconds from the restart command to CRI listing the handler. */
  readyMs?: number;
  /** The version `current` pointed at before, when this run switched it (an upgrade or a rollback). */
  previousVersion?: string;
}

export interface UninstallReport {
  changed: StepName[];
  restarted: boolean;
  evicted: number;
}

/** Thrown by test hooks to stand for a crash: no rollback runs, as after a kill. */
export class SimulatedCrash extends Error {
  constructor(where: string) {
    super(`simulated crash at ${where}`);
    this.name = 'SimulatedCrash';
  }
}

export class InstallRolledBack extends Error {
  constructor(override readonly cause: Error) {
    super(`install rolled back: ${cause.message}`);
    this.name = 'InstallRolledBack';
  }
}

export class HostPathsNotReachable extends Error {
  constructor(readonly paths: string[]) {
    super(`host paths not mounted into this pod: ${paths.join(', ')} (add their directories to the chart's hostPaths, or point the installer's config at mounted ones); nothing was changed`);
    this.name = 'HostPathsNotReachable';
  }
}

export class ForeignFileError extends Error {
  constructor(readonly path: string, readonly found: string) {
    super(`${path} exists and is not vNode's (${found}); vNode will not replace it: remove it, or point the installer at another directory; nothing was changed`);
    this.name = 'ForeignFileError';
  }
}

/** The links the installer owns outside its install dir. */
type LinkStep = Extract<StepName, 'cniBin' | 'shimLink' | 'cliLink'>;
export const SHIM_BINARY = 'containerd-shim-vnode-v2';
export const CLI_BINARY = 'vnode';
const LINK_NAMES: Record<LinkStep, string> = { cniBin: 'vnode-cni', shimLink: SHIM_BINARY, cliLink: CLI_BINARY };

export class DrainTimeout extends Error {
  constructor(readonly handler: string, readonly remaining: number) {
    super(`${remaining} pod sandbox(es) of handler "${handler}" are still on this node; vNode stays installed so they keep their manager`);
    this.name = 'DrainTimeout';
  }
}

export class Installer {
  readonly journal: InstallJournal;
  readonly tree: HostTree;
  private readonly log: Logger;

  constructor(private readonly o: InstallerOptions) {
    this.journal = new InstallJournal(o.host, o.stateDir);
    this.tree = new HostTree(o.host, o.installDir);
    this.log = o.log ?? logger('installer');
  }

  get spec(): VnodeRuntimeSpec {
    return { ...this.o.runtime, runtimePath: posix.join(this.o.installDir, 'current/bin/containerd-shim-vnode-v2') };
  }

  private async hook(name: StepName, phase: StepPhase, op: 'install' | 'uninstall'): Promise<void> {
    await this.o.onStep?.(name, phase, op);
  }

  private backupPath(hostPath: string): string {
    return posix.join(this.o.stateDir, 'backups', `${hostPath.replace(/^\//, '').replace(/\//g, '__')}.orig`);
  }

  private applyEdits(edits: FileEdit[]): void {
    for (const e of edits) {
      const now = this.o.host.readText(e.path);
      if (now !== e.before) throw new Error(`${e.path} changed while the installer was planning; run again`);
      if (e.after === undefined) this.o.host.remove(e.path);
      else this.o.host.writeAtomic(e.path, e.after);
    }
  }

  /** The link a step makes: name in a host dir -> the binary of that name under `current`. */
  private linkOf(step: LinkStep, binDir: string): { link: string; target: string } {
    const name = LINK_NAMES[step];
    return { link: posix.join(step === 'cniBin' ? binDir : this.o.shimLinkDir, name), target: posix.join(this.o.installDir, 'current/bin', name) };
  }

  /** A link is ours when it points into the install dir (any version); anything else is someone else's. */
  private foreign(link: string): string | undefined {
    if (!this.o.host.exists(link)) return undefined;
    const to = this.o.host.readLink(link);
    if (to === undefined) return 'not a symbolic link';
    return to === this.o.installDir || to.startsWith(`${this.o.installDir}/`) ? undefined : `a link to ${to}`;
  }

  private assertNoForeignLinks(binDir: string): void {
    for (const step of ['cniBin', 'shimLink'] as const) {
      const { link } = this.linkOf(step, binDir);
      const found = this.foreign(link);
      if (found) throw new ForeignFileError(link, found);
    }
  }

  /**
   * Makes `link` -> `target` by renaming a new link over it; records the dirs it had to create.
   * The CLI link is a convenience, not part of the runtime: a `vnode` that is someone else's is
   * left alone (and recorded as skipped, so uninstall leaves it too) instead of failing the install.
   */
  private installLink(step: LinkStep, binDir: string): boolean {
    const o = this.o;
    const { link, target } = this.linkOf(step, binDir);
    if (step === 'cliLink') {
      const found = this.foreign(link);
      if (found) {
        this.log.warn('not linking the vnode CLI: the name is taken', { link, found });
        this.journal.started(step, { skipped: found });
        return false;
      }
    }
    const dir = posix.dirname(link);
    const made: string[] = [];
    for (let d = dir; d !== '/' && !o.host.exists(d); d = posix.dirname(d)) made.unshift(d);
    const prev = (this.journal.step(step)?.data.madeDirs as string[] | undefined) ?? [];
    this.journal.started(step, { link, target, madeDirs: [...new Set([...prev, ...made])], ...(step === 'cliLink' ? { skipped: null } : {}) });
    if (o.host.readLink(link) === target) return false;
    const found = this.foreign(link);
    if (found) throw new ForeignFileError(link, found);
    o.host.mkdirp(dir);
    symlinkAtomic(target, o.host.entry(link));
    return true;
  }

  /** Removes the link if it is still ours, temp links of killed runs, and dirs the install made (when empty). */
  private uninstallLink(step: LinkStep): boolean {
    const o = this.o;
    const { link, target, madeDirs } = (this.journal.step(step)?.data ?? {}) as { link?: string; target?: string; madeDirs?: string[] };
    if (!link) return false;
    let removed = false;
    if (o.host.readLink(link) === target) removed = o.host.remove(link);
    const dir = posix.dirname(link);
    for (const n of o.host.list(dir)) if (isTempName(n, posix.basename(link))) o.host.remove(posix.join(dir, n));
    for (const d of [...(madeDirs ?? [])].reverse()) {
      if (!o.host.isDir(d) || o.host.list(d).length !== 0) continue;
      try {
        removed = o.host.remove(d) || removed;
      } catch (e) {
        // A mount point (kubelet's DirectoryOrCreate volume) stays; kubelet owns it.
        this.log.warn('cannot remove a dir the install made', { dir: d, error: (e as Error).message });
      }
    }
    return removed;
  }

  private assertReachable(paths: string[]): void {
    const missing = this.o.host.unreachable([...new Set(paths)]);
    if (missing.length) throw new HostPathsNotReachable(missing);
  }

  async install(): Promise<InstallReport> {
    const o = this.o;
    const j = this.journal;
    {
      const p = planInstall(o.host, o.target, this.spec);
      this.assertReachable([o.installDir, o.stateDir, p.file, ...p.edits.map((e) => e.path), o.cniBinDir ?? p.cni.binDir, o.hostCniConfDir ?? p.cni.confDir, o.runtime.cniConfDir, o.shimLinkDir]);
      this.assertNoForeignLinks(o.cniBinDir ?? p.cni.binDir);
    }
    const interrupted = j.beginOp('install');
    if (interrupted) this.log.warn('finishing an interrupted run', interrupted);
    const changed: StepName[] = [];
    if (o.taintWhileInstalling && o.node) await o.node.setInstallingTaint(true);

    // tree
    await this.hook('tree', 'before', 'install');
    j.started('tree', { installDir: o.installDir });
    const t = this.tree.install(o.stagedTree);
    this.tree.gc(o.keepVersions ?? 1);
    j.done('tree', { version: t.version });
    j.setVersion(t.version);
    if (t.copied || t.switched) changed.push('tree');
    await this.hook('tree', 'after', 'install');

    // The config plan also tells where containerd's CNI lives.
    const plan = planInstall(o.host, o.target, this.spec);
    const binDir = o.cniBinDir ?? plan.cni.binDir;
    const hostConfDir = o.hostCniConfDir ?? plan.cni.confDir;

    // cniBin, shimLink, cliLink
    for (const step of ['cniBin', 'shimLink', 'cliLink'] as const) {
      await this.hook(step, 'before', 'install');
      if (this.installLink(step, binDir)) changed.push(step);
      j.done(step);
      await this.hook(step, 'after', 'install');
    }

    // cniDir
    await this.hook('cniDir', 'before', 'install');
    j.started('cniDir', { hostConfDir, vnodeConfDir: o.runtime.cniConfDir });
    const sync = syncChain(o.host, hostConfDir, o.runtime.cniConfDir, o.chain);
    if (sync.error) this.log.warn('host CNI config not usable yet; the sync loop retries', { error: sync.error });
    if (!sync.source) this.log.warn('the host has no CNI network config yet; vNode pods wait for it', { hostConfDir });
    if (sync.changed) changed.push('cniDir');
    j.done('cniDir');
    await this.hook('cniDir', 'after', 'install');

    // config
    await this.hook('config', 'before', 'install');
    const files = [...new Set([plan.file, ...plan.edits.map((e) => e.path), ...((j.step('config')?.data.files as string[] | undefined) ?? [])])];
    j.started('config', { files, target: o.target });
    for (const e of plan.edits) {
      if (e.before !== undefined && !o.host.exists(this.backupPath(e.path))) o.host.writeAtomic(this.backupPath(e.path), e.before, 0o600);
    }
    if (plan.edits.length) j.setPendingRestart('present');
    await this.hook('config', 'middle', 'install');
    this.applyEdits(plan.edits);
    if (plan.edits.length) changed.push('config');
    j.done('config');
    await this.hook('config', 'after', 'install');

    // restart
    await this.hook('restart', 'before', 'install');
    j.started('restart', {});
    let restarted = false;
    let readyMs: number | undefined;
    if (j.pendingRestart === 'present' || j.step('restart')?.data.ok !== true) {
      this.log.info('restarting containerd', { how: o.restarter.describe() });
      try {
        await o.restarter.restart();
        restarted = true;
        await this.hook('restart', 'middle', 'install');
        readyMs = await waitForHandler(o.cri, this.spec.handler, true, { timeoutMs: o.readinessTimeoutMs ?? 120_000 });
      } catch (e) {
        if (e instanceof SimulatedCrash) throw e;
        // containerd did not come back with the handler: never leave a node like that.
        this.log.error('containerd not ready with the vnode handler; rolling back', { error: (e as Error).message });
        j.endOp();
        await this.uninstall().catch((u: unknown) => this.log.error('rollback failed', { error: (u as Error).message }));
        throw new InstallRolledBack(e as Error);
      }
      j.setPendingRestart(undefined);
      changed.push('restart');
    } else {
      // No change: containerd should have the handler already; a short check says so.
      readyMs = await waitForHandler(o.cri, this.spec.handler, true, { timeoutMs: o.readinessTimeoutMs ?? 120_000 });
    }
    j.done('restart', { ok: true });
    await this.hook('restart', 'after', 'install');

    // label
    await this.hook('label', 'before', 'install');
    j.started('label', {});
    if (o.node) {
      if (await o.node.setReady(true)) changed.push('label');
      if (o.taintWhileInstalling) await o.node.setInstallingTaint(false);
    }
    j.done('label');
    await this.hook('label', 'after', 'install');

    j.endOp();
    const report: InstallReport = {
      version: t.version,
      changed,
      restarted,
      configPlan: { mode: plan.mode, file: plan.file, configVersion: plan.configVersion, pluginId: plan.pluginId, notes: plan.notes },
      cni: { hostConfDir, vnodeConfDir: o.runtime.cniConfDir, binDir },
      shimLink: this.linkOf('shimLink', binDir).link,
      cliLink: j.step('cliLink')?.data.skipped ? null : this.linkOf('cliLink', binDir).link,
      ...(readyMs !== undefined ? { readyMs } : {}),
      ...(t.switched && t.previous && t.previous !== t.version ? { previousVersion: t.previous } : {}),
    };
    this.log.info('vNode installed', report);
    return report;
  }

  async uninstall(): Promise<UninstallReport> {
    const o = this.o;
    const j = this.journal;
    const links = (['cniBin', 'shimLink', 'cliLink'] as const).map((s) => j.step(s)?.data.link).filter((l): l is string => typeof l === 'string');
    this.assertReachable([o.installDir, o.stateDir, o.runtime.cniConfDir, o.target.configPath, ...links, ...((j.step('config')?.data.files as string[] | undefined) ?? [])]);
    const interrupted = j.beginOp('uninstall');
    if (interrupted) this.log.warn('undoing after an interrupted run', interrupted);
    const changed: StepName[] = [];
    let restarted = false;
    let evicted = 0;
    const had = (s: StepName) => j.step(s) !== undefined;

    // label: no new vNode pods here, and the ones running are drained while their manager lives.
    if (had('label') || had('restart')) {
      await this.hook('label', 'before', 'uninstall');
      if (o.node) {
        if (await o.node.setReady(false)) changed.push('label');
        evicted = await o.node.evictRuntimePods(this.spec.handler);
      }
      await this.drain();
      j.forget('label');
      await this.hook('label', 'after', 'uninstall');
    }
    // restart: nothing of its own to undo; config's undo restarts once.
    if (had('restart')) j.forget('restart');

    if (had('config') || j.pendingRestart) {
      await this.hook('config', 'before', 'uninstall');
      const files = (j.step('config')?.data.files as string[] | undefined) ?? [];
      const edits = planRemoval(o.host, o.target, files);
      if (edits.length || j.pendingRestart === 'present') j.setPendingRestart('absent');
      this.applyEdits(edits);
      if (edits.length) changed.push('config');
      if (j.pendingRestart === 'absent') {
        await this.hook('config', 'middle', 'uninstall');
        this.log.info('restarting containerd', { how: o.restarter.describe() });
        await o.restarter.restart();
        restarted = true;
        await waitForHandler(o.cri, this.spec.handler, false, { timeoutMs: o.readinessTimeoutMs ?? 120_000 });
        j.setPendingRestart(undefined);
      }
      for (const f of files) o.host.remove(this.backupPath(f));
      j.forget('config');
      await this.hook('config', 'after', 'uninstall');
    }

    if (had('cniDir')) {
      await this.hook('cniDir', 'before', 'uninstall');
      const dir = (j.step('cniDir')?.data.vnodeConfDir as string | undefined) ?? o.runtime.cniConfDir;
      // Only our file; the dir itself when nothing else is left in it.
      let removed = o.host.remove(posix.join(dir, CHAINED_FILE));
      if (o.host.exists(dir) && o.host.list(dir).length === 0) removed = o.host.remove(dir) || removed;
      if (removed) changed.push('cniDir');
      j.forget('cniDir');
      await this.hook('cniDir', 'after', 'uninstall');
    }

    for (const step of ['cliLink', 'shimLink', 'cniBin'] as const) {
      if (!had(step)) continue;
      await this.hook(step, 'before', 'uninstall');
      if (this.uninstallLink(step)) changed.push(step);
      j.forget(step);
      await this.hook(step, 'after', 'uninstall');
    }

    if (had('tree')) {
      await this.hook('tree', 'before', 'uninstall');
      if (this.tree.removeAll()) changed.push('tree');
      j.forget('tree');
      await this.hook('tree', 'after', 'uninstall');
    }
    o.host.remove(posix.join(o.stateDir, 'backups'));
    j.clear();
    o.host.remove(o.stateDir);
    const report = { changed, restarted, evicted };
    this.log.info('vNode uninstalled', report);
    return report;
  }

  /** Waits until CRI lists no pod sandbox of the handler (when the probe can tell). */
  private async drain(): Promise<void> {
    const count = this.o.cri.podSandboxes?.bind(this.o.cri);
    if (!count) return;
    const deadline = Date.now() + (this.o.drainTimeoutMs ?? 120_000);
    for (;;) {
      let n: number;
      try {
        n = await count(this.spec.handler);
      } catch (e) {
        // containerd down: nothing can be drained now; the pods keep their state for the next run.
        this.log.warn('cannot list pod sandboxes while draining', { error: (e as Error).message });
        n = 0;
      }
      if (n === 0) return;
      if (Date.now() > deadline) throw new DrainTimeout(this.spec.handler, n);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
