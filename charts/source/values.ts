// The chart's values: their TypeScript type, their defaults (values.yaml is written from these)
// and their JSON schema (values.schema.json). The installer's own settings are passed through as
// `installer` and checked again by the installer's zod schema when it starts.
import { z } from 'zod';

export const VERSION = '0.1.0';

export interface ChartValues {
  image: { repository: string; tag: string; pullPolicy: 'Always' | 'IfNotPresent' | 'Never' };
  /** Which nodes get vNode (the DaemonSet's nodeSelector). */
  nodeSelector: Record<string, string>;
  tolerations: Record<string, unknown>[];
  priorityClassName: string;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  /** Long enough for an uninstall to drain vNode pods and restart containerd. */
  terminationGracePeriodSeconds: number;
  runtimeClass: { name: string };
  /**
   * The only host directories the DaemonSet mounts, each at /host<dir>. They must hold every path
   * of installer.* (the installer refuses to start otherwise, naming the missing path).
   */
  hostPaths: HostPaths;
  /** The installer's configuration (installer/installerConfig.ts); runtime.handler is the RuntimeClass handler. */
  installer: {
    restart: { strategy: 'auto' | 'command' | 'nsenter' | 'none' };
    runtime: { handler: string; cniConfDir: string; podAnnotations: string[] };
    node: { taintWhileInstalling: boolean };
    onTerm: 'auto' | 'uninstall' | 'keep';
    manager: {
      mode: 'nsenter' | 'child' | 'none';
      runDir: string;
      /** Which namespaces share a vNode, decided by the cluster admin only: `vnodes` (vNode name ->
       * namespaces) here, and/or the namespaces labelled `namespaceLabel` (value: the vNode's
       * name; null turns the label off). A pod's `vnode.loft.sh/name` annotation may only name
       * the shared vNode of its own namespace. */
      sharing: { vnodes: Record<string, string[]>; namespaceLabel: string | null };
      /** The cgroup the manager's supervisor, the manager, its holders and the per-pod runc shims
       * run in on the host (below each hierarchy's root), with its limits; null: where started. */
      cgroup: { name: string; memoryMax: string | null; pidsMax: string | null; cpuWeight: number | null } | null;
    };
  };
}

export interface HostPaths {
  /** containerd's config.toml (and a conf.d it imports). */
  containerdConfigDir: string;
  /** containerd's CRI socket (HostToContainer: the socket is made anew on every restart). */
  containerdRunDir: string;
  /** The parent of the host's CNI conf dir and of runtime.cniConfDir (the installer creates and removes vnode.d). */
  cniConfigDir: string;
  /** containerd's CNI bin_dir, where vnode-cni is linked. */
  cniBinDir: string;
  /** The parent of installDir (/opt/vnode is created and removed, so /opt is mounted). */
  installParentDir: string;
  /** The manager's run dir (launch socket for the probes; HostToContainer for its mounts). */
  runDir: string;
  /** The manager's state dir; the installer's journal lives in <stateDir>/installer. */
  stateDir: string;
  /** A dir on containerd's PATH for the containerd-shim-vnode-v2 link (the installer's shimLinkDir):
   * containerd 1.6 finds a sandbox's shim by name there, not by runtime_path. */
  shimLinkDir: string;
}

export const defaultValues: ChartValues = {
  image: { repository: 'ghcr.io/vnode-runtime/vnode', tag: VERSION, pullPolicy: 'IfNotPresent' },
  nodeSelector: { 'kubernetes.io/os': 'linux' },
  tolerations: [{ operator: 'Exists' }],
  priorityClassName: 'system-node-critical',
  resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '1Gi' } },
  terminationGracePeriodSeconds: 300,
  runtimeClass: { name: 'vnode' },
  hostPaths: {
    containerdConfigDir: '/etc/containerd',
    containerdRunDir: '/run/containerd',
    cniConfigDir: '/etc/cni',
    cniBinDir: '/opt/cni/bin',
    installParentDir: '/opt',
    runDir: '/run/vnode',
    stateDir: '/var/lib/vnode',
    shimLinkDir: '/usr/local/bin',
  },
  installer: {
    restart: { strategy: 'auto' },
    runtime: { handler: 'vnode', cniConfDir: '/etc/cni/vnode.d', podAnnotations: ['vnode.loft.sh/*'] },
    node: { taintWhileInstalling: false },
    onTerm: 'auto',
    manager: {
      mode: 'nsenter',
      runDir: '/run/vnode',
      sharing: { vnodes: {}, namespaceLabel: 'vnode.loft.sh/shared-vnode' },
      cgroup: { name: 'vnode.slice', memoryMax: '4294967296', pidsMax: '65536', cpuWeight: 100 },
    },
  },
};

const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
// Absolute, not "/" itself: the point is to mount less than the host's root.
const hostDir = z.string().regex(/^\/[^/]/, 'an absolute directory other than /');

