// The optional scrape objects: a headless Service over the installer pods and a ServiceMonitor
// for the Prometheus operator. The installer pods run on the host network, so each endpoint is a
// node's IP, where that node's manager listens when installer.manager.metrics.address is not
// loopback (the values schema refuses the combination that cannot be scraped). They exist only
// when serviceMonitor.enabled: the chart wraps their files in an `if`, and manifests/ (the
// defaults) leaves them out.
import { labels, NAME, type K8sObject, type ValueProvider } from './objects.js';

/** The value that switches these objects on. */
export const MONITORING_CONDITION = 'serviceMonitor.enabled';
export const METRICS_SERVICE = `${NAME}-metrics`;

export function monitoringObjects(p: ValueProvider): K8sObject[] {
  const ns = p.namespace();
  const serviceLabels = { 'app.kubernetes.io/name': NAME, 'app.kubernetes.io/component': 'metrics' };
  const port = p.value<number>('installer.manager.metrics.port');
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: METRICS_SERVICE, namespace: ns, labels: { ...serviceLabels } },
      spec: {
        // Headless: Prometheus scrapes every node's manager, not one picked by a virtual IP.
        clusterIP: 'None',
        selector: { ...labels },
        ports: [{ name: 'metrics', port, targetPort: port, protocol: 'TCP' }],
      },
    },
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name: NAME, namespace: ns, labels: p.value<Record<string, string>>('serviceMonitor.labels') },
      spec: {
        selector: { matchLabels: { ...serviceLabels } },
        namespaceSelector: { matchNames: [ns] },
        endpoints: [
          {
            port: 'metrics',
            path: '/metrics',
            interval: p.value<string>('serviceMonitor.interval'),
            // Series say which node they come from, not only the endpoint's IP.
            relabelings: [{ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' }],
          },
        ],
      },
    },
  ];
}
