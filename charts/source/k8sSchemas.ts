// zod schemas for the Kubernetes kinds the install uses, covering every field it sets, with the
// API's own rules (names are DNS labels or subdomains, enums, required fields). Strict objects:
// a misspelt field is an error here, as `kubectl apply --validate=strict` would make it.
import { z } from 'zod';

const dnsSubdomain = z.string().max(253).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'a DNS-1123 subdomain');
const dnsLabel = z.string().max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a DNS-1123 label');
const labelKey = z.string().regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, 'a label key');
const labelValue = z.string().regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/, 'a label value');
const labels = z.record(labelKey, labelValue);
const quantity = z.string().regex(/^[0-9.]+(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/, 'a resource quantity');

const meta = (namespaced: boolean) =>
  z
    .object({
      name: dnsSubdomain,
      namespace: namespaced ? dnsLabel : z.undefined(),
      labels: labels.optional(),
    })
    .strict();

const absPath = z.string().startsWith('/');
const probe = z
  .object({
    exec: z.object({ command: z.array(z.string()).min(1) }).strict(),
    periodSeconds: z.number().int().positive().optional(),
    timeoutSeconds: z.number().int().positive().optional(),
    failureThreshold: z.number().int().positive().optional(),
    initialDelaySeconds: z.number().int().nonnegative().optional(),
  })
  .strict();

const envVar = z
  .object({
    name: z.string().regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/),
    value: z.string().optional(),
    valueFrom: z.object({ fieldRef: z.object({ fieldPath: z.enum(['spec.nodeName', 'metadata.namespace', 'metadata.name', 'status.podIP', 'status.hostIP']) }).strict() }).strict().optional(),
  })
  .strict()
  .refine((e) => (e.value === undefined) !== (e.valueFrom === undefined), 'exactly one of value and valueFrom');

const container = z
  .object({
    name: dnsLabel,
    image: z.string().min(1),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']),
    command: z.array(z.string()).min(1),
    args: z.array(z.string()).optional(),
    env: z.array(envVar),
    securityContext: z.object({ privileged: z.boolean() }).strict(),
    resources: z.object({ requests: z.record(quantity).optional(), limits: z.record(quantity).optional() }).strict(),
    volumeMounts: z.array(
      z
        .object({ name: dnsLabel, mountPath: absPath, readOnly: z.boolean().optional(), mountPropagation: z.enum(['None', 'HostToContainer', 'Bidirectional']).optional() })
        .strict(),
    ),
    startupProbe: probe,
    livenessProbe: probe,
    readinessProbe: probe,
  })
  .strict();

const toleration = z
  .object({
    key: z.string().optional(),
    operator: z.enum(['Exists', 'Equal']).optional(),
    value: z.string().optional(),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
    tolerationSeconds: z.number().int().optional(),
  })
  .strict();

const volume = z.union([
  z.object({ name: dnsLabel, hostPath: z.object({ path: absPath, type: z.enum(['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice']).optional() }).strict() }).strict(),
  z.object({ name: dnsLabel, configMap: z.object({ name: dnsSubdomain }).strict() }).strict(),
]);

/** The pod-spec fields the DaemonSet and the uninstall hook's Job both set. */
const podSpecShared = {
  serviceAccountName: dnsSubdomain,
  priorityClassName: z.string(),
  nodeSelector: labels,
  tolerations: z.array(toleration),
  volumes: z.array(volume),
};

/** A workload's pod template: its labels and a pod spec of the shared fields plus `fields`. */
function podTemplate<T extends z.ZodRawShape>(fields: T) {
  return z.object({ metadata: z.object({ labels }).strict(), spec: z.object({ ...podSpecShared, ...fields }).strict() }).strict();
}

const DaemonSet = z
  .object({
    apiVersion: z.literal('apps/v1'),
    kind: z.literal('DaemonSet'),
    metadata: meta(true),
    spec: z
      .object({
        selector: z.object({ matchLabels: labels }).strict(),
        updateStrategy: z.object({ type: z.enum(['RollingUpdate', 'OnDelete']), rollingUpdate: z.object({ maxUnavailable: z.union([z.number().int().positive(), z.string().regex(/^\d+%$/)]) }).strict().optional() }).strict(),
        template: podTemplate({
          hostPID: z.boolean(),
          hostNetwork: z.boolean(),
          dnsPolicy: z.enum(['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None']),
          terminationGracePeriodSeconds: z.number().int().nonnegative(),
          containers: z.array(container).min(1),
        }),
      })
      .strict(),
  })
  .strict()
  .superRefine((ds, ctx) => {
    // The API's own cross-field rules for what this DaemonSet uses.
    const sel = ds.spec.selector.matchLabels;
    for (const [k, v] of Object.entries(sel)) if (ds.spec.template.metadata.labels[k] !== v) ctx.addIssue({ code: 'custom', message: `selector ${k}=${v} does not match the template labels` });
    const vols = new Set(ds.spec.template.spec.volumes.map((v) => v.name));
    for (const c of ds.spec.template.spec.containers) for (const m of c.volumeMounts) if (!vols.has(m.name)) ctx.addIssue({ code: 'custom', message: `volumeMount ${m.name} has no volume` });
    if (ds.spec.template.spec.hostNetwork && ds.spec.template.spec.dnsPolicy === 'ClusterFirst') ctx.addIssue({ code: 'custom', message: 'hostNetwork pods need dnsPolicy ClusterFirstWithHostNet to resolve cluster names' });
  });

