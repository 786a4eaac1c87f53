// Where pods meet their vNode: vnode-runc's hooks (spec rewrite and idmapped rootfs before runc
// create, the network and /proc/sys binds before runc start, cleanup at runc delete, vNode release
// when the pod's last container is gone; runcHook.ts) and vnode-cni's ADD/DEL (the pod's network
// moved into a netns owned by the vNode's user namespace). VNodePods is the ContainerLife of
// runcHook.ts and composes: PodNetworks.ts (the pod networks vnode-cni's ADD is setting up),
// VNodeNetwork.ts (the vNode's own network for hostNetwork pods), idmapRootfs.ts (the rootfs
// remount), PodFacts.ts (per-pod facts for vnodefs, the seccomp agent and the CLI),
// delegation.ts (a privileged container's cgroup and the pod's emptyDirs for a runtime inside);
// it owns the placement of a pod and its leaving its vNode (leaveVNode, which vnode-cni calls
// too), and hands `runc create` its vNode's pid namespace (runc/vnode-pidns.patch).
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { nsAction, NsOp, type NsActionResult } from '../../addon/nsaction.js';
import { writeFileAtomic } from '../common/atomicWrite.js';
import { readMountInfo } from '../common/mountinfo.js';
import type { Logger } from '../common/log.js';
import { layerVNodeProfile, type OciSeccomp } from '../seccomp/seccompProfile.js';
import { DEFAULT_DEVICE_ALLOW, DeviceRequestError, deviceRequestsOf } from '../spec/DeviceRequests.js';
import { hostNodeAt } from '../spec/hostDeviceOf.js';
import { hostMountResolver } from '../spec/hostMountOf.js';
import { cgroupWritable, hostNamespacesOf, parseSpec, rewriteSpec, SpecError, type OciSpec, type ProcBinding } from '../spec/SpecRewriter.js';
import type { VNode } from '../vnode/VNodeRecord.js';
import { VNodeError, type ReleaseResult, type VNodeManager } from '../vnode/VNodeManager.js';
import { podFromSpec, VNodePlacementError, type PodIdentity, type VNodePlacement } from '../vnode/VNodePlacement.js';
import type { ContainerRecord } from './ContainerRegistry.js';
import { delegateCgroups, ownPodVolumes, podEmptyDirs, type Owner } from './delegation.js';
import { DeviceNodes } from './DeviceNodes.js';
import type { PodLogViews } from './PodLogViews.js';
import { idmapRootfs, leftRootfsMount, mountLeftOverlay, removeIdmapDir } from './idmapRootfs.js';
import { sandboxRootfsAsIs } from './sandboxRootfs.js';
import { PodFacts, podCgroup, type VnodefsPodFacts } from './PodFacts.js';
import { PodNetworks } from './PodNetworks.js';
import type { ContainerLife, CreateContext } from './runcHook.js';
import { ensureVNodeNetwork, removeVNodeNetwork, type VNodeCniDirs } from './VNodeNetwork.js';
import { CRI_ANNOTATIONS } from '../common/criAnnotations.js';

