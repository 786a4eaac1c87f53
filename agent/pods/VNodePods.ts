// Where pods meet their vNode: vnode-runc's hooks (spec rewrite and idmapped rootfs before runc
// create, the network and /proc/sys binds before runc start, cleanup at runc delete, vNode release
// when the pod's last container is gone; runcHook.ts) and vnode-cni's ADD/DEL (the pod's network
// moved into a netns owned by the vNode's user namespace).
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { chmod, chown, mkdir, rm, stat } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { bindIdmapped, mount, MountConstants, umount2 } from '../../addon/mount.js';
import { cniAdd, cniDel, loadConfList, type CniRun, type ConfList } from '../cni/CniRunner.js';
import { writeFileAtomic } from '../common/atomicWrite.js';
import type { Logger } from '../common/log.js';
import { readMountInfo } from '../common/mountinfo.js';
import { layerVNodeProfile, type OciSeccomp } from '../seccomp/seccompProfile.js';
import { DEFAULT_DEVICE_ALLOW, DeviceRequestError, deviceRequestsOf } from '../spec/DeviceRequests.js';
import { hostNodeAt } from '../spec/hostDeviceOf.js';
import { hostMountResolver } from '../spec/hostMountOf.js';
import { hostNamespacesOf, rewriteSpec, SpecError, type ProcBinding } from '../spec/SpecRewriter.js';
import type { VNode } from '../vnode/VNodeRecord.js';
import { unmountBelow, type VNodeManager } from '../vnode/VNodeManager.js';
import { podFromSpec, VNodePlacementError, type PodIdentity, type VNodePlacement } from '../vnode/VNodePlacement.js';
import type { ContainerRecord } from './ContainerRegistry.js';
import { DeviceNodes } from './DeviceNodes.js';
import type { ContainerLife, CreateContext } from './runcHook.js';

export interface VNodePodsOptions {
  /** vnodefs' files and directories (containerBindings()), when vnodefs runs: the spec rewrite
   * binds those runc accepts; the /proc/sys ones (`inject`) are bound by vnode-inject. */
  procBindings?: ProcBinding[];
  /** The launcher's vnode-inject link, which binds them. */
  launcher?: string;
  /** The vnode handler's CNI config dir and plugin dir, for the vNode's own network. */
  cni?: { confDir: string; binDir: string };
  /** The seccomp listener socket: runc hands it each container's notify fd. */
  seccompListener?: string;
  /** vnodefs, told when a pod starts (uptime counts from there) and which vNode owns which ids
   * (its DMI files and boot_id), and when a vNode is gone. */
  vnodefs?: {
    setStartTime(cgroupPath: string, ms: number): void;
    clearStartTime(cgroupPath: string): void;
    registerVnode(v: { name: string; uidStart: number; size: number }): void;
    forgetVnode(uidStart: number): void;
  };
  /** The devices containers may ask for (the manager's devices.allow); default: the built-in list. */
  devices?: DeviceNodes;
  /** Told of every pod the vNode refuses (placement, devices): a Warning Event on the pod
   * (agent/common/podEventSpool.ts). */
  refused?: (pod: PodIdentity, reason: 'VNodePlacementRefused' | 'VNodeDeviceRefused', message: string) => void;
}

const execFileP = promisify(execFile);

/** Adds search (x) permission for others on dir and every parent that lacks it. */
async function allowTraverse(dir: string): Promise<void> {
  for (let d = dir; d !== '/' && d !== '.'; d = dirname(d)) {
    const st = await stat(d);
    if ((st.mode & 0o001) === 0) await chmod(d, (st.mode & 0o7777) | 0o011);
  }
}

/** The pod's cgroup: the parent of the sandbox's own (cgroupfs paths "/parent/<id>"). */
function podCgroup(spec: { linux: Record<string, unknown> }): string | undefined {
  const p = spec.linux.cgroupsPath;
  if (typeof p !== 'string' || !p.startsWith('/')) return undefined;
  return p.slice(0, p.lastIndexOf('/')) || undefined;
}

export class VNodePods implements ContainerLife {
  private readonly devices: DeviceNodes;

  constructor(
    private readonly vnodes: VNodeManager,
    private readonly placement: VNodePlacement,
    private readonly opts: VNodePodsOptions,
    private readonly log: Logger,
  ) {
    this.devices = opts.devices ?? new DeviceNodes(DEFAULT_DEVICE_ALLOW);
  }

