// The persisted record of one vNode (stateDir/vnodes/<name>.json) and the view callers get.
import { statSync } from 'node:fs';
import { z } from 'zod';

export const NAMESPACE_KINDS = ['user', 'pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup'] as const;
export type NamespaceKind = (typeof NAMESPACE_KINDS)[number];

/** creating: only in memory while the holder starts (never read back as such); ready: in use;
 * deleting: teardown begun;
 * failed: the holder died under live pods (new pods cannot join until the last one is released). */
export const VNodeStateSchema = z.enum(['creating', 'ready', 'deleting', 'failed']);
export type VNodeState = z.infer<typeof VNodeStateSchema>;

export const VNodeRecordSchema = z.object({
  version: z.literal(1),
  name: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/),
  key: z.string().min(1),
  idRange: z.object({ uidStart: z.number().int().min(65536), gidStart: z.number().int().min(65536), size: z.literal(65536) }),
  hostname: z.string(),
  /** runDir/vnodes/<name>: everything on disk and every mount of this vNode lives below it. */
  dir: z.string().startsWith('/'),
  /** The holder's root: an empty directory, the whole of the vNode's own mount namespace. */
  rootDir: z.string().startsWith('/'),
  state: VNodeStateSchema,
  /** The holder: pid in the host pid namespace and its start time (clock ticks after boot,
   * /proc/<pid>/stat field 22), which tells it apart from a later process with the same pid. */
  holder: z.object({ pid: z.number().int().positive(), startTime: z.number().int().nonnegative() }).nullable(),
  pods: z.array(z.string()),
  /** Network namespaces made for pods: id -> bind-mounted path (below dir). */
  netns: z.record(z.string(), z.string()),
  createdAt: z.string(),
});
export type VNodeRecord = z.infer<typeof VNodeRecordSchema>;

/** What the rest of the manager works with: the record plus the holder's namespace paths. */
export interface VNode extends Readonly<VNodeRecord> {
  /** /proc/<holder>/ns/<kind>, for joining by path (runc's namespaces[].path). */
  readonly namespaces: Readonly<Record<NamespaceKind, string>>;
}

export function viewOf(r: VNodeRecord): VNode {
  const pid = r.holder?.pid ?? 0;
  const namespaces = Object.fromEntries(NAMESPACE_KINDS.map((k) => [k, `/proc/${pid}/ns/${k}`])) as Record<NamespaceKind, string>;
  return Object.freeze({ ...structuredClone(r), namespaces });
}

/** How vnodefs names a vNode ("userns:<inode>" of its user namespace, which its holder keeps
 * alive); throws when the namespace file is gone. */
export function usernsIdOfVNode(v: VNode): string {
  return `userns:${statSync(v.namespaces.user).ino}`;
}