export interface VNodePodsOptions {
  /** The vNodes' views of kubelet's pod log root (node agents' hostPath of /var/log/pods). */
  logViews?: PodLogViews;
  /** vnodefs' files and directories for a container (containerBindings()), when vnodefs runs:
   * the spec rewrite binds those runc accepts; the /proc/sys ones (`inject`, the same for every
   * container, asked for without an id) are bound here, before `runc start` (bindBeforeStart). */
  procBindings?: (containerId?: string) => ProcBinding[];
  /** Where a container's start is marked as needing nothing of the manager (the launcher's
   * `<runDir>/start-ready/<id>`, addon/launcher/runc.c): its /proc/sys binds made during create
   * and no cgroup to delegate. Unset: every start asks the manager. */
  startReadyDir?: string;
  /** How they are bound into a created container (default: the addon's nsAction `overlay`). */
  bindInto?: (pid: number, overlays: [string, string][]) => Promise<NsActionResult>;
  /** The vnode handler's CNI config dir and plugin dir, for the vNode's own network. */
  cni?: VNodeCniDirs;
  /** The seccomp listener socket: runc hands it each container's notify fd. */
  seccompListener?: string;
  /** vnodefs, told when a pod starts (uptime counts from there) and which vNode owns which ids
   * (its DMI files and boot_id), and when a vNode is gone. */
  vnodefs?: VnodefsPodFacts;
  /** kubelet's root directory: a pod's emptyDir volumes below it become its vNode root's (delegation.ts). */
  kubeletRoot?: string;
  /** The devices containers may ask for (the manager's devices.allow); default: the built-in list. */
  devices?: DeviceNodes;
  /** Told of every pod the vNode refuses (placement, devices): a Warning Event on the pod
   * (agent/common/podEventSpool.ts). */
  refused?: (pod: PodIdentity, reason: 'VNodePlacementRefused' | 'VNodeDeviceRefused' | 'VNodeFailed', message: string) => void;
}

/** A container created by this manager and not started yet (VNodePods.notStarted). */
interface NotStarted {
  /** its cgroup is delegated to the vNode's root at start (cgroupWritable) */
  delegate: boolean;
  /** a sandbox: its start waits for the pod's network, it gets no binds */
  sandbox?: boolean;
  /** the init its /proc/sys binds went into, and those binds, once made during its create */
  pid?: number;
  binds?: Promise<void>;
}

/** How a pod leaves its vNode (leaveVNode): what differs between its callers. */
export interface Leaving {
  /** Asked once the pod's netns is gone: whether its reference on the vNode goes too. */
  release: () => boolean;
  /** Each step is tried whatever the one before did, and failures are ignored (the undo of a
   * failed vnode-cni ADD). Otherwise the first failure is thrown. */
  bestEffort?: boolean;
}

/** What the tree's runc reads (runc/vnode-pidns.patch): the pid namespace its stage-1 is cloned in. */
export const VNODE_PIDNS_ENV = '_VNODE_PIDNS';

const vnodeRoot = (v: VNode): Owner => ({ uid: v.idRange.uidStart, gid: v.idRange.gidStart });

/** Adds search (x) permission for others on dir and every parent that lacks it. */
function allowTraverse(dir: string): void {
  // Synchronous: a stat is microseconds, a thread-pool hop per directory cost more (pod start).
  for (let d = dir; d !== '/' && d !== '.'; d = dirname(d)) {
    const st = statSync(d);
    if ((st.mode & 0o001) === 0) chmodSync(d, (st.mode & 0o7777) | 0o011);
  }
}

export class VNodePods implements ContainerLife {
  private readonly devices: DeviceNodes;
  /** Pod networks vnode-cni's ADD is still setting up (it tracks them there). */
  readonly networks = new PodNetworks();
  private readonly facts: PodFacts;
  /** Containers created by this manager and not started yet: whether their cgroup is delegated at
   * start (a container created before a restart is looked up in its config.json instead), and
   * their /proc/sys binds once made early (containerListening). */
  private readonly notStarted = new Map<string, NotStarted>();

  constructor(
    private readonly vnodes: VNodeManager,
    private readonly placement: VNodePlacement,
    private readonly opts: VNodePodsOptions,
    private readonly log: Logger,
  ) {
    this.devices = opts.devices ?? new DeviceNodes(DEFAULT_DEVICE_ALLOW);
    this.facts = new PodFacts(opts.vnodefs);
  }

