// The manager's configuration: one zod schema, loaded from YAML or JSON, with errors that name
// the bad field. Defaults suit a real node; tests and `npm run local` override the paths.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_DEVICE_ALLOW } from '../spec/DeviceRequests.js';
import { requireCjs } from './cjs.js';

const { parse: parseYaml } = requireCjs('yaml') as typeof import('yaml');

export const ID_RANGE_SIZE = 65536;

const absPath = z.string().startsWith('/', 'must be an absolute path');
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Shared vNodes set up by the cluster admin: vNode name -> the namespaces whose pods share it. */
export const SharedVNodesSchema = z
  .record(z.string().regex(DNS_LABEL, 'a shared vNode name must be a DNS label (a-z, 0-9, -, at most 63)'), z.array(z.string().min(1)))
  .superRefine((vnodes, ctx) => {
    const owner = new Map<string, string>();
    for (const [name, namespaces] of Object.entries(vnodes))
      for (const ns of namespaces) {
        const other = owner.get(ns);
        if (other !== undefined && other !== name) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [name], message: `namespace ${JSON.stringify(ns)} is given to two shared vNodes, ${other} and ${name}` });
        owner.set(ns, name);
      }
  });
export type SharedVNodes = z.infer<typeof SharedVNodesSchema>;

/** Where the manager serves Prometheus metrics (the installer passes its own through as is). */
export const MetricsConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    address: z.string().ip().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(9713),
  })
  .strict();

/** One allowed host device (docs/pods.md, "Devices"): by the kernel's node name or its driver's. */
export const DeviceAllowEntrySchema = z
  .object({ name: z.string().min(1).optional(), driver: z.string().min(1).optional(), type: z.enum(['c', 'b']).optional() })
  .strict()
  .refine((e) => (e.name === undefined) !== (e.driver === undefined), { message: 'an entry names either name or driver' });

