// A pod spec (the DaemonSet's template) turned into the CRI calls' configs the way kubelet builds
// them: PodSandboxConfig (host namespaces, privileged, cgroup parent, log dir, DNS), one
// ContainerConfig per container (command/args, env with the downward API, hostPath volumes as
// CRI mounts with their propagation, ConfigMap volumes as a host dir of files, privileged,
// memory limit and cpu shares, termination-log), and the exec probes. The spec is checked field
// by field: a field this translator does not know is an error, so a manifest change cannot slip
// past the e2e untranslated. What kubelet does beyond this (service-account token, service env
// vars, image pulls) is named in IGNORED with the reason.
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { CriMessage } from '../../installer/cri/CriClient.js';

const ExecProbe = z
  .object({
    exec: z.object({ command: z.array(z.string()).min(1) }).strict(),
    initialDelaySeconds: z.number().int().nonnegative().default(0),
    timeoutSeconds: z.number().int().positive().default(1),
    periodSeconds: z.number().int().positive().default(10),
    successThreshold: z.number().int().positive().default(1),
    failureThreshold: z.number().int().positive().default(3),
  })
  .strict();
export type ExecProbe = z.infer<typeof ExecProbe>;

const EnvVar = z
  .object({
    name: z.string(),
    value: z.string().optional(),
    valueFrom: z.object({ fieldRef: z.object({ fieldPath: z.string(), apiVersion: z.string().optional() }).strict() }).strict().optional(),
  })
  .strict();

const Container = z
  .object({
    name: z.string(),
    image: z.string(),
    imagePullPolicy: z.string().optional(),
    command: z.array(z.string()).optional(),
    args: z.array(z.string()).optional(),
    workingDir: z.string().optional(),
    env: z.array(EnvVar).optional(),
    securityContext: z.object({ privileged: z.boolean().optional() }).strict().optional(),
    resources: z.object({ requests: z.record(z.string()).optional(), limits: z.record(z.string()).optional() }).strict().optional(),
    volumeMounts: z
      .array(z.object({ name: z.string(), mountPath: z.string(), readOnly: z.boolean().optional(), mountPropagation: z.enum(['None', 'HostToContainer', 'Bidirectional']).optional() }).strict())
      .optional(),
    startupProbe: ExecProbe.optional(),
    livenessProbe: ExecProbe.optional(),
    readinessProbe: ExecProbe.optional(),
  })
  .strict();

const Volume = z
  .object({
    name: z.string(),
    hostPath: z.object({ path: z.string(), type: z.enum(['', 'Directory', 'DirectoryOrCreate']).optional() }).strict().optional(),
    configMap: z.object({ name: z.string() }).strict().optional(),
  })
  .strict();

export const PodSpecSchema = z
  .object({
    serviceAccountName: z.string().optional(),
    hostPID: z.boolean().optional(),
    hostNetwork: z.boolean().optional(),
    hostIPC: z.boolean().optional(),
    dnsPolicy: z.string().optional(),
    priorityClassName: z.string().optional(),
    terminationGracePeriodSeconds: z.number().int().nonnegative().default(30),
    nodeSelector: z.record(z.string()).optional(),
    tolerations: z.array(z.record(z.unknown())).optional(),
    containers: z.array(Container).min(1),
    volumes: z.array(Volume).default([]),
  })
  .strict();
export type PodSpec = z.infer<typeof PodSpecSchema>;

/** Fields kubelet acts on that have no CRI counterpart here, and why they can be left out. */
export const IGNORED: Record<string, string> = {
  serviceAccountName: 'the token volume is only needed with node.kubernetes; the e2e runs without an API server',
  dnsPolicy: 'with hostNetwork the pod uses the node resolv.conf; the sandbox gets the bed DNS config',
  priorityClassName: 'scheduling and eviction order, not a CRI field',
  nodeSelector: 'scheduling',
  tolerations: 'scheduling',
  imagePullPolicy: 'the image is imported, never pulled',
  'resources.requests.memory': 'scheduling only (kubelet passes no memory request to CRI on cgroup v1)',
};