  /**
   * The key of the pod's vNode, decided once per pod: by vnode-cni's ADD, or by the sandbox's
   * Create for a pod without one (hostNetwork). Once the pod is in a vNode, that is its answer.
   */
  placePod(pod: PodIdentity): string {
    try {
      return this.networks.inFlight(pod.sandboxId)?.key ?? this.vnodeOfPod(pod.sandboxId)?.key ?? this.placement.keyFor(pod);
    } catch (e) {
      if (e instanceof VNodePlacementError) this.opts.refused?.(pod, 'VNodePlacementRefused', e.message);
      throw e;
    }
  }

  async prepareCreate(ctx: CreateContext): Promise<{ env: Record<string, string> }> {
    const t0 = performance.now();
    const specPath = join(ctx.bundle, 'config.json');
    const spec = ctx.spec;
    const procBindings = ctx.sandbox ? undefined : this.opts.procBindings?.(ctx.id);
    // vnode-cni's ADD may still be creating the pod's netns; runc create needs it.
    const pendingNetns = ctx.sandbox ? await this.networks.inFlight(ctx.podId)?.netns : undefined;
    // The sandbox brings the pod into its vNode (hostNetwork pods have no CNI ADD to do it);
    // containers find it there.
    const identity = ctx.sandbox ? podFromSpec(ctx.podId, ctx.annotations) : undefined;
    const vnode = identity
      ? await this.vnodes.getOrCreate(this.placePod(identity), ctx.podId).catch((e: unknown) => {
          // A vNode that lost its holder takes no pod until its pods are gone: the pod says why.
          if (e instanceof VNodeError) this.opts.refused?.(identity, 'VNodeFailed', e.message);
          throw e;
        })
      : this.vnodeOfPod(ctx.podId);
    if (!vnode || vnode.state !== 'ready') throw new SpecError(`pod ${ctx.podId}: its vNode${vnode ? ` (${vnode.key})` : ''} is ${vnode?.state ?? 'gone'}`);
    this.facts.registerWithVnodefs(vnode);
    const podNetns = ctx.sandbox ? (pendingNetns ?? vnode.netns[ctx.podId]) : undefined;
    const host = ctx.sandbox ? hostNamespacesOf(spec) : { hostNetwork: false, hostPID: false, hostIPC: false };
    if (host.hostNetwork) await ensureVNodeNetwork(vnode, this.opts.cni, this.log);
    // Devices the container asked for: refused before anything is made, or made as nodes of the
    // vNode's ids (removed by taskGone, which a failed Create runs too).
    const user = (spec.process as { user?: { uid?: number; gid?: number } } | undefined)?.user;
    const devices = ctx.sandbox
      ? []
      : await this.devices.prepare(vnode, ctx.id, deviceRequestsOf(spec, hostNodeAt), { uid: user?.uid ?? 0, gid: user?.gid ?? 0 }).catch((e: unknown) => {
          if (e instanceof DeviceRequestError) this.opts.refused?.(podFromSpec(ctx.podId, ctx.annotations), 'VNodeDeviceRefused', `container ${ctx.annotations[CRI_ANNOTATIONS.containerName] ?? ctx.id}: ${e.message}`);
          throw e;
        });
    // The pod's own emptyDirs, kubelet's (host root's, 0777), become the vNode root's: a runtime's
    // data root there must be chmod-able (delegation.ts).
    if (!ctx.sandbox && this.opts.kubeletRoot) {
      try {
        const given = ownPodVolumes(podEmptyDirs(spec.mounts ?? [], this.opts.kubeletRoot, podFromSpec(ctx.podId, ctx.annotations).uid), vnodeRoot(vnode));
        if (given.length) this.log.debug('emptyDir volumes given to the vNode root', { id: ctx.id, dirs: given });
      } catch (e) {
        this.log.warn('cannot give a pod\'s emptyDir to its vNode root', { id: ctx.id, podId: ctx.podId, error: (e as Error).message });
      }
    }
    // A sandbox's log directory joins its vNode's view of the pod log root, which a node agent's
    // hostPath of that root (or a parent) shows instead of the host's (PodLogViews.ts).
    if (ctx.sandbox) await this.opts.logViews?.addPod(vnode, ctx.podId, ctx.annotations[CRI_ANNOTATIONS.sandboxLogDirectory]);
    // A container gets its /var/log/containers link in the vNode's view of that directory.
    else await this.opts.logViews?.addContainer(vnode, ctx.podId, ctx.id, ctx.annotations).catch((e: unknown) => this.log.warn('cannot link a container into its vNode\'s container log view', { id: ctx.id, error: (e as Error).message }));
    const tRewrite = performance.now();
    // The host's mount table, read once for the binds' source mounts and the rootfs's mount
    // (it grows with the pods: parsed twice a container, it cost more with every pod).
    const hostMounts = readMountInfo();
    const idmapMarks: number[] = [];
    const rootfs = join(ctx.bundle, 'rootfs');
    // The tree's runc shim leaves containerd's overlay unmounted (shim/vnode-rootfs-mounts.patch):
    // a container's is mounted with idmapped layers at once, with no overlay of containerd's to
    // unmount (which synced the upper's whole file system: 5 ms on an idle disk here, 174 ms with
    // 300 MB dirty); a sandbox's is mounted as containerd's first, for the check below. Those
    // mounts run on the thread pool while this thread rewrites the spec (1-2 ms each, overlapped);
    // a rewrite that fails waits for them, so that the failed create's cleanup finds them done.
    const left = leftRootfsMount(ctx.bundle);
    const mounting = left ? (ctx.sandbox ? mountLeftOverlay(ctx.id, rootfs, left.options) : idmapRootfs(vnode, ctx.id, rootfs, idmapMarks, hostMounts, left)) : undefined;
    let rewritten: OciSpec;
    let tWrite: number;
    try {
      rewritten = rewriteSpec(spec, ctx.sandbox, host, {
        namespaces: vnode.namespaces,
        idRange: vnode.idRange,
        podNetns,
        procBindings,
        // The container's sysfs shows the host's devices and firmware (only net/ is per
        // namespace), and its procfs the same kernel: what the host lacks, it lacks.
        hostHas: existsSync,
        hostMountOf: hostMountResolver(hostMounts),
        seccomp: this.opts.seccompListener
          ? (existing) => layerVNodeProfile(existing as OciSeccomp | undefined, { listenerPath: this.opts.seccompListener!, listenerMetadata: `${vnode.name}/${ctx.id}` })
          : undefined,
        devices,
      });
      if (!ctx.sandbox) {
        this.notStarted.set(ctx.id, { delegate: cgroupWritable(rewritten) });
      }
      const views = this.opts.logViews;
      if (views && views.wants(rewritten.mounts ?? [])) {
        await views.ensureView(vnode);
        rewritten.mounts = views.rewriteMounts(rewritten.mounts ?? [], vnode.name);
      }
      // The container's processes run as the vNode's ids: they must be able to pass through the
      // bundle (0700, root's) to their rootfs.
      tWrite = performance.now();
      allowTraverse(ctx.bundle);
      // Not fsync'd, as containerd writes it: the bundle means nothing after a reboot.
      writeFileAtomic(specPath, JSON.stringify(rewritten), { durable: false });
    } catch (e) {
      await mounting?.catch(() => undefined);
      throw e;
    }
    const tRootfs = performance.now();
    await mounting;
    // The pause process runs its binary and writes nothing: its rootfs stays containerd's when
    // any vNode uid can (sandboxRootfs.ts), saving the remount on RunPodSandbox's path.
    const asIs = ctx.sandbox && sandboxRootfsAsIs(rewritten, rootfs);
    // A container's left overlay was mounted idmapped above; otherwise the mounted rootfs is remounted.
    if (!asIs && (ctx.sandbox || !left)) await idmapRootfs(vnode, ctx.id, rootfs, idmapMarks, left ? readMountInfo() : hostMounts);
    const tEnd = performance.now();
    // A container's own vnodefs files are new names: looked up now on the thread pool, their FUSE
    // LOOKUPs overlap the answer and runc's start-up instead of adding to runc's mount setup, which
    // opens every bind source (the kernel keeps the entries for a minute). Not earlier: queued
    // ahead of the rootfs step's thread-pool calls, they delayed this hook by 1-3 ms.
    if (procBindings) void Promise.all(procBindings.filter((b) => b.own).map((b) => stat(b.source).catch(() => undefined)));
    const cgroup = podCgroup(spec);
    if (ctx.sandbox) {
      this.facts.sandboxCreated(ctx.podId, cgroup, identity);
      this.markSandboxWhenNetworked(ctx.id);
    }
    this.log.debug('spec rewritten for vNode', { id: ctx.id, podId: ctx.podId, vnode: vnode.name, sandbox: ctx.sandbox, ...host, devices: devices.length, rootfsAsIs: asIs, ms: +(performance.now() - t0).toFixed(1), stepsMs: [tRewrite - t0, tWrite - tRewrite, tRootfs - tWrite, tEnd - tRootfs].map((x) => +x.toFixed(1)), idmapMs: [tRootfs, ...idmapMarks].map((x, i, a) => +(i ? x - a[i - 1]! : 0).toFixed(1)).slice(1) });
    // The tree's runc (runc/vnode-pidns.patch) clones its stage-1 in the vNode's pid namespace, so
    // a new pid namespace of the container is nested in it: a hostPID pod of the vNode sees it.
    return { env: { [VNODE_PIDNS_ENV]: vnode.namespaces.pid } };
  }

