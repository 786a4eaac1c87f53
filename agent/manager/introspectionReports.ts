// What the manager's read-only introspection entry (`vnode-introspect`) answers, one zod schema per
// question: the manager builds these, the `vnode` CLI parses them (a trust boundary: the CLI may
// be newer or older than the manager it asks) and prints them for people or, with --json, as is.
import { z } from 'zod';

export const INTROSPECT_ENTRY = 'vnode-introspect';

export const SUBSYSTEMS = ['launch', 'vnodefs', 'seccomp', 'state', 'metrics'] as const;
export type SubsystemName = (typeof SUBSYSTEMS)[number];

export const SubsystemHealthSchema = z.object({
  name: z.enum(SUBSYSTEMS),
  /** ok: works; failed: broken (a restart may fix it); off: not configured on this node. */
  status: z.enum(['ok', 'failed', 'off']),
  detail: z.string(),
  /** Whether a failure here fails liveness (a restart helps) or only readiness. */
  live: z.boolean(),
});
export type SubsystemHealth = z.infer<typeof SubsystemHealthSchema>;

export const HealthReportSchema = z.object({
  pid: z.number().int(),
  uptimeSeconds: z.number(),
  subsystems: z.array(SubsystemHealthSchema),
});
export type HealthReport = z.infer<typeof HealthReportSchema>;

export const StatusReportSchema = HealthReportSchema.extend({
  version: z.string(),
  startedAt: z.string(),
  runDir: z.string(),
  stateDir: z.string(),
  /** The vnode handler's CNI config and plugin dirs the manager uses (`vnode doctor` checks them). */
  cni: z.object({ confDir: z.string(), binDir: z.string() }),
  /** Where /metrics is served; null when metrics are off or could not bind. */
  metricsUrl: z.string().nullable(),
  counts: z.object({
    vnodes: z.number().int(),
    pods: z.number().int(),
    containers: z.number().int(),
    seccompListeners: z.number().int(),
    syscallsIntercepted: z.number().int(),
    vnodefsRequests: z.number().int(),
  }),
});
export type StatusReport = z.infer<typeof StatusReportSchema>;

const IdRangeSchema = z.object({ uidStart: z.number().int(), gidStart: z.number().int(), size: z.number().int() });

export const PodSummarySchema = z.object({
  id: z.string(),
  /** Kubernetes namespace and name, from the pod's annotations ('' when a bare CRI client sent none). */
  namespace: z.string(),
  name: z.string(),
  containers: z.number().int(),
});
export type PodSummary = z.infer<typeof PodSummarySchema>;

export const VNodeSummarySchema = z.object({
  name: z.string(),
  key: z.string(),
  state: z.string(),
  idRange: IdRangeSchema,
  holderPid: z.number().int().nullable(),
  /** Namespace kind -> the kernel's id of the holder's namespace ("user:[4026532...]"), null when unreadable. */
  namespaces: z.record(z.string(), z.string().nullable()),
  createdAt: z.string(),
  pods: z.array(PodSummarySchema),
});
export type VNodeSummary = z.infer<typeof VNodeSummarySchema>;

export const ListReportSchema = z.object({ vnodes: z.array(VNodeSummarySchema) });
export type ListReport = z.infer<typeof ListReportSchema>;

export const MountSchema = z.object({ mountPoint: z.string(), fsType: z.string(), source: z.string() });

/** syscall -> outcome -> count, for one vNode since the manager started (or since the vNode was made). */
export const SyscallCountsSchema = z.record(z.string(), z.record(z.string(), z.number()));
export type SyscallCounts = z.infer<typeof SyscallCountsSchema>;

export const ContainerDetailSchema = z.object({
  id: z.string(),
  sandbox: z.boolean(),
  /** The container's first process as the seccomp listener reported it; null when unknown. */
  pid: z.number().int().nullable(),
  namespaces: z.record(z.string(), z.string().nullable()),
  uidMap: z.string().nullable(),
  mounts: z.array(MountSchema),
  seccompListeners: z.number().int(),
});

export const InspectReportSchema = z.object({
  kind: z.enum(['vnode', 'pod']),
  vnode: VNodeSummarySchema,
  pod: PodSummarySchema.nullable(),
  containers: z.array(ContainerDetailSchema),
  /** The vNode's own mounts on the host (its root, network namespace binds), below its dir. */
  hostMounts: z.array(MountSchema),
  seccomp: z.object({ listeners: z.number().int(), syscalls: SyscallCountsSchema }),
  /** vnodefs serves every vNode from one mount; its counters are the node's. */
  vnodefs: z.object({ mounted: z.boolean(), requests: z.number(), failed: z.number(), malformed: z.number(), openHandles: z.number(), sysctlsWritten: z.record(z.string(), z.string()) }),
});
export type InspectReport = z.infer<typeof InspectReportSchema>;
