// What the manager knows of each pod for others: when its sandbox was created (vnodefs' uptime,
// the seccomp agent's startedAtMs), the cgroup its start time is registered under in vnodefs,
// its Kubernetes namespace and name (`vnode ls`), and which vNode vnodefs was told owns which ids.
// VNodePods records them at a sandbox's Create (or a restarted manager's adoption) and drops them
// when the pod leaves its vNode.
import { usernsIdOfVNode, type VNode } from '../vnode/VNodeRecord.js';

/** vnodefs, as the pods see it (VNodePodsOptions.vnodefs). */
export interface VnodefsPodFacts {
  setStartTime(cgroupPath: string, ms: number): void;
  clearStartTime(cgroupPath: string): void;
  registerVnode(v: { name: string; uidStart: number; size: number }): void;
  forgetVnode(uidStart: number): void;
  /** A container was deleted: its per-container files' page-cache state goes. */
  forgetContainer(id: string): void;
}

/** The pod's cgroup: the parent of the sandbox's own (cgroupfs paths "/parent/<id>"). */
export function podCgroup(spec: { linux: Record<string, unknown> }): string | undefined {
  const p = spec.linux.cgroupsPath;
  if (typeof p !== 'string' || !p.startsWith('/')) return undefined;
  return p.slice(0, p.lastIndexOf('/')) || undefined;
}

export class PodFacts {
  constructor(private readonly vnodefs: VnodefsPodFacts | undefined) {}

  /** When each pod's sandbox was created (sysinfo's uptime counts from there). */
  private readonly podStarts = new Map<string, number>();
  /** The cgroup each pod's start time is registered under in vnodefs (cleared by podGone). */
  private readonly podCgroups = new Map<string, string>();

  /** Each pod's Kubernetes namespace and name, from its sandbox's annotations (`vnode ls`). */
  private readonly podNames = new Map<string, { namespace: string; name: string; uid: string }>();

  /** A sandbox's Create (after its spec is rewritten and its rootfs remounted). */
  sandboxCreated(podId: string, cgroup: string | undefined, identity: { namespace: string; name: string; uid: string } | undefined): void {
    if (cgroup && this.vnodefs) {
      this.vnodefs.setStartTime(cgroup, Date.now());
      this.podCgroups.set(podId, cgroup);
    }
    this.podStarts.set(podId, Date.now());
    if (identity) this.podNames.set(podId, { namespace: identity.namespace, name: identity.name, uid: identity.uid });
  }

  /** A running sandbox found by a restarted manager, created at createdAt. */
  sandboxAdopted(podId: string, cgroup: string | undefined, createdAt: number, who: { namespace: string; name: string; uid: string }): void {
    if (cgroup && this.vnodefs) {
      this.vnodefs.setStartTime(cgroup, createdAt);
      this.podCgroups.set(podId, cgroup);
    }
    this.podStarts.set(podId, createdAt);
    if (who.namespace && who.name) this.podNames.set(podId, { namespace: who.namespace, name: who.name, uid: who.uid });
  }

  /** The pod is leaving its vNode: its facts go, and vnodefs stops counting its uptime. */
  forgetPod(podId: string): void {
    this.podStarts.delete(podId);
    this.podNames.delete(podId);
    const cgroup = this.podCgroups.get(podId);
    if (cgroup !== undefined) this.vnodefs?.clearStartTime(cgroup);
    this.podCgroups.delete(podId);
  }

  startedAt(podId: string): number | undefined {
    return this.podStarts.get(podId);
  }

  podIdentity(podId: string): { namespace: string; name: string; uid: string } | undefined {
    return this.podNames.get(podId);
  }

  /** What vnodefs was told about each vNode: its id range and user namespace, by name. */
  private readonly inVnodefs = new Map<string, { uidStart: number; usernsId: string }>();

  /**
   * Tells vnodefs which vNode owns the ids this pod runs as (its DMI files and boot_id are made
   * from the name), on every Create: a container created after a manager restart finds its vNode
   * registered in the new vnodefs. Repeated only when something changed.
   */
  registerWithVnodefs(v: VNode): void {
    const fs = this.vnodefs;
    if (!fs) return;
    const usernsId = usernsIdOfVNode(v);
    const had = this.inVnodefs.get(v.name);
    if (had?.uidStart === v.idRange.uidStart && had.usernsId === usernsId) return;
    fs.registerVnode({ name: v.name, uidStart: v.idRange.uidStart, size: v.idRange.size });
    this.inVnodefs.set(v.name, { uidStart: v.idRange.uidStart, usernsId });
  }

  /** A vNode is gone: vnodefs forgets its owner (its id range will be handed to another vNode,
   * which must not inherit it). Its /proc/sys values go through VNodeManager.onTeardown. */
  forgetInVnodefs(name: string): void {
    const had = this.inVnodefs.get(name);
    if (!had) return;
    this.inVnodefs.delete(name);
    this.vnodefs?.forgetVnode(had.uidStart);
  }

  /** Sizes of the per-pod maps (the manager's state entry). */
  sizes(): { podStarts: number; podCgroups: number; podNames: number } {
    return { podStarts: this.podStarts.size, podCgroups: this.podCgroups.size, podNames: this.podNames.size };
  }
}