  /** A running sandbox found by a restarted manager: uptime, names and vnodefs' owner come back. */
  adoptSandbox(r: ContainerRecord): void {
    const vnode = this.vnodeOfPod(r.podId);
    if (vnode?.state === 'ready') this.facts.registerWithVnodefs(vnode);
    let spec: OciSpec;
    try {
      const path = join(r.bundle, 'config.json');
      spec = parseSpec(readFileSync(path, 'utf8'), path);
    } catch (e) {
      this.log.warn('cannot read a running sandbox\'s config.json', { podId: r.podId, error: (e as Error).message });
      return;
    }
    const annotations = (spec.annotations ?? {}) as Record<string, string>;
    this.facts.sandboxAdopted(r.podId, podCgroup(spec), r.createdAt, podFromSpec(r.podId, annotations));
    if (vnode?.state === 'ready')
      void this.opts.logViews?.addPod(vnode, r.podId, annotations[CRI_ANNOTATIONS.sandboxLogDirectory]).catch((e: unknown) => this.log.warn('cannot restore a pod\'s log view', { podId: r.podId, error: (e as Error).message }));
  }

  /** vnode-runc's start of a pod's sandbox: its network must be in place first. */
  async beforeSandboxStart(podId: string): Promise<void> {
    this.notStarted.delete(podId);
    try {
      await this.networks.podNetworkReady(podId);
    } catch (e) {
      throw new SpecError(`pod ${podId}: its network could not be set up: ${(e as Error).message}`);
    }
  }