const policyRule = z
  .object({
    apiGroups: z.array(z.string()),
    resources: z.array(z.string()).min(1),
    resourceNames: z.array(z.string()).optional(),
    verbs: z.array(z.enum(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'])).min(1),
  })
  .strict();

const subject = z.object({ kind: z.literal('ServiceAccount'), name: dnsSubdomain, namespace: dnsLabel }).strict();

export const kindSchemas: Record<string, z.ZodTypeAny> = {
  'v1/Namespace': z.object({ apiVersion: z.literal('v1'), kind: z.literal('Namespace'), metadata: meta(false) }).strict(),
  'v1/ServiceAccount': z.object({ apiVersion: z.literal('v1'), kind: z.literal('ServiceAccount'), metadata: meta(true) }).strict(),
  'v1/ConfigMap': z.object({ apiVersion: z.literal('v1'), kind: z.literal('ConfigMap'), metadata: meta(true), data: z.record(z.string().regex(/^[-._a-zA-Z0-9]+$/), z.string()) }).strict(),
  'rbac.authorization.k8s.io/v1/ClusterRole': z.object({ apiVersion: z.literal('rbac.authorization.k8s.io/v1'), kind: z.literal('ClusterRole'), metadata: meta(false), rules: z.array(policyRule) }).strict(),
  'rbac.authorization.k8s.io/v1/Role': z.object({ apiVersion: z.literal('rbac.authorization.k8s.io/v1'), kind: z.literal('Role'), metadata: meta(true), rules: z.array(policyRule) }).strict(),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': z
    .object({ apiVersion: z.literal('rbac.authorization.k8s.io/v1'), kind: z.literal('ClusterRoleBinding'), metadata: meta(false), roleRef: z.object({ apiGroup: z.literal('rbac.authorization.k8s.io'), kind: z.literal('ClusterRole'), name: dnsSubdomain }).strict(), subjects: z.array(subject).min(1) })
    .strict(),
  'rbac.authorization.k8s.io/v1/RoleBinding': z
    .object({ apiVersion: z.literal('rbac.authorization.k8s.io/v1'), kind: z.literal('RoleBinding'), metadata: meta(true), roleRef: z.object({ apiGroup: z.literal('rbac.authorization.k8s.io'), kind: z.enum(['Role', 'ClusterRole']), name: dnsSubdomain }).strict(), subjects: z.array(subject).min(1) })
    .strict(),
  'apps/v1/DaemonSet': DaemonSet,
  'v1/Service': z
    .object({
      apiVersion: z.literal('v1'),
      kind: z.literal('Service'),
      metadata: meta(true),
      spec: z
        .object({
          clusterIP: z.string().optional(),
          selector: labels,
          ports: z.array(z.object({ name: dnsLabel, port: z.number().int().min(1).max(65535), targetPort: z.union([z.number().int().min(1).max(65535), dnsLabel]), protocol: z.enum(['TCP', 'UDP', 'SCTP']) }).strict()).min(1),
        })
        .strict(),
    })
    .strict(),
  // The Prometheus operator's CRD, for the fields the chart sets.
  'monitoring.coreos.com/v1/ServiceMonitor': z
    .object({
      apiVersion: z.literal('monitoring.coreos.com/v1'),
      kind: z.literal('ServiceMonitor'),
      metadata: meta(true),
      spec: z
        .object({
          selector: z.object({ matchLabels: labels }).strict(),
          namespaceSelector: z.object({ matchNames: z.array(dnsLabel).min(1) }).strict(),
          endpoints: z
            .array(
              z
                .object({
                  port: dnsLabel,
                  path: absPath,
                  interval: z.string().regex(/^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$/, 'a Prometheus duration'),
                  relabelings: z.array(z.object({ sourceLabels: z.array(z.string()).min(1), targetLabel: z.string().min(1) }).strict()).optional(),
                })
                .strict(),
            )
            .min(1),
        })
        .strict(),
    })
    .strict(),
  // helm uninstall's pre-delete hook (uninstallHook.ts).
  'batch/v1/Job': z
    .object({
      apiVersion: z.literal('batch/v1'),
      kind: z.literal('Job'),
      metadata: z.object({ name: dnsSubdomain, namespace: dnsLabel, labels, annotations: z.record(z.string()) }).strict(),
      spec: z
        .object({
          backoffLimit: z.number().int().nonnegative(),
          activeDeadlineSeconds: z.number().int().positive(),
          template: podTemplate({
            restartPolicy: z.enum(['Never', 'OnFailure']),
            containers: z.array(container.partial({ securityContext: true, startupProbe: true, livenessProbe: true, readinessProbe: true })).min(1),
          }),
        })
        .strict(),
    })
    .strict(),
  'node.k8s.io/v1/RuntimeClass': z
    .object({
      apiVersion: z.literal('node.k8s.io/v1'),
      kind: z.literal('RuntimeClass'),
      metadata: meta(false),
      // The handler is a DNS label (RuntimeClass validation).
      handler: dnsLabel,
      scheduling: z.object({ nodeSelector: labels, tolerations: z.array(toleration).optional() }).strict().optional(),
    })
    .strict(),
};

/** Validates one object for its kind and API version; returns the problems. */
export function validateObject(o: unknown): string[] {
  const { apiVersion, kind } = (o ?? {}) as { apiVersion?: string; kind?: string };
  const schema = kindSchemas[`${apiVersion}/${kind}`];
  if (!schema) return [`no schema for ${apiVersion}/${kind}`];
  const r = schema.safeParse(o);
  return r.success ? [] : r.error.issues.map((i) => `${kind}: ${i.path.join('.') || '(root)'}: ${i.message}`);
}