export const ConfigSchema = z
  .object({
    /** Sockets and per-boot state: launch.sock, shim.sock, holder roots, netns mounts. */
    runDir: absPath.default('/run/vnode'),
    /** State that survives a manager restart: vNodes, id ranges, task index. */
    stateDir: absPath.default('/var/lib/vnode'),
    /** The install tree (bin/, lib/); default: the tree this program runs from. */
    treeDir: absPath.optional(),
    logLevel: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
    /**
     * The CPU the manager spends on one vNode's trapped syscalls and, separately, on its vnodefs
     * requests: at most `cpuPerVnode` CPU-seconds per second each (split over the worker threads,
     * accounted in `windowMs` windows). Beyond it the vNode's calls wait for the next window, so a
     * flooding pod slows itself down, not the manager or the other vNodes. 0 turns it off.
     */
    budget: z
      .object({
        cpuPerVnode: z.number().min(0).max(64).default(0.25),
        windowMs: z.number().int().min(5).max(1000).default(50),
      })
      .strict()
      .default({}),
    containerd: z
      .object({
        address: absPath.default('/run/containerd/containerd.sock'),
        /** containerd's TTRPC address, where the runc shims publish events. */
        ttrpcAddress: absPath.optional(),
        binary: absPath.default('/usr/bin/containerd'),
      })
      .strict()
      .default({}),
    /** Host uids/gids handed out to vNodes, one block of 65536 each. */
    idPool: z
      .object({
        start: z.number().int().min(ID_RANGE_SIZE, 'must be >= 65536 so no vNode root maps onto a host system id'),
        /** Number of 65536-id blocks (one per vNode) in the pool. */
        count: z.number().int().positive(),
        /** Host users' subordinate ranges: no vNode block may overlap any entry of these. */
        subuidFile: absPath.default('/etc/subuid'),
        subgidFile: absPath.default('/etc/subgid'),
        /** Host users and groups: no vNode block may contain one of their ids. */
        passwdFile: absPath.default('/etc/passwd'),
        groupFile: absPath.default('/etc/group'),
      })
      .strict()
      .refine((p) => p.start + p.count * ID_RANGE_SIZE <= 0xffffffff, { message: 'start + count * 65536 must stay below 2^32 - 1 (the invalid id)' })
      .default({ start: 1 << 28, count: 1024 }),
    /** The vnode handler's CNI config (the host network with vnode-cni chained last) and plugins:
     * the manager runs the host network for a vNode's own netns, which hostNetwork pods share. */
    cni: z
      .object({
        confDir: absPath.default('/etc/cni/vnode.d'),
        binDir: absPath.default('/opt/cni/bin'),
      })
      .strict()
      .default({}),
    /** Serve the FUSE /proc and /sys files (vnodefs) and bind them into vNode containers. */
    vnodefs: z.boolean().default(true),
    /** kubelet's pod log root: a hostPath of it shows a vNode's pods only (agent/pods/PodLogViews.ts). */
    podLogRoot: absPath.default('/var/log/pods'),
    /** kubelet's container log links: a hostPath of it shows a vNode's containers only (PodLogViews.ts). */
    containerLogDir: absPath.default('/var/log/containers'),
    /** kubelet's root directory: a pod's emptyDir volumes under it become its vNode root's (agent/pods/delegation.ts). */
    kubeletRoot: absPath.default('/var/lib/kubelet'),
    /** Which pods share a vNode: all pods of a namespace on this node, or one vNode per pod. */
    vnodeMode: z.enum(['namespace', 'pod']).default('namespace'),
    /** Pods of different namespaces share a vNode only as the cluster admin says here
     * (agent/vnode/SharingPolicy.ts); a pod annotation alone never moves a tenant boundary. */
    sharing: z
      .object({
        vnodes: SharedVNodesSchema.default({}),
        /** A policy file the installer keeps from namespace labels; placement waits for it. */
        policyFile: absPath.optional(),
      })
      .strict()
      .default({}),
    /** Prometheus metrics at http://<address>:<port>/metrics. The DaemonSet runs on the host
     * network, so the default binds to loopback only; port 0 takes any free port (tests). */
    metrics: MetricsConfigSchema.default({}),
    /** Devices a container may ask for through CRI (device plugins): entries naming a device by the
     * kernel's node name or its driver's, character devices unless `type: b` (docs/pods.md, "Devices"). */
    devices: z
      .object({
        allow: z
          .array(
            DeviceAllowEntrySchema,
          )
          .default([...DEFAULT_DEVICE_ALLOW]),
      })
      .strict()
      .default({}),
    /** How long a new vNode's holder may take to report ready. */
    holderReadyTimeoutMs: z.number().int().positive().default(10_000),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(readonly source: string, readonly issues: string[]) {
    super(`invalid configuration in ${source}: ${issues.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** Formats zod issues as "field.path: message". */
export function describeIssues(err: z.ZodError): string[] {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

export function parseConfig(raw: unknown, source = 'config'): Config {
  const r = ConfigSchema.safeParse(raw ?? {});
  if (!r.success) throw new ConfigError(source, describeIssues(r.error));
  return r.data;
}

/** Reads a YAML/JSON file (if given) and applies environment overrides used by the launcher. */
export function loadConfig(file = process.env.VNODE_CONFIG, env: NodeJS.ProcessEnv = process.env): Config {
  let raw: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(file, [`cannot read: ${(e as Error).message}`]);
    }
    try {
      raw = (parseYaml(text) as Record<string, unknown> | null) ?? {};
    } catch (e) {
      throw new ConfigError(file, [`not valid YAML: ${(e as Error).message}`]);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, ['(root): must be a mapping']);
  }
  // The launcher finds the manager through VNODE_RUN_DIR, so the manager must agree with it.
  if (env.VNODE_RUN_DIR) raw = { ...raw, runDir: env.VNODE_RUN_DIR };
  if (env.VNODE_STATE_DIR) raw = { ...raw, stateDir: env.VNODE_STATE_DIR };
  if (env.VNODE_LOG_LEVEL) raw = { ...raw, logLevel: env.VNODE_LOG_LEVEL };
  if (env.VNODE_CPU_BUDGET) {
    if (!/^\d+(\.\d+)?$/.test(env.VNODE_CPU_BUDGET)) throw new ConfigError('VNODE_CPU_BUDGET', [`not a CPU fraction: ${JSON.stringify(env.VNODE_CPU_BUDGET)}`]);
    const budget = (raw as { budget?: object }).budget ?? {};
    raw = { ...raw, budget: { ...budget, cpuPerVnode: Number(env.VNODE_CPU_BUDGET) } };
  }
  if (env.VNODE_CNI_CONF_DIR || env.VNODE_CNI_BIN_DIR) {
    const cni = (raw.cni ?? {}) as Record<string, unknown>;
    raw = { ...raw, cni: { ...cni, ...(env.VNODE_CNI_CONF_DIR ? { confDir: env.VNODE_CNI_CONF_DIR } : {}), ...(env.VNODE_CNI_BIN_DIR ? { binDir: env.VNODE_CNI_BIN_DIR } : {}) } };
  }
  if (env.VNODE_VNODE_MODE) raw = { ...raw, vnodeMode: env.VNODE_VNODE_MODE };
  if (env.VNODE_POD_LOG_ROOT) raw = { ...raw, podLogRoot: env.VNODE_POD_LOG_ROOT };
  if (env.VNODE_KUBELET_ROOT) raw = { ...raw, kubeletRoot: env.VNODE_KUBELET_ROOT };
  if (env.VNODE_CONTAINER_LOG_DIR) raw = { ...raw, containerLogDir: env.VNODE_CONTAINER_LOG_DIR };
  if (env.VNODE_METRICS_PORT || env.VNODE_METRICS_ADDRESS || env.VNODE_METRICS_ENABLED) {
    const metrics = { ...((raw.metrics ?? {}) as Record<string, unknown>) };
    if (env.VNODE_METRICS_ENABLED) {
      if (env.VNODE_METRICS_ENABLED !== 'true' && env.VNODE_METRICS_ENABLED !== 'false') throw new ConfigError('VNODE_METRICS_ENABLED', [`not true or false: ${JSON.stringify(env.VNODE_METRICS_ENABLED)}`]);
      metrics.enabled = env.VNODE_METRICS_ENABLED === 'true';
    }
    if (env.VNODE_METRICS_PORT) {
      if (!/^\d+$/.test(env.VNODE_METRICS_PORT)) throw new ConfigError('VNODE_METRICS_PORT', [`not a port number: ${JSON.stringify(env.VNODE_METRICS_PORT)}`]);
      metrics.port = Number(env.VNODE_METRICS_PORT);
    }
    if (env.VNODE_METRICS_ADDRESS) metrics.address = env.VNODE_METRICS_ADDRESS;
    raw = { ...raw, metrics };
  }
  if (env.VNODE_SHARED_VNODES || env.VNODE_SHARING_POLICY_FILE) {
    const sharing = { ...((raw.sharing ?? {}) as Record<string, unknown>) };
    if (env.VNODE_SHARED_VNODES) {
      try {
        sharing.vnodes = JSON.parse(env.VNODE_SHARED_VNODES) as unknown;
      } catch (e) {
        throw new ConfigError('VNODE_SHARED_VNODES', [`not JSON: ${(e as Error).message}`]);
      }
    }
    if (env.VNODE_SHARING_POLICY_FILE) sharing.policyFile = env.VNODE_SHARING_POLICY_FILE;
    raw = { ...raw, sharing };
  }
  if (env.VNODE_DEVICE_ALLOW) {
    try {
      raw = { ...raw, devices: { ...((raw.devices ?? {}) as Record<string, unknown>), allow: JSON.parse(env.VNODE_DEVICE_ALLOW) as unknown } };
    } catch (e) {
      throw new ConfigError('VNODE_DEVICE_ALLOW', [`not JSON: ${(e as Error).message}`]);
    }
  }
  return parseConfig(raw, file ?? 'defaults');
}
