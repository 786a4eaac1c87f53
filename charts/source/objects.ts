// The one typed source of every object vNode's install puts into a cluster. `chartObjects(p)`
// builds them from a ValueProvider: with real values it gives the plain manifests; with the
// template provider it gives objects whose value-dependent fields are tokens that chartFiles.ts
// turns into Helm template expressions. So the chart and manifests/ cannot say different things.
import { goJson } from './goJson.js';
import type { ChartValues } from './values.js';

export const NAME = 'vnode-runtime';
export const IMAGE_TREE = '/opt/vnode-image';
export const READY_LABEL = 'vnode.io/runtime';
export const READY_VALUE = 'ready';

/** A field's value: the value itself (manifests) or a template token (chart). */
export interface ValueProvider {
  /** `.Values.<path>` */
  value<T>(path: string): T;
  /** `printf "<fmt>" .Values.a .Values.b` with %s only. */
  printf(fmt: string, ...paths: string[]): string;
  /** `.Values.<path> | toJson` as a string (e.g. a ConfigMap value holding JSON). */
  json(path: string): string;
  /** `.Release.Namespace` */
  namespace(): string;
}

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } } & Record<string, unknown>;

function get(values: unknown, path: string): unknown {
  let cur = values;
  for (const k of path.split('.')) cur = (cur as Record<string, unknown> | undefined)?.[k];
  if (cur === undefined) throw new Error(`no value at .Values.${path}`);
  return cur;
}

export function valuesProvider(values: ChartValues, namespace: string): ValueProvider {
  return {
    value: <T>(path: string) => structuredClone(get(values, path)) as T,
    printf: (fmt, ...paths) => {
      let i = 0;
      return fmt.replace(/%s/g, () => String(get(values, paths[i++]!)));
    },
    json: (path) => goJson(get(values, path)),
    namespace: () => namespace,
  };
}

/** Where the pod sees host paths (the installer's hostRoot default). */
export const HOST_ROOT = '/host';

/**
 * The host directories the DaemonSet mounts, each at /host<dir>, and nothing else of the host.
 * Parents rather than the dirs themselves where the installer creates and removes the dir
 * (vnode.d, /opt/vnode, its journal): a mount point cannot be removed. HostToContainer where the
 * host changes what is inside by mounting or re-creating (the CRI socket on every restart, the
 * manager's mounts under its run dir, which a private copy in this pod would pin).
 */
const HOST_VOLUMES: { name: string; key: keyof ChartValues['hostPaths']; type: 'Directory' | 'DirectoryOrCreate'; propagation?: 'HostToContainer' }[] = [
  { name: 'containerd-config', key: 'containerdConfigDir', type: 'DirectoryOrCreate' },
  { name: 'containerd-run', key: 'containerdRunDir', type: 'Directory', propagation: 'HostToContainer' },
  { name: 'cni-config', key: 'cniConfigDir', type: 'DirectoryOrCreate' },
  { name: 'install-parent', key: 'installParentDir', type: 'Directory' },
  { name: 'cni-bin', key: 'cniBinDir', type: 'DirectoryOrCreate' },
  { name: 'vnode-run', key: 'runDir', type: 'DirectoryOrCreate', propagation: 'HostToContainer' },
  { name: 'vnode-state', key: 'stateDir', type: 'DirectoryOrCreate' },
  { name: 'shim-link', key: 'shimLinkDir', type: 'DirectoryOrCreate' },
];

export const labels = { 'app.kubernetes.io/name': NAME, 'app.kubernetes.io/component': 'installer' };

