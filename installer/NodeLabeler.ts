// The installer's view of its node in the Kubernetes API (@kubernetes/client-node):
//   ready label    merge patch {"metadata":{"labels":{k: v | null}}} (null removes, RFC 7386)
//   install taint  added by strategic merge patch (spec.taints merges by `key`), removed by a JSON
//                  patch that first tests the taint is still at that index, so a concurrent change
//                  to the taint list is retried instead of removing someone else's taint
//   draining       Eviction (policy/v1) of this node's pods of the vnode RuntimeClass, so the
//                  handler is never removed under running vNode pods (PodDisruptionBudgets apply)
// Each call reads the node first and patches only when something would change.
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1Node, type V1Taint } from '@kubernetes/client-node';
import type { NodeAccess } from './Installer.js';

export interface NodeLabelerOptions {
  nodeName: string;
  /** e.g. "vnode.io/runtime" = "ready": the RuntimeClass's nodeSelector. */
  readyLabel: string;
  readyValue: string;
  /** NoSchedule taint while installing, e.g. "vnode.io/installing". */
  taintKey: string;
}

export class KubeApiError extends Error {
  constructor(readonly action: string, readonly code: number | undefined, detail: string) {
    super(`Kubernetes API, ${action}: ${code ? `HTTP ${code}: ` : ''}${detail}`);
    this.name = 'KubeApiError';
  }
}

export function codeOf(e: unknown): number | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'number' ? c : undefined;
}

export function detailOf(e: unknown): string {
  const body = (e as { body?: unknown } | null)?.body;
  if (typeof body === 'string') {
    try {
      const s = JSON.parse(body) as { message?: string };
      if (s.message) return s.message;
    } catch {
      return body.slice(0, 300);
    }
  }
  return (e as Error).message;
}

/** A KubeConfig from the pod's service account, or from KUBECONFIG when set (local runs). */
export function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  if (process.env.KUBECONFIG) kc.loadFromDefault();
  else kc.loadFromCluster();
  return kc;
}

export class NodeLabeler implements NodeAccess {
  private readonly core: CoreV1Api;

  constructor(kc: KubeConfig, private readonly o: NodeLabelerOptions) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  private async call<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw new KubeApiError(action, codeOf(e), detailOf(e));
    }
  }

  readNode(): Promise<V1Node> {
    return this.call(`read node ${this.o.nodeName}`, () => this.core.readNode({ name: this.o.nodeName }));
  }

  private patch(strategy: PatchStrategy, body: unknown, action: string): Promise<V1Node> {
    return this.call(action, () => this.core.patchNode({ name: this.o.nodeName, body }, setHeaderOptions('Content-Type', strategy)));
  }

  async setReady(ready: boolean): Promise<boolean> {
    const node = await this.readNode();
    const has = node.metadata?.labels?.[this.o.readyLabel] === this.o.readyValue;
    const present = node.metadata?.labels?.[this.o.readyLabel] !== undefined;
    if (ready ? has : !present) return false;
    await this.patch(PatchStrategy.MergePatch, { metadata: { labels: { [this.o.readyLabel]: ready ? this.o.readyValue : null } } }, `${ready ? 'label' : 'unlabel'} node ${this.o.nodeName}`);
    return true;
  }

  async setInstallingTaint(present: boolean): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const node = await this.readNode();
      const taints: V1Taint[] = node.spec?.taints ?? [];
      const idx = taints.findIndex((t) => t.key === this.o.taintKey);
      if (present) {
        if (idx >= 0) return false;
        await this.patch(PatchStrategy.StrategicMergePatch, { spec: { taints: [{ key: this.o.taintKey, value: 'true', effect: 'NoSchedule' }] } }, `taint node ${this.o.nodeName}`);
        return true;
      }
      if (idx < 0) return false;
      try {
        await this.patch(
          PatchStrategy.JsonPatch,
          [
            { op: 'test', path: `/spec/taints/${idx}/key`, value: this.o.taintKey },
            { op: 'remove', path: `/spec/taints/${idx}` },
          ],
          `untaint node ${this.o.nodeName}`,
        );
        return true;
      } catch (e) {
        // 422: the list moved under us (the test op failed); read again and retry.
        if (e instanceof KubeApiError && e.code === 422 && attempt < 5) continue;
        throw e;
      }
    }
  }

  async evictRuntimePods(runtimeClassName: string): Promise<number> {
    const list = await this.call(`list pods on ${this.o.nodeName}`, () => this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${this.o.nodeName}` }));
    const pods = list.items.filter((p) => p.spec?.runtimeClassName === runtimeClassName);
    for (const p of pods) {
      const name = p.metadata?.name ?? '';
      const namespace = p.metadata?.namespace ?? 'default';
      try {
        await this.core.createNamespacedPodEviction({ name, namespace, body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } } });
      } catch (e) {
        // Gone already is fine; 429 (a PodDisruptionBudget) leaves it to the drain wait.
        if (codeOf(e) !== 404 && codeOf(e) !== 429) throw new KubeApiError(`evict pod ${namespace}/${name}`, codeOf(e), detailOf(e));
      }
    }
    return pods.length;
  }
}

