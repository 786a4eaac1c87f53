// A vNode's view of kubelet's pod log root (/var/log/pods, `podLogRoot`): node agents (fluent-bit,
// promtail, vector) mount it with a hostPath and must see their tenant's pods, and nothing of
// another tenant. Each vNode gets a small tmpfs (<runDir>/logviews/<vNode>, shared propagation)
// holding one read-only, idmapped bind per pod of the vNode: `<ns>_<name>_<uid>` as kubelet names
// it, its files owned by the vNode's root (readable by it, as root reads them on a node), never
// writable, no other pod's name. A container whose hostPath is the log root (or a parent of it)
// gets the view there instead, bound rslave: pods that start or go while the agent runs appear
// and vanish under it without a restart. kubelet's /var/log/containers (`containerLogDir`) gets a
// view the same way (`<vNode>.containers`, a tmpfs of links): the link kubelet makes for each
// container of the vNode, `<pod>_<ns>_<container>-<id>.log` -> its log under the pod log root,
// made at the container's create and removed at its delete.
import { closeSync, existsSync, lstatSync, openSync, readdirSync } from 'node:fs';
import { mkdir, rm, rmdir, symlink } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { bindIdmapped, mount, MountConstants, umount2 } from '../../addon/mount.js';
import { KUBE_PATH_NAME } from '../common/containerId.js';
import type { Logger } from '../common/log.js';
import { isAtOrBelow, isMountPoint } from '../common/mountinfo.js';
import type { OciMount } from '../spec/SpecRewriter.js';
import type { VNode } from '../vnode/VNodeRecord.js';
import { unmountBelow } from '../vnode/VNodeManager.js';
import { podFromSpec } from '../vnode/VNodePlacement.js';
import { CRI_ANNOTATIONS } from '../common/criAnnotations.js';

const PROPAGATION = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable']);


export class PodLogViews {
  /** podId -> where its log dir is bound in its vNode's view, and the host's log dir */
  private readonly pods = new Map<string, { vnode: string; target: string; logDir: string }>();

  constructor(
    /** kubelet's pod log root on the host */
    readonly root: string,
    /** where the views live: <runDir>/logviews */
    private readonly dir: string,
    private readonly log: Logger,
    /** kubelet's container log dir (/var/log/containers): its links of the vNode's containers
     * only, in a view of its own (`<dir>/<vNode>.containers`). Absent: not viewed. */
    readonly containerRoot?: string,
  ) {}

  viewOf(vnodeName: string): string {
    return join(this.dir, vnodeName);
  }

  containersViewOf(vnodeName: string): string {
    return join(this.dir, `${vnodeName}.containers`);
  }

  /** The vNode's views, each with the host directory it stands for. */
  private views(vnodeName: string): { root: string; view: string }[] {
    return [{ root: this.root, view: this.viewOf(vnodeName) }, ...(this.containerRoot ? [{ root: this.containerRoot, view: this.containersViewOf(vnodeName) }] : [])];
  }

  private async ensureTmpfs(view: string): Promise<string> {
    if (isMountPoint(view)) return view;
    await mkdir(view, { recursive: true, mode: 0o755 });
    await mount('vnode-logview', view, 'tmpfs', MountConstants.MS_NOSUID | MountConstants.MS_NODEV | MountConstants.MS_NOEXEC, 'mode=0755,size=1m');
    await mount(null, view, null, MountConstants.MS_PRIVATE, null);
    await mount(null, view, null, MountConstants.MS_SHARED, null);
    return view;
  }

  /**
   * A container of a pod in the view gets the link kubelet makes for it in /var/log/containers:
   * `<pod>_<namespace>_<container>-<id>.log` -> `<pod log root>/<pod dir>/<container>/<n>.log`
   * (n: the newest attempt's file containerd opened before `runc create`, else 0).
   */
  async addContainer(v: VNode, podId: string, containerId: string, annotations: Record<string, string>): Promise<void> {
    const p = this.pods.get(podId);
    if (!this.containerRoot || !p) return;
    const name = annotations[CRI_ANNOTATIONS.containerName] ?? '';
    const { name: pod, namespace: ns } = podFromSpec(podId, annotations);
    if (![name, pod, ns].every((x) => KUBE_PATH_NAME.test(x))) return;
    const dir = join(p.logDir, name);
    const attempts = existsSync(dir) ? readdirSync(dir).flatMap((f) => (/^\d+\.log$/.test(f) ? [Number.parseInt(f, 10)] : [])) : [];
    const target = join(this.root, basename(p.logDir), name, `${attempts.length ? Math.max(...attempts) : 0}.log`);
    const view = await this.ensureTmpfs(this.containersViewOf(v.name));
    const link = join(view, `${pod}_${ns}_${name}-${containerId}.log`);
    await rm(link, { force: true });
    await symlink(target, link);
  }

