// Which vNode a pod belongs to. By default all pods of one namespace on a node share a vNode
// (vnodeMode "namespace"); vnodeMode "pod" gives every pod its own. A pod may instead name a
// shared vNode with the annotation below: all pods naming it, from any namespace, share one
// vNode (a tenant spanning namespaces). Restrict who may set it with admission policy: it lets a
// pod join that tenant's vNode.
import { createHash } from 'node:crypto';
import { z } from 'zod';

export const VNODE_NAME_ANNOTATION = 'vnode.loft.sh/name';

export type VNodeMode = 'namespace' | 'pod';

export const PodIdentitySchema = z.object({
  namespace: z.string().min(1),
  name: z.string().optional(),
  uid: z.string().min(1),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type PodIdentity = z.infer<typeof PodIdentitySchema>;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export class VNodeKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VNodeKeyError';
  }
}

/** "ns:<namespace>", "pod:<uid>" or "shared:<name>". */
export function vnodeKey(pod: PodIdentity, mode: VNodeMode): string {
  const shared = pod.annotations?.[VNODE_NAME_ANNOTATION];
  if (shared !== undefined) {
    if (!DNS_LABEL.test(shared))
      throw new VNodeKeyError(`pod ${pod.namespace}/${pod.name ?? pod.uid}: annotation ${VNODE_NAME_ANNOTATION}=${JSON.stringify(shared)} must be a DNS label (a-z, 0-9, -, at most 63)`);
    return `shared:${shared}`;
  }
  return mode === 'pod' ? `pod:${pod.uid}` : `ns:${pod.namespace}`;
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
