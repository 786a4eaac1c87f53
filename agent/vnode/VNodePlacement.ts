// Which vNode a pod belongs to: the one place that decides it, for vnode-cni's ADD and for the
// sandbox's Create alike (VNodePods.placePod calls it once per pod and records the answer).
//
// By default all pods of one namespace on a node share a vNode (vnodeMode "namespace"); vnodeMode
// "pod" gives every pod its own. Pods of *different* namespaces share a vNode only when the
// cluster admin says so (SharingPolicy): a shared vNode names the namespaces that may join it, in
// the manager's configuration (the chart's values) or in the policy file the installer keeps from
// namespace labels. A pod's annotation `vnode.loft.sh/name` is the tenant's own input: it may ask
// for the shared vNode its namespace belongs to, and is refused for any other.
// A bare CRI client may leave namespace and uid empty: such a pod gets a vNode of its own, keyed
// by its uid or, without one, by its sandbox id (the same at CNI ADD and at Create).
import { createHash } from 'node:crypto';
import type { SharingPolicy } from './SharingPolicy.js';
import { CRI_ANNOTATIONS as A } from '../common/criAnnotations.js';

export const VNODE_NAME_ANNOTATION = 'vnode.loft.sh/name';

export type VNodeMode = 'namespace' | 'pod';

/** A pod as both vnode-cni (CNI_ARGS, runtimeConfig) and Create (the spec's annotations) see it. */
export interface PodIdentity {
  /** The pod sandbox's id (CNI_CONTAINERID; the sandbox task's id). Never empty. */
  sandboxId: string;
  /** Empty when a bare CRI client sends none. */
  namespace: string;
  name: string;
  uid: string;
  /** The pod annotations containerd passes on (pod_annotations / the CNI capability). */
  annotations: Record<string, string>;
}


/** The pod of a spec, from the annotations containerd's CRI puts on it. */
export function podFromSpec(sandboxId: string, annotations: Record<string, string>): PodIdentity {
  return { sandboxId, namespace: annotations[A.sandboxNamespace] ?? '', name: annotations[A.sandboxName] ?? '', uid: annotations[A.sandboxUid] ?? '', annotations };
}

/** The pod of a CNI call: CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID) and the pod
 * annotations of runtimeConfig (absent or null when containerd has none). */
export function podFromCni(sandboxId: string, args: Record<string, string>, annotations: Record<string, string> | null | undefined): PodIdentity {
  return { sandboxId, namespace: args.K8S_POD_NAMESPACE ?? '', name: args.K8S_POD_NAME ?? '', uid: args.K8S_POD_UID ?? '', annotations: annotations ?? {} };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The pod may not go where it asked; RunPodSandbox fails with this message. */
export class VNodePlacementError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VNodePlacementError';
  }
}

const describe = (p: PodIdentity): string => `pod ${p.namespace || '(no namespace)'}/${p.name || p.uid || p.sandboxId}`;

export class VNodePlacement {
  constructor(
    private readonly mode: VNodeMode,
    private readonly sharing: SharingPolicy,
  ) {}

  /** "ns:<namespace>", "pod:<uid or sandbox id>" or "shared:<name>". Throws VNodePlacementError
   * for a refused request, SharingPolicyError while the admin's policy cannot be read. */
  keyFor(pod: PodIdentity): string {
    const shared = pod.namespace ? this.sharing.vnodeOf(pod.namespace) : undefined;
    const asked = pod.annotations[VNODE_NAME_ANNOTATION];
    if (asked !== undefined) {
      if (!DNS_LABEL.test(asked))
        throw new VNodePlacementError(`${describe(pod)}: annotation ${VNODE_NAME_ANNOTATION}=${JSON.stringify(asked)} must be a DNS label (a-z, 0-9, -, at most 63)`);
      if (asked !== shared)
        throw new VNodePlacementError(
          `${describe(pod)} asks for the shared vNode ${JSON.stringify(asked)} (annotation ${VNODE_NAME_ANNOTATION}), but namespace ${JSON.stringify(pod.namespace)} may not join it: ` +
            `only the cluster admin decides which namespaces share a vNode (${this.sharing.describe()})`,
        );
    }
    if (shared) return `shared:${shared}`;
    if (this.mode === 'pod' || !pod.namespace) return `pod:${pod.uid || pod.sandboxId}`;
    return `ns:${pod.namespace}`;
  }
}

/** A stable, unique name for the vNode of a key, usable as hostname and path component:
 * "vn-<readable part>-<10 hex of sha256(key)>", at most 63 characters. */
export function vnodeName(key: string): string {
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 10);
  const readable = key
    .slice(key.indexOf(':') + 1)
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63 - 3 - 1 - 10 - 1)
    .replace(/-+$/g, '');
  return readable ? `vn-${readable}-${hash}` : `vn-${hash}`;
}
