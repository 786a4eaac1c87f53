// The wiring between the manager's modules, in one typed place: every call one module makes into
// another that the two do not know of themselves. managerMain.ts builds the modules in order and
// plugs these in; each port is typed by the option or listener its consumer declares, so a
// change on either side fails to compile here.
//
//   consumer (asks)                  port                        provider (answers)
//   VNodePods.refused,               podEventSink                <stateDir>/pod-events spool -> installer's Events
//     VNodeManager.onHolderDeath     holderDeathEvents
//   VNodeManager.onTeardown          vnodeTeardown               vnodefs (/proc/sys values), PodLogViews, SeccompAgent
//   SeccompAgent.resolve             seccompTargets              ContainerRegistry (pod of a container) + VNodePods
//   VNodeCni (podHasTasks)           podHasContainers            RuncHook's ContainerRegistry
//   VNodePods.procBindings           containerProcBindings       vnodefs' bind sources (VnodeFs.containerBindings)
import { join } from 'node:path';

import { appendPodEvent, POD_EVENT_SPOOL } from '../common/podEventSpool.js';
import type { Logger } from '../common/log.js';
import type { ContainerRegistry } from '../pods/ContainerRegistry.js';
import type { PodLogViews } from '../pods/PodLogViews.js';
import type { RuncHook } from '../pods/runcHook.js';
import type { VNodePods, VNodePodsOptions } from '../pods/VNodePods.js';
import type { SeccompAgent, SeccompAgentOptions } from '../seccomp/SeccompAgent.js';
import type { VNode } from '../vnode/VNodeRecord.js';
import { containerBindings, type VnodeFs } from '../vnodefs/VnodeFs.js';

/** Warnings about a pod, for an Event on it: posted by the installer (podEventSpool.ts says why). */
export type PodEventSink = (pod: { namespace?: string; name?: string; uid: string }, reason: string, message: string) => void;

export function podEventSink(stateDir: string, log: Logger): PodEventSink {
  return (pod, reason, message) => {
    if (!pod.namespace || !pod.name) return; // a bare CRI client's pod has no object to report on
    try {
      if (!appendPodEvent(join(stateDir, POD_EVENT_SPOOL), { at: Date.now(), pod: { namespace: pod.namespace, name: pod.name, uid: pod.uid }, reason, message }))
        log.warn('pod event spool full; event dropped', { reason, pod: `${pod.namespace}/${pod.name}` });
    } catch (e) {
      log.warn('cannot spool pod event', { reason, error: (e as Error).message });
    }
  };
}

/** A vNode whose holder died: its pods keep running, new ones are refused; each pod is told. */
export function holderDeathEvents(pods: Pick<VNodePods, 'podIdentity'>, events: PodEventSink): (v: VNode) => void {
  return (v) => {
    for (const id of v.pods) {
      const who = pods.podIdentity(id);
      if (who) events(who, 'VNodeHolderDied', `vNode ${v.name} lost its namespace holder: this pod keeps running, but no new pod can join the vNode until all of its pods are removed (then it is made again)`);
    }
  };
}

/**
 * What goes with a torn-down vNode, by module. Registered in stages (managerMain): vnodefs and the
 * log views before the first reconcile, which may tear a vNode down, the seccomp agent once it runs.
 */
export const vnodeTeardown = {
  /** Its /proc/sys values (user namespace inode numbers are reused). */
  vnodefs: (vnodefs: VnodeFs | undefined) => (_v: VNode, usernsId: string | undefined): void => {
    if (usernsId) vnodefs?.dropVnode(usernsId);
  },
  /** Its view of the pod log root. */
  logViews: (views: PodLogViews, log: Logger) => (v: VNode): void =>
    void views.dropVnode(v.name).catch((e: unknown) => log.warn("cannot remove a vNode's log view", { vnode: v.name, error: (e as Error).message })),
  /** Its syscall counts and their metric series. */
  seccomp: (seccomp: Pick<SeccompAgent, 'forgetVnode'>) => (v: VNode): void => seccomp.forgetVnode(v.name),
};

/** Which vNode container a seccomp listener belongs to: the registry knows its pod, VNodePods the rest. */
export function seccompTargets(pods: Pick<VNodePods, 'seccompTarget'>, registry: Pick<ContainerRegistry, 'task'>, vnodefs: VnodeFs | undefined): SeccompAgentOptions['resolve'] {
  return (state) => {
    const id = state.state.id;
    return pods.seccompTarget(id, registry.task(id)?.podId, state.state.pid ?? state.pid, vnodefs?.mountpoint);
  };
}

/** Whether a pod still has containers (vnode-cni's DEL then leaves the pod's vNode to the last one's delete). */
export function podHasContainers(hook: Pick<RuncHook, 'podHasContainers'>): (podId: string) => boolean {
  return (podId) => hook.podHasContainers(podId);
}

/** A container's vnodefs binds: its own per-container files, the shared rest (none without vnodefs). */
export function containerProcBindings(vnodefs: VnodeFs | undefined): VNodePodsOptions['procBindings'] {
  return vnodefs ? (containerId) => containerBindings(vnodefs.mountpoint, containerId) : undefined;
}