export interface PodIdentity {
  name: string;
  namespace: string;
  uid: string;
  nodeName: string;
  hostIP: string;
}

export interface TranslatedContainer {
  name: string;
  config: CriMessage;
  probes: { startup?: ExecProbe; liveness?: ExecProbe; readiness?: ExecProbe };
}

export interface TranslatedPod {
  sandbox: CriMessage;
  containers: TranslatedContainer[];
  terminationGracePeriodSeconds: number;
  /** Host dirs kubelet created (DirectoryOrCreate) for this pod: they stay after it, as with kubelet. */
  createdHostDirs: string[];
}

export interface TranslateOptions {
  pod: PodIdentity;
  /** kubelet's pod dir (/var/lib/kubelet/pods/<uid>): ConfigMap files and termination logs. */
  podDir: string;
  logDirectory: string;
  cgroupParent: string;
  /** ConfigMaps by name: data key -> text. */
  configMaps: Record<string, Record<string, string>>;
  dns?: CriMessage;
}

/** Kubernetes quantities: "1Gi", "128Mi", "500M", "50m", "2". */
export function parseQuantity(q: string): number {
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q);
  if (!m) throw new Error(`quantity ${JSON.stringify(q)} cannot be read`);
  const mult: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  const f = mult[m[2]!];
  if (f === undefined) throw new Error(`quantity ${JSON.stringify(q)}: unknown suffix ${m[2]}`);
  return Number(m[1]) * f;
}

const PROPAGATION = { None: 'PROPAGATION_PRIVATE', HostToContainer: 'PROPAGATION_HOST_TO_CONTAINER', Bidirectional: 'PROPAGATION_BIDIRECTIONAL' } as const;

function fieldRef(path: string, pod: PodIdentity, spec: PodSpec): string {
  switch (path) {
    case 'metadata.name':
      return pod.name;
    case 'metadata.namespace':
      return pod.namespace;
    case 'metadata.uid':
      return pod.uid;
    case 'spec.nodeName':
      return pod.nodeName;
    case 'spec.serviceAccountName':
      return spec.serviceAccountName ?? 'default';
    case 'status.hostIP':
      return pod.hostIP;
    case 'status.podIP':
      if (spec.hostNetwork) return pod.hostIP;
      throw new Error('status.podIP of a pod network pod is not known before the sandbox runs');
    default:
      throw new Error(`fieldRef ${path} is not translated`);
  }
}

