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
  /** A Service and a ServiceMonitor (monitoring.coreos.com/v1, the Prometheus operator) for the
   * managers' /metrics; needs installer.manager.metrics.address other than loopback. */
  serviceMonitor: { enabled: boolean; interval: string; labels: Record<string, string> };
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
      logLevel: 'error' | 'warn' | 'info' | 'debug';
      /** Which pods share a vNode when no shared vNode applies: a namespace's on a node, or one per pod. */
      vnodeMode: 'namespace' | 'pod';
      /** Host devices pods may ask for through CRI (device plugins); null: the manager's default list. */
      deviceAllow: { name?: string; driver?: string; type?: 'c' | 'b' }[] | null;
      /** CPU-seconds per second the manager spends on one vNode's /proc and /sys reads, and on its trapped syscalls; 0: no budget. */
      cpuBudget: number;
      /** The manager's Prometheus endpoint on each node (it runs in the host's network namespace). */
      metrics: { enabled: boolean; address: string; port: number };
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
  serviceMonitor: { enabled: false, interval: '30s', labels: { 'app.kubernetes.io/name': 'vnode-runtime' } },
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
      logLevel: 'info',
      vnodeMode: 'namespace',
      deviceAllow: null,
      cpuBudget: 0.25,
      metrics: { enabled: true, address: '127.0.0.1', port: 9713 },
      sharing: { vnodes: {}, namespaceLabel: 'vnode.loft.sh/shared-vnode' },
      cgroup: { name: 'vnode.slice', memoryMax: '4294967296', pidsMax: '65536', cpuWeight: 100 },
    },
  },
};

const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
const IP = /^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)$|^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$/;
/** Addresses only the node itself reaches: Prometheus cannot scrape a manager bound there. */
const LOOPBACK = /^(127\.|::1$)/;
const DURATION = /^([0-9]+(ms|s|m|h))+$/;
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
    serviceMonitor: z.object({ enabled: z.boolean(), interval: z.string().regex(DURATION), labels: z.record(z.string()) }).strict(),
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
            logLevel: z.enum(['error', 'warn', 'info', 'debug']),
            vnodeMode: z.enum(['namespace', 'pod']),
            deviceAllow: z.array(z.object({ name: z.string().min(1).optional(), driver: z.string().min(1).optional(), type: z.enum(['c', 'b']).optional() }).strict().refine((e) => (e.name === undefined) !== (e.driver === undefined), 'an entry names either name or driver')).nullable(),
            cpuBudget: z.number().min(0).max(64),
            metrics: z.object({ enabled: z.boolean(), address: z.string().regex(IP), port: z.number().int().min(1).max(65535) }).strict(),
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
  .strict()
  .superRefine((v, ctx) => {
    const m = v.installer.manager.metrics;
    if (v.serviceMonitor.enabled && (!m.enabled || LOOPBACK.test(m.address)))
      ctx.addIssue({ code: 'custom', path: ['installer', 'manager', 'metrics'], message: 'serviceMonitor.enabled needs metrics enabled on an address Prometheus reaches (0.0.0.0 or the node IP), not loopback' });
  }) as unknown as z.ZodType<ChartValues>;

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
    serviceMonitor: obj({ enabled: { type: 'boolean' }, interval: { type: 'string', pattern: DURATION.source }, labels: strMap }),
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
            logLevel: { enum: ['error', 'warn', 'info', 'debug'] },
            vnodeMode: { enum: ['namespace', 'pod'] },
            deviceAllow: {
              type: ['array', 'null'],
              items: { type: 'object', properties: { name: { type: 'string', minLength: 1 }, driver: { type: 'string', minLength: 1 }, type: { enum: ['c', 'b'] } }, additionalProperties: false },
            },
            cpuBudget: { type: 'number', minimum: 0, maximum: 64 },
            metrics: obj({ enabled: { type: 'boolean' }, address: { type: 'string', pattern: IP.source }, port: { type: 'integer', minimum: 1, maximum: 65535 } }),
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
          ['mode', 'runDir', 'logLevel', 'vnodeMode', 'deviceAllow', 'cpuBudget', 'metrics', 'sharing', 'cgroup'],
          true,
        ),
      },
      ['restart', 'runtime', 'node', 'onTerm', 'manager'],
      true,
    ),
  }),
  // A ServiceMonitor is only worth having when Prometheus can reach the managers.
  allOf: [
    {
      if: { properties: { serviceMonitor: { properties: { enabled: { const: true } }, required: ['enabled'] } }, required: ['serviceMonitor'] },
      then: { properties: { installer: { properties: { manager: { properties: { metrics: { properties: { enabled: { const: true }, address: { not: { pattern: LOOPBACK.source } } } } } } } } } },
    },
  ],
};

/**
 * What each value means, for operators: written as comments into values.yaml and as
 * `description` into values.schema.json (keys are value paths).
 */