  /**
   * The key of the pod's vNode, decided once per pod: by vnode-cni's ADD, or by the sandbox's
   * Create for a pod without one (hostNetwork). Once the pod is in a vNode, that is its answer.
   */
  placePod(pod: PodIdentity): string {
    try {
      return this.podNetworks.get(pod.sandboxId)?.key ?? this.vnodeOfPod(pod.sandboxId)?.key ?? this.placement.keyFor(pod);
    } catch (e) {
      if (e instanceof VNodePlacementError) this.opts.refused?.(pod, 'VNodePlacementRefused', e.message);
      throw e;
    }
  }

  async prepareCreate(ctx: CreateContext): Promise<void> {
    const t0 = performance.now();
    const specPath = join(ctx.bundle, 'config.json');
    const spec = ctx.spec;
    // vnode-cni's ADD may still be creating the pod's netns; runc create needs it.
    const pendingNetns = ctx.sandbox ? await this.podNetworks.get(ctx.podId)?.netns : undefined;
    // The sandbox brings the pod into its vNode (hostNetwork pods have no CNI ADD to do it);
    // containers find it there.
    const identity = ctx.sandbox ? podFromSpec(ctx.podId, ctx.annotations) : undefined;
    const vnode = identity ? await this.vnodes.getOrCreate(this.placePod(identity), ctx.podId) : this.vnodeOfPod(ctx.podId);
    if (!vnode || vnode.state !== 'ready') throw new SpecError(`pod ${ctx.podId}: its vNode${vnode ? ` (${vnode.key})` : ''} is ${vnode?.state ?? 'gone'}`);
    this.registerWithVnodefs(vnode);
    const podNetns = ctx.sandbox ? (pendingNetns ?? vnode.netns[ctx.podId]) : undefined;
    const host = ctx.sandbox ? hostNamespacesOf(spec) : { hostNetwork: false, hostPID: false, hostIPC: false };
    if (host.hostNetwork) await this.ensureVNodeNetwork(vnode);
    // Devices the container asked for: refused before anything is made, or made as nodes of the
    // vNode's ids (removed by taskGone, which a failed Create runs too).
    const user = (spec.process as { user?: { uid?: number; gid?: number } } | undefined)?.user;
    const devices = ctx.sandbox
      ? []
      : await this.devices.prepare(vnode, ctx.id, deviceRequestsOf(spec, hostNodeAt), { uid: user?.uid ?? 0, gid: user?.gid ?? 0 }).catch((e: unknown) => {
          if (e instanceof DeviceRequestError) this.opts.refused?.(podFromSpec(ctx.podId, ctx.annotations), 'VNodeDeviceRefused', `container ${ctx.annotations['io.kubernetes.cri.container-name'] ?? ctx.id}: ${e.message}`);
          throw e;
        });
    const rewritten = rewriteSpec(spec, ctx.sandbox, host, {
      namespaces: vnode.namespaces,
      idRange: vnode.idRange,
      podNetns,
      procBindings: this.opts.procBindings,
      // The container's sysfs shows the host's devices and firmware (only net/ is per
      // namespace), and its procfs the same kernel: what the host lacks, it lacks.
      hostHas: existsSync,
      hostMountOf: hostMountResolver(),
      seccomp: this.opts.seccompListener
        ? (existing) => layerVNodeProfile(existing as OciSeccomp | undefined, { listenerPath: this.opts.seccompListener!, listenerMetadata: `${vnode.name}/${ctx.id}` })
        : undefined,
      devices,
    });
    // The container's processes run as the vNode's ids: they must be able to pass through the
    // bundle (0700, root's) to their rootfs.
    await allowTraverse(ctx.bundle);
    writeFileAtomic(specPath, JSON.stringify(rewritten));
    await this.idmapRootfs(vnode, ctx.id, join(ctx.bundle, 'rootfs'));
    const cgroup = podCgroup(spec);
    if (ctx.sandbox && cgroup && this.opts.vnodefs) {
      this.opts.vnodefs.setStartTime(cgroup, Date.now());
      this.podCgroups.set(ctx.podId, cgroup);
    }
    if (ctx.sandbox) this.podStarts.set(ctx.podId, Date.now());
    if (identity) this.podNames.set(ctx.podId, { namespace: identity.namespace, name: identity.name });
    this.log.debug('spec rewritten for vNode', { id: ctx.id, podId: ctx.podId, vnode: vnode.name, sandbox: ctx.sandbox, ...host, devices: devices.length, ms: +(performance.now() - t0).toFixed(1) });
  }