export const ValuesSchema: z.ZodType<ChartValues> = z
  .object({
    image: z.object({ repository: z.string().min(1), tag: z.string().min(1), pullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']) }).strict(),
    nodeSelector: z.record(z.string()),
    tolerations: z.array(z.record(z.unknown())),
    priorityClassName: z.string(),
    resources: z.object({ requests: z.record(z.string()), limits: z.record(z.string()) }).strict(),
    terminationGracePeriodSeconds: z.number().int().min(30),
    runtimeClass: z.object({ name: dnsLabel }).strict(),
    hostPaths: z.object({ containerdConfigDir: hostDir, containerdRunDir: hostDir, cniConfigDir: hostDir, cniBinDir: hostDir, installParentDir: hostDir, runDir: hostDir, stateDir: hostDir, shimLinkDir: hostDir }).strict(),
    installer: z
      .object({
        restart: z.object({ strategy: z.enum(['auto', 'command', 'nsenter', 'none']) }).passthrough(),
        runtime: z.object({ handler: dnsLabel, cniConfDir: z.string().startsWith('/'), podAnnotations: z.array(z.string()) }).passthrough(),
        node: z.object({ taintWhileInstalling: z.boolean() }).passthrough(),
        onTerm: z.enum(['auto', 'uninstall', 'keep']),
        manager: z
          .object({
            mode: z.enum(['nsenter', 'child', 'none']),
            runDir: hostDir,
            sharing: z.object({ vnodes: z.record(dnsLabel, z.array(z.string().min(1))), namespaceLabel: z.string().min(1).nullable() }).strict(),
            cgroup: z
              .object({ name: z.string().regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/), memoryMax: z.string().regex(/^(\d+|max)$/).nullable(), pidsMax: z.string().regex(/^(\d+|max)$/).nullable(), cpuWeight: z.number().int().min(1).max(10000).nullable() })
              .strict()
              .nullable(),
          })
          .passthrough(),
      })
      .passthrough(),
  })
  .strict() as z.ZodType<ChartValues>;

const str = { type: 'string' };
const strMap = { type: 'object', additionalProperties: { type: 'string' } };
const dns = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' };
const dir = { type: 'string', pattern: '^/[^/]' };
const obj = (properties: Record<string, unknown>, required = Object.keys(properties), additional = false) => ({ type: 'object', properties, required, additionalProperties: additional });

/** values.schema.json: what helm checks before rendering (same rules as ValuesSchema). */
export const valuesJsonSchema = {
  $schema: 'https://json-schema.org/draft-07/schema#',
  title: 'vnode-runtime chart values',
  ...obj({
    image: obj({ repository: { type: 'string', minLength: 1 }, tag: { type: 'string', minLength: 1 }, pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] } }),
    nodeSelector: strMap,
    tolerations: { type: 'array', items: { type: 'object' } },
    priorityClassName: str,
    resources: obj({ requests: strMap, limits: strMap }),
    terminationGracePeriodSeconds: { type: 'integer', minimum: 30 },
    runtimeClass: obj({ name: dns }),
    hostPaths: obj({ containerdConfigDir: dir, containerdRunDir: dir, cniConfigDir: dir, cniBinDir: dir, installParentDir: dir, runDir: dir, stateDir: dir, shimLinkDir: dir }),
    installer: obj(
      {
        restart: obj({ strategy: { enum: ['auto', 'command', 'nsenter', 'none'] } }, ['strategy'], true),
        runtime: obj({ handler: dns, cniConfDir: { type: 'string', pattern: '^/' }, podAnnotations: { type: 'array', items: str } }, ['handler', 'cniConfDir', 'podAnnotations'], true),
        node: obj({ taintWhileInstalling: { type: 'boolean' } }, ['taintWhileInstalling'], true),
        onTerm: { enum: ['auto', 'uninstall', 'keep'] },
        manager: obj(
          {
            mode: { enum: ['nsenter', 'child', 'none'] },
            runDir: dir,
            sharing: obj({
              vnodes: { type: 'object', propertyNames: dns, additionalProperties: { type: 'array', items: { type: 'string', minLength: 1 } } },
              namespaceLabel: { type: ['string', 'null'], minLength: 1 },
            }),
            cgroup: {
              type: ['object', 'null'],
              properties: {
                name: { type: 'string', pattern: '^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$' },
                memoryMax: { type: ['string', 'null'], pattern: '^([0-9]+|max)$' },
                pidsMax: { type: ['string', 'null'], pattern: '^([0-9]+|max)$' },
                cpuWeight: { type: ['integer', 'null'], minimum: 1, maximum: 10000 },
              },
              required: ['name', 'memoryMax', 'pidsMax', 'cpuWeight'],
              additionalProperties: false,
            },
          },
          ['mode', 'runDir', 'sharing', 'cgroup'],
          true,
        ),
      },
      ['restart', 'runtime', 'node', 'onTerm', 'manager'],
      true,
    ),
  }),
};
