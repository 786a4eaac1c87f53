// The installer's configuration (the chart's ConfigMap, mounted as a YAML file): one zod schema
// with defaults for a real node; flavor-dependent paths resolved against the host.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { requireCjs } from '../agent/common/cjs.js';
import { describeIssues, ConfigError, DeviceAllowEntrySchema, MetricsConfigSchema, SharedVNodesSchema } from '../agent/common/config.js';
import type { ContainerdFlavor } from './containerdConfig.js';
import type { HostRoot } from './HostRoot.js';

const { parse: parseYaml } = requireCjs('yaml') as typeof import('yaml');

const absPath = z.string().startsWith('/', 'must be an absolute path');

export const InstallerConfigSchema = z
  .object({
    /** Where the host's / is mounted in the pod. */
    hostRoot: absPath.default('/host'),
    /**
     * A process in the host's namespaces (hostPID): nsenter's target for the restart and the
     * manager, and /proc/<pid>/root for read-only host facts the mounts do not reach. pid 1 on a
     * node; a test whose pid 1 refuses ptrace access names another host process.
     */
    hostPid: z.number().int().positive().default(1),
    /** The tree to install (pod path); default: the tree this program runs from. */
    stagedTree: absPath.optional(),
    installDir: absPath.default('/opt/vnode'),
    /**
     * A directory on containerd's PATH that gets a link named containerd-shim-vnode-v2 to the
     * installed shim: containerd 1.6 finds a sandbox's shim by that name (./, $PATH, then its own
     * directory) and does not use runtime_path for it. /usr/local/bin is on containerd's PATH in
     * every systemd distribution's unit.
     */
    shimLinkDir: absPath.default('/usr/local/bin'),
    /** Host path of the install journal and config backups: inside a mounted dir (the DaemonSet
     * mounts /var/lib/vnode), since uninstall removes it and a mount point cannot be removed. */
    stateDir: absPath.default('/var/lib/vnode/installer'),
    /** Old versions kept beside `current` for a quick roll back. */
    keepVersions: z.number().int().min(0).default(1),
    containerd: z
      .object({
        flavor: z.enum(['auto', 'containerd', 'k3s', 'rke2']).default('auto'),
        configPath: absPath.optional(),
        binary: absPath.optional(),
        socket: absPath.optional(),
        root: absPath.optional(),
        dropInName: z.string().regex(/^[A-Za-z0-9._-]+\.toml$/, 'a file name ending in .toml').default('vnode-runtime.toml'),
      })
      .strict()
      .default({}),
    runtime: z
      .object({
        handler: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a DNS label').default('vnode'),
        runtimeType: z.string().default('io.containerd.vnode.v2'),
        cniConfDir: absPath.default('/etc/cni/vnode.d'),
        podAnnotations: z.array(z.string()).default(['vnode.loft.sh/*']),
        containerAnnotations: z.array(z.string()).default([]),
      })
      .strict()
      .default({}),
    cni: z
      .object({
        /** Overrides containerd's cni bin_dir / conf_dir. */
        binDir: absPath.optional(),
        hostConfDir: absPath.optional(),
        rescanSeconds: z.number().positive().default(10),
      })
      .strict()
      .default({}),
    restart: z
      .object({
        strategy: z.enum(['auto', 'command', 'nsenter', 'none']).default('auto'),
        command: z.array(z.string()).min(1).optional(),
        unit: z.string().optional(),
        timeoutSeconds: z.number().positive().default(180),
      })
      .strict()
      .default({}),
    readinessTimeoutSeconds: z.number().positive().default(120),
    drainTimeoutSeconds: z.number().nonnegative().default(120),
    node: z
      .object({
        /** The Kubernetes API is used unless this is false (local mode). */
        kubernetes: z.boolean().default(true),
        readyLabel: z.string().default('vnode.io/runtime'),
        readyValue: z.string().default('ready'),
        taintWhileInstalling: z.boolean().default(false),
        taintKey: z.string().default('vnode.io/installing'),
      })
      .strict()
      .default({}),
    /** What SIGTERM means: auto asks the API whether the DaemonSet is being deleted. */
    onTerm: z.enum(['auto', 'uninstall', 'keep']).default('auto'),
    manager: z
      .object({
        /** nsenter: run the manager in the host's namespaces (hostPID); child: in this pod; none. */
        mode: z.enum(['nsenter', 'child', 'none']).default('nsenter'),
        args: z.array(z.string()).default([]),
        /** Host paths the manager is started with (VNODE_RUN_DIR, VNODE_STATE_DIR); the launcher
         * containerd runs finds the manager's socket in runDir. */
        runDir: absPath.default('/run/vnode'),
        stateDir: absPath.default('/var/lib/vnode'),
        logLevel: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
        /** Which pods share a vNode by default: all of a namespace on this node, or one per pod. */
        vnodeMode: z.enum(['namespace', 'pod']).default('namespace'),
        /** Host devices a pod may ask for through CRI (VNODE_DEVICE_ALLOW); null: the manager's defaults (docs/pods.md, "Devices"). */
        deviceAllow: z.array(DeviceAllowEntrySchema).nullable().default(null),
        /** CPU-seconds per second the manager spends on one vNode's vnodefs requests, and on its trapped syscalls (VNODE_CPU_BUDGET; 0: no budget). */
        cpuBudget: z.number().min(0).max(64).default(0.25),
        /**
         * The manager's Prometheus endpoint, http://<address>:<port>/metrics. The manager runs in
         * the host's network namespace, so 127.0.0.1 (the default) is reachable from the node only;
         * 0.0.0.0 (or the node's IP) lets Prometheus scrape it, and exposes it to whoever reaches the node.
         */
        metrics: MetricsConfigSchema.default({}),
        /** The manager's log on the host, written by its supervisor (rotated once beyond 64 MiB); null: <stateDir>/manager.log. */
        logFile: absPath.nullable().default(null),
        /**
         * The cgroup the supervisor moves to (in every hierarchy, below its root), with the manager,
         * its holders and the per-pod runc shims, so they neither live nor die with the installer
         * pod and have a budget of their own. null: stay where started (tests, mode child).
         */
        cgroup: z
          .object({
            name: z.string().regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'a cgroup path below the root, without ".."').refine((n) => !n.split('/').includes('..'), 'no ".."').default('vnode.slice'),
            /** memory.max (v2) / memory.limit_in_bytes (v1): bytes or "max". */
            memoryMax: z.string().regex(/^(\d+|max)$/).nullable().default('4294967296'),
            pidsMax: z.string().regex(/^(\d+|max)$/).nullable().default('65536'),
            /** cpu.weight (v2, 1-10000; v1 cpu.shares = weight * 1024 / 100). */
            cpuWeight: z.number().int().min(1).max(10000).nullable().default(100),
          })
          .strict()
          .nullable()
          .default({}),
        /**
         * Which namespaces share a vNode: the cluster admin's word, never a pod's. `vnodes` (vNode
         * name -> namespaces) is passed to the manager as is; with the Kubernetes API, the
         * installer also watches the namespaces labelled `namespaceLabel` (value: the vNode's name)
         * and keeps the manager's policy file from them (null: no label is read). Labels of a
         * Namespace are set by whoever may update Namespaces (cluster-scoped): the admin, not a
         * tenant with the admin role in its namespace.
         */
        sharing: z
          .object({
            vnodes: SharedVNodesSchema.default({}),
            namespaceLabel: z
              .string()
              .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, 'a label key (prefix/name)')
              .nullable()
              .default('vnode.loft.sh/shared-vnode'),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    preflight: z
      .object({
        skip: z.boolean().default(false),
        allowedCgroups: z.array(z.enum(['v2', 'hybrid', 'v1'])).default(['v2', 'hybrid', 'v1']),
      })
      .strict()
      .default({}),
  })
  .strict()
  .refine((c) => c.restart.strategy !== 'command' || c.restart.command, { message: 'restart.command is required with strategy "command"', path: ['restart', 'command'] });

export type InstallerConfig = z.infer<typeof InstallerConfigSchema>;

export function parseInstallerConfig(raw: unknown, source = 'installer config'): InstallerConfig {
  const r = InstallerConfigSchema.safeParse(raw ?? {});
  if (!r.success) throw new ConfigError(source, describeIssues(r.error));
  return r.data;
}

export function loadInstallerConfig(file: string | undefined): InstallerConfig {
  if (!file) return parseInstallerConfig({}, 'defaults');
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(file, [`cannot read: ${(e as Error).message}`]);
  }
  return parseInstallerConfig(raw, file);
}

export interface FlavorPaths {
  flavor: ContainerdFlavor;
  configPath: string;
  binary: string;
  socket: string;
  root: string;
}

const FLAVORS: Record<ContainerdFlavor, Omit<FlavorPaths, 'flavor'>> = {
  containerd: { configPath: '/etc/containerd/config.toml', binary: '/usr/bin/containerd', socket: '/run/containerd/containerd.sock', root: '/var/lib/containerd' },
  k3s: { configPath: '/var/lib/rancher/k3s/agent/etc/containerd/config.toml', binary: '/var/lib/rancher/k3s/data/current/bin/containerd', socket: '/run/k3s/containerd/containerd.sock', root: '/var/lib/rancher/k3s/agent/containerd' },
  rke2: { configPath: '/var/lib/rancher/rke2/agent/etc/containerd/config.toml', binary: '/var/lib/rancher/rke2/bin/containerd', socket: '/run/k3s/containerd/containerd.sock', root: '/var/lib/rancher/rke2/agent/containerd' },
};

/** The flavor (k3s/RKE2 when their rendered config exists) and its paths, config overrides first. */
export function resolveFlavor(host: HostRoot, c: InstallerConfig['containerd']): FlavorPaths {
  let flavor: ContainerdFlavor;
  if (c.flavor !== 'auto') flavor = c.flavor;
  else if (host.exists(FLAVORS.k3s.configPath)) flavor = 'k3s';
  else if (host.exists(FLAVORS.rke2.configPath)) flavor = 'rke2';
  else flavor = 'containerd';
  const d = FLAVORS[flavor];
  let binary = c.binary ?? d.binary;
  if (!c.binary && flavor === 'containerd' && !host.exists(binary) && host.exists('/usr/local/bin/containerd')) binary = '/usr/local/bin/containerd';
  return { flavor, configPath: c.configPath ?? d.configPath, binary, socket: c.socket ?? d.socket, root: c.root ?? d.root };
}

/** k3s servers run the `k3s` unit, agents `k3s-agent` (likewise RKE2); told apart by the server's data dir. */
export function isServerNode(host: HostRoot, flavor: ContainerdFlavor): boolean {
  if (flavor === 'k3s') return host.exists('/var/lib/rancher/k3s/server');
  if (flavor === 'rke2') return host.exists('/var/lib/rancher/rke2/server');
  return false;
}