export function translatePod(rawSpec: unknown, o: TranslateOptions): TranslatedPod {
  const spec = PodSpecSchema.parse(rawSpec);
  const { pod } = o;
  const createdHostDirs: string[] = [];
  const privileged = spec.containers.some((c) => c.securityContext?.privileged);
  const podNs = { network: spec.hostNetwork ? 'NODE' : 'POD', pid: spec.hostPID ? 'NODE' : 'POD', ipc: spec.hostIPC ? 'NODE' : 'POD' };
  const labels = { 'io.kubernetes.pod.name': pod.name, 'io.kubernetes.pod.namespace': pod.namespace, 'io.kubernetes.pod.uid': pod.uid };
  const sandbox: CriMessage = {
    metadata: { name: pod.name, uid: pod.uid, namespace: pod.namespace, attempt: 0 },
    hostname: spec.hostNetwork ? '' : pod.name,
    logDirectory: o.logDirectory,
    ...(o.dns && !spec.hostNetwork ? { dnsConfig: o.dns } : {}),
    labels,
    annotations: { 'kubernetes.io/config.source': 'api' },
    linux: { cgroupParent: o.cgroupParent, securityContext: { namespaceOptions: podNs, privileged } },
  };

  // Volumes as kubelet sets them up before the containers start.
  const volumeHostPath = new Map<string, string>();
  for (const v of spec.volumes) {
    if (v.hostPath) {
      const t = v.hostPath.type ?? '';
      if (t === 'DirectoryOrCreate' && !existsSync(v.hostPath.path)) {
        mkdirSync(v.hostPath.path, { recursive: true, mode: 0o755 });
        createdHostDirs.push(v.hostPath.path);
      }
      if (t === 'Directory' || t === 'DirectoryOrCreate') {
        if (!existsSync(v.hostPath.path) || !statSync(v.hostPath.path).isDirectory()) throw new Error(`hostPath ${v.name}: ${v.hostPath.path} is not a directory (type ${t})`);
      }
      volumeHostPath.set(v.name, v.hostPath.path);
    } else if (v.configMap) {
      const data = o.configMaps[v.configMap.name];
      if (!data) throw new Error(`configMap ${v.configMap.name} of volume ${v.name} is not given`);
      const dir = join(o.podDir, 'volumes/kubernetes.io~configmap', v.name);
      mkdirSync(dir, { recursive: true });
      for (const [k, text] of Object.entries(data)) writeFileSync(join(dir, k), text, { mode: 0o644 });
      volumeHostPath.set(v.name, dir);
    } else throw new Error(`volume ${v.name}: only hostPath and configMap volumes are translated`);
  }

  const containers = spec.containers.map((c): TranslatedContainer => {
    const mounts = (c.volumeMounts ?? []).map((m) => {
      const hostPath = volumeHostPath.get(m.name);
      if (!hostPath) throw new Error(`volumeMount ${m.name} of ${c.name} has no volume`);
      const isConfigMap = spec.volumes.find((v) => v.name === m.name)?.configMap !== undefined;
      return { containerPath: m.mountPath, hostPath, readonly: !!m.readOnly || isConfigMap, propagation: PROPAGATION[m.mountPropagation ?? 'None'] };
    });
    // kubelet's terminationMessagePath (/dev/termination-log) is a file of the pod dir.
    const termDir = join(o.podDir, 'containers', c.name);
    mkdirSync(termDir, { recursive: true });
    writeFileSync(join(termDir, 'termination-log'), '');
    chmodSync(join(termDir, 'termination-log'), 0o666);
    mounts.push({ containerPath: '/dev/termination-log', hostPath: join(termDir, 'termination-log'), readonly: false, propagation: 'PROPAGATION_PRIVATE' });

    const envs = (c.env ?? []).map((e) => ({ key: e.name, value: e.valueFrom ? fieldRef(e.valueFrom.fieldRef.fieldPath, pod, spec) : (e.value ?? '') }));
    const resources: CriMessage = {};
    const mem = c.resources?.limits?.memory;
    if (mem) resources.memoryLimitInBytes = Math.round(parseQuantity(mem));
    // cpu request -> shares (1000m = 1024 shares, at least 2), as kubelet's MilliCPUToShares.
    const cpu = c.resources?.requests?.cpu;
    resources.cpuShares = cpu ? Math.max(2, Math.floor((parseQuantity(cpu) * 1000 * 1024) / 1000)) : 2;
    const cpuLimit = c.resources?.limits?.cpu;
    if (cpuLimit) {
      resources.cpuPeriod = 100_000;
      resources.cpuQuota = Math.floor(parseQuantity(cpuLimit) * 100_000);
    }
    return {
      name: c.name,
      config: {
        metadata: { name: c.name, attempt: 0 },
        image: { image: c.image },
        command: c.command ?? [],
        args: c.args ?? [],
        workingDir: c.workingDir ?? '',
        envs,
        mounts,
        labels: { ...labels, 'io.kubernetes.container.name': c.name },
        annotations: { 'io.kubernetes.container.terminationMessagePath': '/dev/termination-log' },
        logPath: `${c.name}/0.log`,
        linux: {
          resources,
          securityContext: {
            privileged: !!c.securityContext?.privileged,
            namespaceOptions: { ...podNs, pid: spec.hostPID ? 'NODE' : 'CONTAINER' },
          },
        },
      },
      probes: {
        ...(c.startupProbe ? { startup: c.startupProbe } : {}),
        ...(c.livenessProbe ? { liveness: c.livenessProbe } : {}),
        ...(c.readinessProbe ? { readiness: c.readinessProbe } : {}),
      },
    };
  });
  return { sandbox, containers, terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds, createdHostDirs };
}