export const VALUE_DOCS: Record<string, string> = {
  image: 'The installer image (it carries the install tree it copies onto each node).',
  nodeSelector: 'Which nodes get vNode: the DaemonSet\'s nodeSelector.',
  tolerations: 'The DaemonSet\'s tolerations; the default tolerates every taint, so tainted nodes get vNode too.',
  priorityClassName: 'The installer pod\'s priority class; system-node-critical keeps it from being evicted under pressure.',
  resources: 'The installer pod\'s requests and limits. The manager does not run in this pod (it runs under its supervisor on the host, see installer.manager.cgroup), so these bound the installer only.',
  terminationGracePeriodSeconds: 'How long an uninstall may take on a node: draining the vNode pods and restarting containerd (at least installer.drainTimeoutSeconds + installer.readinessTimeoutSeconds, 240 by default).',
  runtimeClass: 'The RuntimeClass pods name to run in a vNode (runtimeClassName).',
  serviceMonitor: 'A headless Service on the installer pods (hostNetwork, so one endpoint per node) and a ServiceMonitor (monitoring.coreos.com/v1; the Prometheus operator\'s CRD must exist) scraping each node\'s manager. Needs installer.manager.metrics.address 0.0.0.0 or another non-loopback address.',
  'serviceMonitor.labels': 'Labels of the ServiceMonitor: your Prometheus\' serviceMonitorSelector must match them.',
  hostPaths: 'The only host directories the DaemonSet mounts, each at /host<dir>; they must hold every path of installer.* (the installer refuses to start otherwise, naming the missing path). docs/installer.md, "Host paths".',
  'hostPaths.shimLinkDir': 'A directory on containerd\'s PATH: the installer links containerd-shim-vnode-v2 and the vnode CLI there (equal to installer.shimLinkDir, default the same).',
  installer: 'The installer\'s configuration (installer/installerConfig.ts, checked again when it starts; keys not listed here keep their defaults there).',
  'installer.restart': 'How containerd is restarted: auto (command if set, else nsenter into pid 1 and systemctl restart), command, nsenter, none.',
  'installer.runtime': 'The containerd runtime vNode adds: handler is the RuntimeClass handler; cniConfDir the vnode handler\'s CNI chain; podAnnotations the annotations containerd passes to the runtime.',
  'installer.node.taintWhileInstalling': 'Taint the node vnode.io/installing:NoSchedule while the installer works on it.',
  'installer.onTerm': 'What the installer does on SIGTERM: auto (uninstall only when its DaemonSet is being deleted), uninstall, keep.',
  'installer.manager': 'The vnode-manager on each node, started under vnode-supervise on the host.',
  'installer.manager.mode': 'nsenter: in the host\'s namespaces (a node); child: in the installer pod\'s; none: not started.',
  'installer.manager.logLevel': 'The manager\'s log level (error, warn, info, debug); its log is <stateDir>/manager.log on the host.',
  'installer.manager.vnodeMode': 'namespace: the pods of one namespace on a node share a vNode; pod: each pod gets its own vNode.',
  'installer.manager.deviceAllow': 'Host devices pods may ask for through CRI (what device plugins hand out), by the kernel\'s node name or the driver\'s, character devices unless type: b; null: the manager\'s list (docs/pods.md, "Devices").',
  'installer.manager.cpuBudget': 'CPU-seconds per second the manager spends on one vNode\'s /proc and /sys reads, and separately on its trapped syscalls; beyond it the vNode waits (docs/vnodefs.md); 0: no budget.',
  'installer.manager.metrics': 'Prometheus metrics at http://<address>:<port>/metrics on each node. The manager runs in the host\'s network namespace: 127.0.0.1 is reachable from the node only; 0.0.0.0 lets Prometheus scrape it and exposes it to whoever reaches the node on that port.',
  'installer.manager.sharing': 'Which namespaces share a vNode, decided by the cluster admin only: vnodes (vNode name -> namespaces) and/or namespaces labelled namespaceLabel (value: the vNode\'s name; null turns the label off).',
  'installer.manager.cgroup': 'The cgroup on the host that holds the supervisor, the manager, its holders and the per-pod runc shims, with its limits (memoryMax bytes or "max", pidsMax, cpuWeight 1-10000); null: where it was started.',
};


// The docs go into the schema too (helm ignores `description`; editors and `helm show` readers don't).
for (const [path, text] of Object.entries(VALUE_DOCS)) {
  let node = valuesJsonSchema as { properties?: Record<string, unknown> };
  for (const k of path.split('.')) {
    const next = node.properties?.[k] as typeof node | undefined;
    if (!next) throw new Error(`VALUE_DOCS names ${path}, which the schema does not have`);
    node = next;
  }
  // Shared fragments (str, strMap, dir) must not carry one value's description to another.
  const parent = path.split('.').slice(0, -1).reduce<{ properties?: Record<string, unknown> }>((n, k) => n.properties![k] as typeof n, valuesJsonSchema);
  parent.properties![path.split('.').pop()!] = { description: text, ...node };
}
