// The cluster admin's word on which namespaces share a vNode (VNodePlacement asks it). Two
// sources, both out of a tenant's reach:
// - the manager's configuration (`sharing.vnodes`, the chart's values): name -> namespaces;
// - a policy file of the same shape (`sharing.policyFile`), which the installer keeps from the
//   namespaces' labels in the Kubernetes API (installer/NamespaceSharingWatch.ts). When a policy
//   file is configured, placement waits for it: until the installer has listed the namespaces
//   once, no pod is placed (SharingPolicyError, vnode-cni's "try again later"), so no pod lands
//   in its namespace's own vNode while its namespace belongs to a shared one.
// Where both name a namespace, the configuration wins.
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { describeIssues, SharedVNodesSchema, type SharedVNodes } from '../common/config.js';

export const SharingPolicyFileSchema = z
  .object({
    version: z.literal(1),
    /** name -> namespaces, as the installer read it from the namespaces' labels. */
    vnodes: SharedVNodesSchema,
    /** Where it came from, for messages (e.g. "namespace label vnode.loft.sh/vnode"). */
    source: z.string().optional(),
  })
  .strict();
export type SharingPolicyFile = z.infer<typeof SharingPolicyFileSchema>;

/** The admin's policy cannot be read now; the pod may be retried. */
export class SharingPolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SharingPolicyError';
  }
}

/** namespace -> vNode name (SharedVNodesSchema has refused a namespace given to two). */
function namespaceIndex(vnodes: SharedVNodes): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, namespaces] of Object.entries(vnodes)) for (const ns of namespaces) out.set(ns, name);
  return out;
}

export class SharingPolicy {
  private readonly configured: Map<string, string>;
  private file: { stamp: string; index: Map<string, string>; source: string } | undefined;

  constructor(
    vnodes: SharedVNodes = {},
    private readonly policyFile?: string,
  ) {
    this.configured = namespaceIndex(vnodes);
  }

  /** The shared vNode the admin gave this namespace, if any. */
  vnodeOf(namespace: string): string | undefined {
    const c = this.configured.get(namespace);
    if (c !== undefined) return c;
    return this.policyFile ? this.fromFile(this.policyFile).get(namespace) : undefined;
  }

  /** Where the admin sets it, for error messages. */
  describe(): string {
    const where = ['the manager configuration sharing.vnodes (chart value sharing.vnodes)'];
    if (this.policyFile) where.push(this.file?.source ?? `the policy file ${this.policyFile}`);
    return where.join(' or ');
  }

  /** The policy file, re-read when it changed (a stat per decision: a few microseconds). */
  private fromFile(path: string): Map<string, string> {
    let stamp: string;
    try {
      const st = statSync(path);
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (e) {
      throw new SharingPolicyError(`the shared-vNode policy ${path} is not there yet (${(e as NodeJS.ErrnoException).code}): the installer writes it once it has read the namespaces`);
    }
    if (this.file?.stamp === stamp) return this.file.index;
    let parsed: SharingPolicyFile;
    try {
      const r = SharingPolicyFileSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
      if (!r.success) throw new Error(describeIssues(r.error).join('; '));
      parsed = r.data;
    } catch (e) {
      throw new SharingPolicyError(`the shared-vNode policy ${path} is invalid: ${(e as Error).message}`);
    }
    this.file = { stamp, index: namespaceIndex(parsed.vnodes), source: parsed.source ?? `the policy file ${path}` };
    return this.file.index;
  }
}