  /** A running sandbox found by a restarted manager: uptime, names and vnodefs' owner come back. */
  adoptSandbox(r: ContainerRecord): void {
    const vnode = this.vnodeOfPod(r.podId);
    if (vnode?.state === 'ready') this.registerWithVnodefs(vnode);
    let spec: { linux?: Record<string, unknown>; annotations?: Record<string, string> };
    try {
      spec = JSON.parse(readFileSync(join(r.bundle, 'config.json'), 'utf8')) as typeof spec;
    } catch (e) {
      this.log.warn('cannot read a running sandbox\'s config.json', { podId: r.podId, error: (e as Error).message });
      return;
    }
    const cgroup = podCgroup({ linux: spec.linux ?? {} });
    if (cgroup && this.opts.vnodefs) {
      this.opts.vnodefs.setStartTime(cgroup, r.createdAt);
      this.podCgroups.set(r.podId, cgroup);
    }
    this.podStarts.set(r.podId, r.createdAt);
    const who = podFromSpec(r.podId, spec.annotations ?? {});
    if (who.namespace && who.name) this.podNames.set(r.podId, { namespace: who.namespace, name: who.name });
  }

  /** What vnodefs was told about each vNode: its id range and user namespace, by name. */
  private readonly inVnodefs = new Map<string, { uidStart: number; usernsId: string }>();

  /**
   * Tells vnodefs which vNode owns the ids this pod runs as (its DMI files and boot_id are made
   * from the name), on every Create: a container created after a manager restart finds its vNode
   * registered in the new vnodefs. Repeated only when something changed.
   */
  private registerWithVnodefs(v: VNode): void {
    const fs = this.opts.vnodefs;
    if (!fs) return;
    const usernsId = `userns:${statSync(v.namespaces.user).ino}`;
    const had = this.inVnodefs.get(v.name);
    if (had?.uidStart === v.idRange.uidStart && had.usernsId === usernsId) return;
    fs.registerVnode({ name: v.name, uidStart: v.idRange.uidStart, size: v.idRange.size });
    this.inVnodefs.set(v.name, { uidStart: v.idRange.uidStart, usernsId });
  }

  /** A vNode is gone: vnodefs forgets its owner (its id range will be handed to another vNode,
   * which must not inherit it). Its /proc/sys values go through VNodeManager.onTeardown. */
  private forgetInVnodefs(name: string): void {
    const had = this.inVnodefs.get(name);
    if (!had) return;
    this.inVnodefs.delete(name);
    this.opts.vnodefs?.forgetVnode(had.uidStart);
  }