  /** A container is gone: its link goes (found by its id, so a restarted manager finds it too). */
  async removeContainer(vnodeName: string, containerId: string): Promise<void> {
    const view = this.containersViewOf(vnodeName);
    if (!this.containerRoot || !existsSync(view)) return;
    for (const f of readdirSync(view)) if (f.endsWith(`-${containerId}.log`)) await rm(join(view, f), { force: true });
  }

  /** The vNode's view, mounted (a tmpfs of its own, shared, so binds added later propagate). */
  async ensureView(v: VNode): Promise<string> {
    if (this.containerRoot) await this.ensureTmpfs(this.containersViewOf(v.name));
    return this.ensureTmpfs(this.viewOf(v.name));
  }

  /**
   * A sandbox joins its vNode: its log directory (a directory of the log root, as kubelet makes
   * it; anything else is not a pod's log dir and is left out) appears in the view. Idempotent (a
   * restarted manager adopts running sandboxes).
   */
  async addPod(v: VNode, podId: string, logDir: string | undefined): Promise<void> {
    if (!logDir || dirname(logDir) !== this.root || !existsSync(logDir)) return;
    // A directory kubelet made, not a link to somewhere else (the bind would follow it).
    if (!lstatSync(logDir).isDirectory()) {
      this.log.warn('pod log dir is not a directory: left out of the view', { podId, logDir });
      return;
    }
    const view = await this.ensureView(v);
    const target = join(view, basename(logDir));
    this.pods.set(podId, { vnode: v.name, target, logDir });
    if (isMountPoint(target)) return;
    await mkdir(target, { recursive: true, mode: 0o755 });
    const usernsFd = openSync(v.namespaces.user, 'r');
    try {
      await bindIdmapped(logDir, target, usernsFd, { recursive: true, readOnly: true });
    } finally {
      closeSync(usernsFd);
    }
    this.log.debug('pod log dir in its vNode view', { podId, vnode: v.name, entry: basename(logDir) });
  }

  /** The pod left its vNode: its entry goes from the view (and from every agent's bind of it). */
  async removePod(podId: string): Promise<void> {
    const p = this.pods.get(podId);
    if (!p) return;
    this.pods.delete(podId);
    await umount2(p.target, MountConstants.MNT_DETACH).catch(() => undefined);
    await rmdir(p.target).catch(() => undefined);
  }

  /** The vNode is gone: its view goes. */
  async dropVnode(name: string): Promise<void> {
    for (const [id, p] of this.pods) if (p.vnode === name) this.pods.delete(id);
    for (const { view } of this.views(name)) {
      if (!existsSync(view)) continue;
      await unmountBelow(view);
      await rm(view, { recursive: true, force: true });
    }
  }

  /** Whether a container's mounts need the views (call ensureView before rewriting them). */
  wants(mounts: readonly OciMount[]): boolean {
    const roots = [this.root, ...(this.containerRoot ? [this.containerRoot] : [])];
    return mounts.some((m) => isBind(m) && roots.some((r) => isAtOrBelow(r, m.source ?? '')));
  }

  /**
   * The container's mounts with the vNode's view wherever the log root would show: a bind of the
   * root itself gets the view as its source; a bind of a parent (/var/log) gets the view bound
   * over the root's place below it. Read-only, recursive, rslave.
   */
  rewriteMounts(mounts: readonly OciMount[], vnodeName: string): OciMount[] {
    const out: OciMount[] = [];
    for (const m of mounts) {
      const covered = isBind(m) ? this.views(vnodeName).filter((r) => isAtOrBelow(r.root, m.source ?? '')) : [];
      if (!covered.length) {
        out.push(m);
        continue;
      }
      const asView = (view: string, destination: string): OciMount => ({
        destination,
        type: 'bind',
        source: view,
        // nosuid, nodev, noexec as the view's tmpfs has them: in a user namespace runc's read-only
        // remount must repeat a source's locked flags (or fails with EPERM).
        options: [...new Set([...(m.options ?? []).filter((o) => !PROPAGATION.has(o) && o !== 'rw' && o !== 'bind' && o !== 'rbind' && o !== 'suid' && o !== 'dev' && o !== 'exec'), 'rbind', 'ro', 'nosuid', 'nodev', 'noexec', 'rslave'])],
      });
      const exact = covered.find((r) => r.root === m.source);
      if (exact) out.push(asView(exact.view, m.destination));
      else out.push(m, ...covered.map((r) => asView(r.view, join(m.destination, relative(m.source!, r.root)))));
    }
    return out;
  }

  stats(): { pods: number } {
    return { pods: this.pods.size };
  }
}

function isBind(m: OciMount): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}
