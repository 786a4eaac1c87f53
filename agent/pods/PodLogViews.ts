// A vNode's view of kubelet's pod log root (/var/log/pods, `podLogRoot`): node agents (fluent-bit,
// promtail, vector) mount it with a hostPath and must see their tenant's pods, and nothing of
// another tenant. Each vNode gets a small tmpfs (<runDir>/logviews/<vNode>, shared propagation)
// holding one read-only, idmapped bind per pod of the vNode: `<ns>_<name>_<uid>` as kubelet names
// it, its files owned by the vNode's root (readable by it, as root reads them on a node), never
// writable, no other pod's name. A container whose hostPath is the log root (or a parent of it)
// gets the view there instead, bound rslave: pods that start or go while the agent runs appear
// and vanish under it without a restart.
import { closeSync, existsSync, lstatSync, openSync } from 'node:fs';
import { mkdir, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { bindIdmapped, mount, MountConstants, umount2 } from '../../addon/mount.js';
import type { Logger } from '../common/log.js';
import { isAtOrBelow, isMountPoint } from '../common/mountinfo.js';
import type { OciMount } from '../spec/SpecRewriter.js';
import type { VNode } from '../vnode/VNodeRecord.js';
import { unmountBelow } from '../vnode/VNodeManager.js';

/** containerd's annotation on a sandbox's spec: kubelet's log directory for the pod. */
export const SANDBOX_LOG_DIR_ANNOTATION = 'io.kubernetes.cri.sandbox-log-directory';
const PROPAGATION = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable']);

export class PodLogViews {
  /** podId -> where its log dir is bound in its vNode's view */
  private readonly pods = new Map<string, { vnode: string; target: string }>();

  constructor(
    /** kubelet's pod log root on the host */
    readonly root: string,
    /** where the views live: <runDir>/logviews */
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  viewOf(vnodeName: string): string {
    return join(this.dir, vnodeName);
  }

  /** The vNode's view, mounted (a tmpfs of its own, shared, so binds added later propagate). */
  async ensureView(v: VNode): Promise<string> {
    const view = this.viewOf(v.name);
    if (isMountPoint(view)) return view;
    await mkdir(view, { recursive: true, mode: 0o755 });
    await mount('vnode-logview', view, 'tmpfs', MountConstants.MS_NOSUID | MountConstants.MS_NODEV | MountConstants.MS_NOEXEC, 'mode=0755,size=1m');
    await mount(null, view, null, MountConstants.MS_PRIVATE, null);
    await mount(null, view, null, MountConstants.MS_SHARED, null);
    return view;
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
    this.pods.set(podId, { vnode: v.name, target });
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
    const view = this.viewOf(name);
    if (!existsSync(view)) return;
    await unmountBelow(view);
    await rm(view, { recursive: true, force: true });
  }

  /** Whether a container's mounts need the view (call ensureView before rewriting them). */
  wants(mounts: readonly OciMount[]): boolean {
    return mounts.some((m) => isBind(m) && isAtOrBelow(this.root, m.source ?? ''));
  }

  /**
   * The container's mounts with the vNode's view wherever the log root would show: a bind of the
   * root itself gets the view as its source; a bind of a parent (/var/log) gets the view bound
   * over the root's place below it. Read-only, recursive, rslave.
   */
  rewriteMounts(mounts: readonly OciMount[], vnodeName: string): OciMount[] {
    const view = this.viewOf(vnodeName);
    const out: OciMount[] = [];
    for (const m of mounts) {
      if (!isBind(m) || !isAtOrBelow(this.root, m.source ?? '')) {
        out.push(m);
        continue;
      }
      const asView = (destination: string): OciMount => ({
        destination,
        type: 'bind',
        source: view,
        // nosuid, nodev, noexec as the view's tmpfs has them: in a user namespace runc's read-only
        // remount must repeat a source's locked flags (or fails with EPERM).
        options: [...new Set([...(m.options ?? []).filter((o) => !PROPAGATION.has(o) && o !== 'rw' && o !== 'bind' && o !== 'rbind' && o !== 'suid' && o !== 'dev' && o !== 'exec'), 'rbind', 'ro', 'nosuid', 'nodev', 'noexec', 'rslave'])],
      });
      if (m.source === this.root) out.push(asView(m.destination));
      else out.push(m, asView(join(m.destination, relative(m.source!, this.root))));
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