  /** A privileged container (its cgroupfs read-write) gets its own cgroup delegated to the vNode's
   * root, so a runtime in it can make child cgroups within its limits (delegation.ts). */
  async beforeStart(rec: ContainerRecord, pid: number): Promise<void> {
    // Left for bindBeforeStart, which the start hook runs next, to forget.
    const known = this.notStarted.get(rec.id)?.delegate;
    const vnode = this.vnodeOfPod(rec.podId);
    if (!vnode) return;
    // Not a reason to refuse the start: a privileged pod that runs no runtime needs none of it,
    // and one that does says EACCES on its first mkdir; the log says why.
    try {
      const path = join(rec.bundle, 'config.json');
      const delegate = known ?? cgroupWritable(parseSpec(readFileSync(path, 'utf8'), path));
      if (!delegate) return;
      const dirs = await delegateCgroups(rec.id, pid, vnodeRoot(vnode));
      this.log.debug('cgroup delegated to the vNode root', { id: rec.id, dirs });
    } catch (e) {
      this.log.warn('cannot delegate a privileged container\'s cgroup to its vNode root', { id: rec.id, podId: rec.podId, error: (e as Error).message });
    }
  }

  /**
   * A container's seccomp listener arrived (SeccompAgent's 'listener'). During `runc create`
   * (status "creating") its init has its mount namespace and root in place and waits to be told
   * to exec: its /proc/sys binds are made now, on the thread pool, while runc create ends and
   * containerd asks for the start, instead of on the start's path. The start awaits them.
   */
  containerListening(id: string, pid: number, status: string): void {
    const e = this.notStarted.get(id);
    if (status !== 'creating' || !e || e.sandbox || e.binds) return;
    e.pid = pid;
    e.binds = this.bindProcSys(id, pid, 'create');
    e.binds.then(
      () => this.markStartReady(id, e),
      () => undefined, // awaited (and reported) by the start
    );
  }