  /**
   * The container's rootfs owned by the vNode's root without a recursive chown. The runc shim
   * mounted containerd's snapshot at <bundle>/rootfs; it is replaced by the same overlay whose
   * read-only lower layers are bound through idmapped mounts (disk uid 0 shows as the vNode's
   * root) and whose fresh, empty upper and work dirs are chowned: O(layers), whatever the image
   * size. The overlay keeps private clones of its layers, so the idmapped binds are unmounted at
   * once and nothing is left to clean up but the overlay itself, which the runc shim unmounts at
   * Delete as it would its own. A bind rootfs (native snapshotter) gets an idmapped clone of
   * itself stacked on top.
   */
  private async idmapRootfs(vnode: VNode, id: string, target: string): Promise<void> {
    const m = readMountInfo().filter((x) => x.mountPoint === target).pop();
    if (!m) return; // the bundle's rootfs was prepared by the caller, not mounted by the runc shim
    const usernsFd = openSync(vnode.namespaces.user, 'r');
    const dir = join(vnode.dir, 'rootfs', id);
    try {
      if (m.fsType === 'overlay') {
        const opt = (k: string): string | undefined => m.superOptions.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
        const lowers = opt('lowerdir')?.split(':') ?? [];
        const upper = opt('upperdir');
        const work = opt('workdir');
        if (!lowers.length) throw new SpecError(`task ${id}: overlay rootfs without lowerdir`);
        // containerd shortens a long option string with paths relative to a directory it changes
        // into; those cannot be told apart from here.
        if (lowers.some((l) => !l.startsWith('/')) || (upper && !upper.startsWith('/'))) throw new SpecError(`task ${id}: overlay rootfs with relative layer paths (too many layers for one mount option string) is not supported in a vNode`);
        await mkdir(dir, { recursive: true, mode: 0o700 });
        const mapped: string[] = [];
        for (const [i, l] of lowers.entries()) {
          const t = join(dir, `l${i}`);
          await mkdir(t);
          await bindIdmapped(l, t, usernsFd);
          mapped.push(t);
        }
        for (const d of [upper, work]) if (d) await chown(d, vnode.idRange.uidStart, vnode.idRange.gidStart);
        const data = m.superOptions.filter((o) => o !== 'rw' && o !== 'ro').map((o) => (o.startsWith('lowerdir=') ? `lowerdir=${mapped.join(':')}` : o));
        let flags = 0;
        for (const [o, f] of [['ro', MountConstants.MS_RDONLY], ['nosuid', MountConstants.MS_NOSUID], ['nodev', MountConstants.MS_NODEV], ['noexec', MountConstants.MS_NOEXEC]] as const) if (m.options.includes(o)) flags |= f;
        await umount2(target, 0);
        try {
          await mount('overlay', target, 'overlay', flags, data.join(','));
        } catch (e) {
          throw new SpecError(`task ${id}: cannot mount its idmapped rootfs: ${(e as Error).message}`);
        }
        return;
      }
      await bindIdmapped(target, target, usernsFd, { recursive: true });
    } finally {
      closeSync(usernsFd);
      await unmountBelow(dir).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Pod networks vnode-cni's ADD is still setting up: the netns (the sandbox's Create waits for
   * it) and the interface moved into it (the sandbox's Start waits for that). An entry goes when
   * it succeeds; a failed one stays, failing the sandbox, until the pod's CNI DEL.
   */
  private readonly podNetworks = new Map<string, { key: string; netns: Promise<string>; ready: Promise<void> }>();

  trackPodNetwork(podId: string, net: { key: string; netns: Promise<string>; ready: Promise<void> }): void {
    this.podNetworks.set(podId, net);
    net.netns.catch(() => undefined);
    net.ready.then(
      () => {
        if (this.podNetworks.get(podId) === net) this.podNetworks.delete(podId);
      },
      () => undefined,
    );
  }

  /** Resolves once the pod's network is in place; rejects with why it could not be. */
  async podNetworkReady(podId: string): Promise<void> {
    await this.podNetworks.get(podId)?.ready;
  }

  /** Waits for a network setup in flight to end either way, then forgets it. */
  async podNetworkSettled(podId: string): Promise<void> {
    const net = this.podNetworks.get(podId);
    if (!net) return;
    await net.ready.catch(() => undefined);
    if (this.podNetworks.get(podId) === net) this.podNetworks.delete(podId);
  }

  /** The proxy's Start of a pod's sandbox: its network must be in place first. */
  async beforeSandboxStart(podId: string): Promise<void> {
    try {
      await this.podNetworkReady(podId);
    } catch (e) {
      throw new SpecError(`pod ${podId}: its network could not be set up: ${(e as Error).message}`);
    }
  }

  /**
   * Between `runc create` and `runc start` (vnode-runc's hook): the command that binds vnodefs'
   * /proc/sys entries into the container (which runc refuses to do from config.json) and then
   * runs `then` (runc start) in its place: the launcher execs it, no process comes from here.
   * Undefined when there is nothing to bind.
   */
  /** What runs instead of `runc start` (runcHook): undefined when no bind is configured; throws when one is but cannot be made. */
  startCommand(pid: number, then: string[]): { path: string; argv: string[] } | undefined {
    const b = this.opts.procBindings?.filter((x) => x.inject);
    if (!b?.length) return undefined;
    if (!this.opts.launcher) throw new Error('no launcher to inject its /proc binds with');
    if (!(pid > 0) || !then.length) throw new Error(`no container process to inject into (pid ${pid})`);
    return { path: this.opts.launcher, argv: ['vnode-inject', String(pid), ...b.map((x) => `${x.source}=${x.destination}`), '--', ...then] };
  }

  async taskGone(id: string, podId: string): Promise<void> {
    const v = this.vnodeOfPod(podId);
    if (!v) return;
    const dir = join(v.dir, 'rootfs', id);
    await unmountBelow(dir);
    await rm(dir, { recursive: true, force: true });
    await this.devices.release(v, id);
  }

  /**
   * The vNode's own network: the host's pod network (the vnode handler's CNI config without
   * vnode-cni) run into the holder's network namespace, once, for the vNode's hostNetwork pods.
   */
  private async ensureVNodeNetwork(v: VNode): Promise<void> {
    const file = join(v.dir, 'network.json');
    if (existsSync(file) || !this.opts.cni) return;
    const { confDir, binDir } = this.opts.cni;
    const list = loadConfList(confDir, ['vnode-cni']);
    const run = { containerId: `vnode-${v.name}`, netns: v.namespaces.net, ifname: 'eth0', args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'vnode-system', K8S_POD_NAME: v.name } };
    const result = await cniAdd(list, binDir, run);
    // The host's network plugins leave loopback to the runtime.
    await execFileP('nsenter', [`--net=${v.namespaces.net}`, 'ip', 'link', 'set', 'lo', 'up']);
    writeFileSync(file, JSON.stringify({ list, run, result }));
    this.log.info('vNode network attached', { vnode: v.name, network: list.name });
  }

  private async removeVNodeNetwork(v: VNode): Promise<void> {
    const file = join(v.dir, 'network.json');
    if (!existsSync(file) || !this.opts.cni) return;
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { list: ConfList; run: CniRun; result: unknown };
    await cniDel(saved.list, this.opts.cni.binDir, saved.run, saved.result);
    rmSync(file, { force: true });
  }

  /** Pods leaving their vNode now: the proxy says so at the last Delete and again when the pod's
   * runc shim exits, and the two must not race over the vNode's own network. */
  private readonly leaving = new Map<string, Promise<void>>();

  podGone(podId: string): Promise<void> {
    let p = this.leaving.get(podId);
    if (!p) {
      p = this.leave(podId).finally(() => this.leaving.delete(podId));
      this.leaving.set(podId, p);
    }
    return p;
  }

  private async leave(podId: string): Promise<void> {
    this.podStarts.delete(podId);
    this.podNames.delete(podId);
    const cgroup = this.podCgroups.get(podId);
    if (cgroup !== undefined) this.opts.vnodefs?.clearStartTime(cgroup);
    this.podCgroups.delete(podId);
    await this.podNetworkSettled(podId);
    const v = this.vnodeOfPod(podId);
    if (!v) return;
    await this.vnodes.removePodNetns(v.key, podId);
    // The last pod: the vNode's own network goes first, while its netns still exists.
    if (v.pods.length === 1 && v.pods[0] === podId) await this.removeVNodeNetwork(v).catch((e: unknown) => this.log.error('vNode network removal failed', { vnode: v.name, error: (e as Error).message }));
    const r = await this.vnodes.release(v.key, podId);
    if (r.destroyed) this.forgetInVnodefs(v.name);
    this.log.info('pod left its vNode', { podId, vnode: v.name, destroyed: r.destroyed });
  }

  /** When each pod's sandbox was created (sysinfo's uptime counts from there). */
  private readonly podStarts = new Map<string, number>();
  /** The cgroup each pod's start time is registered under in vnodefs (cleared by podGone). */
  private readonly podCgroups = new Map<string, string>();

  /** Each pod's Kubernetes namespace and name, from its sandbox's annotations (`vnode ls`). */
  private readonly podNames = new Map<string, { namespace: string; name: string }>();

  podIdentity(podId: string): { namespace: string; name: string } | undefined {
    return this.podNames.get(podId);
  }

  /** Sizes of the per-pod maps (the manager's state entry). */
  stats(): { podStarts: number; podCgroups: number; podNetworks: number; podNames: number } {
    return { podStarts: this.podStarts.size, podCgroups: this.podCgroups.size, podNetworks: this.podNetworks.size, podNames: this.podNames.size };
  }

  /** The seccomp agent's question for each listener runc hands over: whose container is this? */
  seccompTarget(containerId: string, podId: string | undefined, rootPid: number, fsMountpoint: string | undefined): { vnodeId: string; containerId: string; rootPid: number; fsMountpoint?: string; startedAtMs?: number } | undefined {
    if (!podId) return undefined;
    const v = this.vnodeOfPod(podId);
    if (!v) return undefined;
    const startedAtMs = this.podStarts.get(podId);
    return { vnodeId: v.name, containerId, rootPid, ...(fsMountpoint ? { fsMountpoint } : {}), ...(startedAtMs ? { startedAtMs } : {}) };
  }

  vnodeOfPod(podId: string): VNode | undefined {
    return this.vnodes.list().find((v) => v.pods.includes(podId) || v.netns[podId] !== undefined);
  }
}