export function chartObjects(p: ValueProvider): K8sObject[] {
  const ns = p.namespace();
  const meta = (name: string, namespaced = true) => ({ name, ...(namespaced ? { namespace: ns } : {}), labels: { ...labels } });
  // Liveness: what a restart fixes (manager answers, launch socket, TTRPC, vnodefs and seccomp
  // workers); readiness adds the state dir and metrics (`vnode health --ready`).
  const health = {
    exec: { command: [`${IMAGE_TREE}/bin/vnode`, 'health'] },
    timeoutSeconds: 5,
  };
  const ready = { ...health, exec: { command: [...health.exec.command, '--ready'] } };
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(NAME) },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: meta(NAME, false),
      rules: [
        // Label, taint and read its own node (the API cannot narrow this to "own node" by name).
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
        // helm uninstall's hook waits until no node carries the ready label.
        { apiGroups: [''], resources: ['nodes'], verbs: ['list'] },
        // Find this node's vNode pods (field selector spec.nodeName) and evict them before uninstall.
        { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
        { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
        // The admin's shared vNodes from namespace labels (installer.manager.sharing.namespaceLabel).
        { apiGroups: [''], resources: ['namespaces'], verbs: ['list', 'watch'] },
        // Events (installer/NodeEvents.ts): on its Node (in "default", as kubelet's) and on pods its
        // vNodes refuse (their namespaces); patch aggregates repeats (count, lastTimestamp).
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: meta(NAME, false),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: NAME },
      subjects: [{ kind: 'ServiceAccount', name: NAME, namespace: ns }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(NAME),
      // Uninstall or upgrade? Only its own DaemonSet tells; helm uninstall's hook annotates it.
      rules: [{ apiGroups: ['apps'], resources: ['daemonsets'], resourceNames: [NAME], verbs: ['get', 'patch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(NAME),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: NAME },
      subjects: [{ kind: 'ServiceAccount', name: NAME, namespace: ns }],
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta(NAME),
      // JSON is YAML: the installer reads this file with its YAML loader.
      data: { 'config.yaml': p.json('installer') },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: meta(NAME),
      spec: {
        selector: { matchLabels: { ...labels } },
        // One node at a time: a node whose install fails stops the rollout before the next.
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
        template: {
          metadata: { labels: { ...labels } },
          spec: {
            serviceAccountName: NAME,
            // nsenter into pid 1 (systemctl restart containerd, the manager in the host's namespaces);
            // read-only host facts (kernel, cgroups, containerd --version) through /proc/1/root.
            hostPID: true,
            // The installer must reach the API before (and while) the node's pod network works.
            hostNetwork: true,
            dnsPolicy: 'ClusterFirstWithHostNet',
            priorityClassName: p.value<string>('priorityClassName'),
            terminationGracePeriodSeconds: p.value<number>('terminationGracePeriodSeconds'),
            nodeSelector: p.value<Record<string, string>>('nodeSelector'),
            tolerations: p.value<Record<string, unknown>[]>('tolerations'),
            containers: [
              {
                name: 'installer',
                image: p.printf('%s:%s', 'image.repository', 'image.tag'),
                imagePullPolicy: p.value<string>('image.pullPolicy'),
                command: [`${IMAGE_TREE}/lib/node`, '--enable-source-maps', `${IMAGE_TREE}/lib/app/installer/installerEntry.js`, 'run'],
                env: [
                  { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  { name: 'VNODE_DAEMONSET_NAME', value: NAME },
                  { name: 'VNODE_INSTALLER_CONFIG', value: '/etc/vnode-installer/config.yaml' },
                  // The probes' `vnode health` finds the host's manager socket through the host root.
                  { name: 'VNODE_RUN_DIR', value: p.printf(`${HOST_ROOT}%s`, 'hostPaths.runDir') },
                ],
                securityContext: { privileged: true },
                resources: p.value<Record<string, unknown>>('resources'),
                volumeMounts: [
                  ...HOST_VOLUMES.map((v) => ({
                    name: v.name,
                    mountPath: p.printf(`${HOST_ROOT}%s`, `hostPaths.${v.key}`),
                    ...(v.propagation ? { mountPropagation: v.propagation } : {}),
                  })),
                  { name: 'config', mountPath: '/etc/vnode-installer', readOnly: true },
                ],
                startupProbe: { ...health, periodSeconds: 5, failureThreshold: 120 },
                livenessProbe: { ...health, periodSeconds: 20, failureThreshold: 3 },
                readinessProbe: { ...ready, periodSeconds: 10, failureThreshold: 1 },
              },
            ],
            volumes: [
              ...HOST_VOLUMES.map((v) => ({ name: v.name, hostPath: { path: p.value<string>(`hostPaths.${v.key}`), type: v.type } })),
              { name: 'config', configMap: { name: NAME } },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'node.k8s.io/v1',
      kind: 'RuntimeClass',
      metadata: { name: p.value<string>('runtimeClass.name'), labels: { ...labels } },
      handler: p.value<string>('installer.runtime.handler'),
      // Pods of this class go only to nodes where the installer finished.
      scheduling: { nodeSelector: { [READY_LABEL]: READY_VALUE } },
    },
  ];
}
