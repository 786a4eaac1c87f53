// CRI pod and container configs built the way kubelet builds them from a pod spec: namespace
// modes from hostNetwork/hostPID/hostIPC, privileged on both sandbox and container, cgroup
// parent, log paths, DNS, labels and annotations.
import type { CriMessage } from '../../installer/cri/CriClient.js';

export interface PodOptions {
  name?: string;
  namespace?: string;
  uid?: string;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  privileged?: boolean;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  /** Pod-level resources as kubelet passes them (sandbox annotations in containerd). */
  cgroupParent?: string;
  logDirectory?: string;
}

export class PodConfigBuilder {
  constructor(readonly opts: PodOptions & { name: string; namespace: string; uid: string; cgroupParent: string; logDirectory: string }) {}

  /** NamespaceOption: POD=0, CONTAINER=1, NODE=2. */
  private nsOptions(container: boolean): CriMessage {
    const o = this.opts;
    return {
      network: o.hostNetwork ? 'NODE' : 'POD',
      pid: o.hostPID ? 'NODE' : container ? 'CONTAINER' : 'POD',
      ipc: o.hostIPC ? 'NODE' : 'POD',
    };
  }

  containerNamespaceOptions(): CriMessage {
    return this.nsOptions(true);
  }

  build(): CriMessage {
    const o = this.opts;
    return {
      metadata: { name: o.name, uid: o.uid, namespace: o.namespace, attempt: 0 },
      hostname: o.hostNetwork ? '' : o.name,
      logDirectory: o.logDirectory,
      dnsConfig: { servers: ['10.210.0.10'], searches: [`${o.namespace}.svc.cluster.local`], options: ['ndots:5'] },
      labels: { 'io.kubernetes.pod.name': o.name, 'io.kubernetes.pod.namespace': o.namespace, 'io.kubernetes.pod.uid': o.uid, ...o.labels },
      annotations: { 'kubernetes.io/config.source': 'api', ...o.annotations },
      linux: {
        cgroupParent: o.cgroupParent,
        securityContext: {
          namespaceOptions: this.nsOptions(false),
          privileged: !!o.privileged,
        },
      },
    };
  }
}

export interface ContainerOptions {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: Record<string, string>;
  mounts?: { containerPath: string; hostPath: string; readonly?: boolean; propagation?: 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL' }[];
  privileged?: boolean;
  /** The pod's namespace options (from PodConfigBuilder.containerNamespaceOptions()). */
  namespaceOptions?: CriMessage;
  memoryLimitBytes?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  runAsUser?: number;
  capabilitiesAdd?: string[];
  workingDir?: string;
  tty?: boolean;
  /** ContainerConfig.devices, as a device plugin's Allocate answer becomes them in kubelet. */
  devices?: { containerPath: string; hostPath: string; permissions: string }[];
}

export class ContainerConfigBuilder {
  constructor(readonly opts: ContainerOptions & { image: string }) {}

  build(): CriMessage {
    const o = this.opts;
    const resources: CriMessage = {};
    if (o.memoryLimitBytes) resources.memoryLimitInBytes = o.memoryLimitBytes;
    if (o.cpuQuota) {
      resources.cpuQuota = o.cpuQuota;
      resources.cpuPeriod = o.cpuPeriod ?? 100_000;
    }
    return {
      metadata: { name: o.name, attempt: 0 },
      image: { image: o.image },
      command: o.command ?? [],
      args: o.args ?? [],
      workingDir: o.workingDir ?? '',
      envs: Object.entries(o.env ?? {}).map(([key, value]) => ({ key, value })),
      mounts: (o.mounts ?? []).map((m) => ({ containerPath: m.containerPath, hostPath: m.hostPath, readonly: !!m.readonly, propagation: m.propagation ?? 'PROPAGATION_PRIVATE' })),
      labels: { 'io.kubernetes.container.name': o.name },
      annotations: {},
      devices: o.devices ?? [],
      logPath: `${o.name}/0.log`,
      tty: !!o.tty,
      linux: {
        resources,
        securityContext: {
          privileged: !!o.privileged,
          namespaceOptions: o.namespaceOptions ?? { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
          ...(o.runAsUser !== undefined ? { runAsUser: { value: o.runAsUser } } : {}),
          ...(o.capabilitiesAdd ? { capabilities: { addCapabilities: o.capabilitiesAdd } } : {}),
        },
      },
    };
  }
}
