// An uninstall the operator asked for, never a guess from a SIGTERM. `helm uninstall` runs the
// chart's pre-delete hook, a Job running `vnode-installer request-uninstall`: it sets the annotation
// UNINSTALL_ANNOTATION on the DaemonSet while the DaemonSet, its RBAC and its pods all still exist,
// then waits until no node carries the ready label. Each installer pod polls its DaemonSet; on the
// annotation it uninstalls its node at once (pods drained, containerd restored, the manager and its
// supervisor stopped) and then stays idle until it is stopped; a pod started while the annotation
// is set installs nothing. (`kubectl delete` of the manifests has no hook: the installer still
// reads a deleted or deleting DaemonSet at SIGTERM as an uninstall.)
import { AppsV1Api, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { codeOf, detailOf, KubeApiError } from './NodeLabeler.js';

export const UNINSTALL_ANNOTATION = 'vnode.io/uninstall';
export const UNINSTALL_REQUESTED = 'requested';

/** Whether the operator asked for an uninstall (the annotation), or the DaemonSet is gone or going. */
export async function uninstallRequested(kc: KubeConfig, namespace: string, name: string): Promise<boolean> {
  const apps = kc.makeApiClient(AppsV1Api);
  try {
    const ds = await apps.readNamespacedDaemonSet({ name, namespace });
    return ds.metadata?.annotations?.[UNINSTALL_ANNOTATION] === UNINSTALL_REQUESTED || (ds.metadata?.deletionTimestamp !== undefined && ds.metadata.deletionTimestamp !== null);
  } catch (e) {
    if (codeOf(e) === 404) return true;
    throw new KubeApiError(`read daemonset ${namespace}/${name}`, codeOf(e), detailOf(e));
  }
}

export interface RequestOptions {
  /** The node label the installer sets when a node is ready and removes on uninstall. */
  readyLabel: string;
  timeoutMs: number;
  pollMs?: number;
  log?: (message: string) => void;
}

/** Sets the annotation, then waits until no node is labelled ready; the nodes left on timeout. */
export async function requestUninstall(kc: KubeConfig, namespace: string, name: string, o: RequestOptions): Promise<{ waitedMs: number }> {
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  try {
    await apps.patchNamespacedDaemonSet({ name, namespace, body: { metadata: { annotations: { [UNINSTALL_ANNOTATION]: UNINSTALL_REQUESTED } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  } catch (e) {
    if (codeOf(e) === 404) return { waitedMs: 0 }; // nothing installed it
    throw new KubeApiError(`annotate daemonset ${namespace}/${name}`, codeOf(e), detailOf(e));
  }
  const t0 = Date.now();
  let left: string[] = [];
  for (;;) {
    try {
      const nodes = await core.listNode({ labelSelector: o.readyLabel });
      left = nodes.items.map((n) => n.metadata?.name ?? '?');
    } catch (e) {
      throw new KubeApiError(`list nodes labelled ${o.readyLabel}`, codeOf(e), detailOf(e));
    }
    if (!left.length) return { waitedMs: Date.now() - t0 };
    if (Date.now() - t0 >= o.timeoutMs) throw new Error(`uninstall requested, but after ${Math.round(o.timeoutMs / 1000)} s these nodes still carry ${o.readyLabel}: ${left.join(', ')} (see their installer pods' logs)`);
    o.log?.(`waiting for ${left.length} node(s) to uninstall: ${left.slice(0, 5).join(', ')}${left.length > 5 ? ', ...' : ''}`);
    await sleep(o.pollMs ?? 2000);
  }
}