  /** A sandbox's start waits for its network only: once the interface is in the pod's netns
   * (at once for a pod without a move in flight: hostNetwork, or a move already done), the
   * launcher runs it without asking. A failed move writes no mark: the start asks and is refused. */
  private markSandboxWhenNetworked(id: string): void {
    const e: NotStarted = { delegate: false, sandbox: true };
    this.notStarted.set(id, e);
    this.networks.podNetworkReady(id).then(
      () => this.markStartReady(id, e),
      () => undefined,
    );
  }

  /** The launcher runs this container's `runc start` without asking: nothing is left to do (its
   * binds are in place, no cgroup to delegate; a sandbox's network is in place) and its start has
   * not been asked for yet. */
  private markStartReady(id: string, e: NotStarted): void {
    const dir = this.opts.startReadyDir;
    if (!dir || this.notStarted.get(id) !== e || e.delegate) return;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, id), '');
    } catch (e) {
      // The start then asks, as it would anyway.
      this.log.warn('cannot mark a container\'s start as ready', { id, error: (e as Error).message });
    }
  }

  /**
   * Between `runc create` and `runc start` (vnode-runc's hook): vnodefs' /proc/sys entries bound
   * into the container (runc refuses them from config.json). Made when its seccomp listener
   * arrived if they were; else now (no listener seen: a restarted manager). Throws when they
   * cannot be made: the start is refused.
   */
  async bindBeforeStart(id: string, pid: number): Promise<void> {
    const e = this.notStarted.get(id);
    this.notStarted.delete(id);
    if (e?.binds && e.pid === pid) return e.binds;
    await this.bindProcSys(id, pid, 'start');
  }

  private async bindProcSys(id: string, pid: number, when: 'create' | 'start'): Promise<void> {
    const b = this.opts.procBindings?.().filter((x) => x.inject);
    if (!b?.length) return;
    if (!(pid > 0)) throw new Error(`no container process to bind into (pid ${pid})`);
    const t0 = performance.now();
    // As host root in the container's mount, pid, net, ipc and uts namespaces, chrooted to its
    // root (addon/src/nsaction.cc): the same dentries its processes will look up.
    const overlays = b.map((x): [string, string] => [x.source, x.destination]);
    const r = await (this.opts.bindInto ?? ((p, o) => nsAction({ op: NsOp.overlay, pid: p, overlays: o })))(pid, overlays);
    if (r.errno) throw new Error(`cannot bind vnodefs' /proc/sys entries into container ${id} (pid ${pid}): ${r.stage}: ${r.code}`);
    this.log.debug('/proc/sys entries bound into the container', { id, pid, when, bound: r.value, of: b.length, ms: +(performance.now() - t0).toFixed(1) });
  }

  async taskGone(id: string, podId: string): Promise<void> {
    this.notStarted.delete(id);
    if (this.opts.startReadyDir) rmSync(join(this.opts.startReadyDir, id), { force: true });
    this.opts.vnodefs?.forgetContainer(id);
    const v = this.vnodeOfPod(podId);
    if (!v) return;
    await this.opts.logViews?.removeContainer(v.name, id).catch((e: unknown) => this.log.warn('cannot unlink a container from its log view', { id, error: (e as Error).message }));
    await removeIdmapDir(v, id);
    await this.devices.release(v, id);
  }

  /** Pods leaving their vNode now: vnode-runc's delete hook of the pod's last container and a
   * reconcile may both say so, and the two must not race over the vNode's own network. */
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
    this.facts.forgetPod(podId);
    await this.opts.logViews?.removePod(podId).catch((e: unknown) => this.log.warn('cannot remove a pod from its log view', { podId, error: (e as Error).message }));
    await this.networks.podNetworkSettled(podId);
    const v = this.vnodeOfPod(podId);
    if (!v) return;
    await this.leaveVNode(v.key, podId, { release: () => true });
  }

  /**
   * The pod leaves its vNode: the one place a pod's network namespace and its reference on the
   * vNode (held since vnode-cni's ADD or its sandbox's Create) are let go. Its callers: podGone
   * (the pod's last container is gone), vnode-cni's DEL (a pod whose sandbox never started would
   * otherwise hold its vNode) and the undo of a failed vnode-cni ADD. The netns goes first, then,
   * when `how.release()` says so, the reference; the last pod's release takes the vNode's own
   * network with it (while the vNode's netns still exists) and tears the vNode down, and vnodefs
   * forgets it, whichever caller it was.
   */
  async leaveVNode(key: string, podId: string, how: Leaving): Promise<ReleaseResult | undefined> {
    const step = <T>(p: Promise<T>): Promise<T | undefined> => (how.bestEffort ? p.catch(() => undefined) : p);
    // Destroying the netns destroys the pod's end of the veth, and so the pair.
    await step(this.vnodes.removePodNetns(key, podId));
    if (!how.release()) return undefined;
    const v = this.vnodes.get(key);
    if (v && v.pods.length === 1 && v.pods[0] === podId) await removeVNodeNetwork(v, this.opts.cni).catch((e: unknown) => this.log.error('vNode network removal failed', { vnode: v.name, error: (e as Error).message }));
    const r = await step(this.vnodes.release(key, podId));
    if (v && r) {
      if (r.destroyed) this.facts.forgetInVnodefs(v.name);
      this.log.info('pod left its vNode', { podId, vnode: v.name, destroyed: r.destroyed });
    }
    return r;
  }

  podIdentity(podId: string): { namespace: string; name: string; uid: string } | undefined {
    return this.facts.podIdentity(podId);
  }

  /** Sizes of the per-pod maps (the manager's state entry). */
  stats(): { podStarts: number; podCgroups: number; podNetworks: number; podNames: number } {
    const f = this.facts.sizes();
    return { podStarts: f.podStarts, podCgroups: f.podCgroups, podNetworks: this.networks.size, podNames: f.podNames };
  }

  /** The seccomp agent's question for each listener runc hands over: whose container is this? */
  seccompTarget(containerId: string, podId: string | undefined, rootPid: number, fsMountpoint: string | undefined): { vnodeId: string; containerId: string; rootPid: number; fsMountpoint?: string; startedAtMs?: number } | undefined {
    if (!podId) return undefined;
    const v = this.vnodeOfPod(podId);
    if (!v) return undefined;
    const startedAtMs = this.facts.startedAt(podId);
    return { vnodeId: v.name, containerId, rootPid, ...(fsMountpoint ? { fsMountpoint } : {}), ...(startedAtMs ? { startedAtMs } : {}) };
  }

  vnodeOfPod(podId: string): VNode | undefined {
    return this.vnodes.ofPod(podId);
  }
}
