// helm uninstall's pre-delete hook: a Job that asks every installer pod to uninstall its node
// (`vnode-installer request-uninstall`: the DaemonSet annotated, installer/UninstallRequest.ts) and
// waits until no node carries the ready label, while the DaemonSet, its RBAC and its ConfigMap still
// exist. Helm deletes the release's objects only after the hook succeeded, so an installer pod never
// finds its RBAC gone in the middle of an uninstall. Chart only: `kubectl delete -f manifests/` has
// no hooks (the installer then reads the deleted DaemonSet at SIGTERM as the uninstall).
import { IMAGE_TREE, labels, NAME, type K8sObject, type ValueProvider } from './objects.js';

/** How long the hook waits for the nodes (helm's own --timeout, default 5 min, must be longer to see it fail with the nodes' names). */
export const UNINSTALL_HOOK_TIMEOUT_S = 900;

export function uninstallHookObjects(p: ValueProvider): K8sObject[] {
  return [
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: `${NAME}-uninstall`,
        namespace: p.namespace(),
        labels: { ...labels, 'app.kubernetes.io/component': 'uninstall-hook' },
        annotations: { 'helm.sh/hook': 'pre-delete', 'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded' },
      },
      spec: {
        backoffLimit: 0,
        activeDeadlineSeconds: UNINSTALL_HOOK_TIMEOUT_S + 60,
        template: {
          metadata: { labels: { ...labels, 'app.kubernetes.io/component': 'uninstall-hook' } },
          spec: {
            serviceAccountName: NAME,
            restartPolicy: 'Never',
            priorityClassName: p.value<string>('priorityClassName'),
            nodeSelector: p.value<Record<string, string>>('nodeSelector'),
            tolerations: p.value<Record<string, unknown>[]>('tolerations'),
            containers: [
              {
                name: 'uninstall',
                image: p.printf('%s:%s', 'image.repository', 'image.tag'),
                imagePullPolicy: p.value<string>('image.pullPolicy'),
                command: [`${IMAGE_TREE}/lib/node`, '--enable-source-maps', `${IMAGE_TREE}/lib/app/installer/installerEntry.js`, 'request-uninstall', '--timeout-seconds', String(UNINSTALL_HOOK_TIMEOUT_S)],
                env: [
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  { name: 'VNODE_DAEMONSET_NAME', value: NAME },
                  { name: 'VNODE_INSTALLER_CONFIG', value: '/etc/vnode-installer/config.yaml' },
                ],
                resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '256Mi' } },
                volumeMounts: [{ name: 'config', mountPath: '/etc/vnode-installer', readOnly: true }],
              },
            ],
            volumes: [{ name: 'config', configMap: { name: NAME } }],
          },
        },
      },
    },
  ];
}
