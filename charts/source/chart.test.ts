import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { parseInstallerConfig } from '../../installer/installerConfig.js';
import { HostRoot } from '../../installer/HostRoot.js';
import { managerEnv, managerLaunch } from '../../installer/ManagerSupervisor.js';
import { loadConfig } from '../../agent/common/config.js';
import { jsonSchemaErrors } from './jsonSchemaSubset.js';
import { chartFiles, DEFAULT_NAMESPACE, manifestObjects, manifestsFile, renderTemplate } from './chartFiles.js';
import { validateObject } from './k8sSchemas.js';
import { defaultValues, valuesJsonSchema, ValuesSchema, type ChartValues } from './values.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const chartDir = join(repo, 'charts/vnode-runtime');

test('the committed chart and manifests are exactly what the typed source generates', () => {
  const files = chartFiles();
  const onDisk = readdirSync(join(chartDir, 'templates')).map((f) => `templates/${f}`).concat(['Chart.yaml', 'values.yaml', 'values.schema.json']).sort();
  assert.deepEqual(onDisk, Object.keys(files).sort(), 'no extra or missing chart files');
  for (const [rel, text] of Object.entries(files)) assert.equal(readFileSync(join(chartDir, rel), 'utf8'), text, `${rel} is stale: run node dist/charts/source/generate.js`);
  assert.equal(readFileSync(join(repo, 'manifests/vnode-runtime.yaml'), 'utf8'), manifestsFile(), 'manifests/vnode-runtime.yaml is stale');
});

test('the chart rendered at its default values equals manifests/ (minus the Namespace kubectl needs)', () => {
  const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
  assert.deepEqual(values, defaultValues);
  const ctx = { Values: values, Release: { Namespace: DEFAULT_NAMESPACE, Name: 'vnode-runtime' } };
  const rendered = Object.entries(chartFiles())
    .filter(([rel]) => rel.startsWith('templates/') && rel.endsWith('.yaml'))
    .map(([, text]) => parse(renderTemplate(text, ctx)))
    .filter((o) => o !== null) // the optional objects, off by default
    .filter((o) => !isHelmHook(o)); // helm-only
  const manifests = parseAllDocuments(readFileSync(join(repo, 'manifests/vnode-runtime.yaml'), 'utf8')).map((d) => d.toJSON());
  assert.equal(manifests[0].kind, 'Namespace');
  const key = (o: { kind: string }) => o.kind;
  assert.deepEqual([...rendered].sort((a, b) => key(a).localeCompare(key(b))), manifests.slice(1).sort((a, b) => key(a).localeCompare(key(b))));
  const notes = renderTemplate(chartFiles()['templates/NOTES.txt']!, ctx);
  assert.match(notes, /runtimeClassName: "vnode"/);
  assert.match(notes, /kubectl get runtimeclass "vnode"/);
  assert.match(notes, /kubectl get nodes -l vnode\.io\/runtime=ready/);
  assert.match(notes, /the manager's log: "\/var\/lib\/vnode\/manager\.log"/);
  assert.match(notes, /vnode status/);
  assert.match(notes, /metrics: "http:\/\/127\.0\.0\.1:9713\/metrics"/);
});

const isHelmHook = (o: { metadata?: { annotations?: Record<string, string> } }) => o.metadata?.annotations?.['helm.sh/hook'] !== undefined;

test("helm uninstall's pre-delete hook: a Job that requests the uninstall and waits for the nodes, valid, chart only", () => {
  const objs = renderAll(defaultValues);
  const job = objs.find((o) => o.kind === 'Job');
  assert.ok(job, 'rendered');
  assert.deepEqual(validateObject(job), []);
  assert.equal(job.metadata.annotations['helm.sh/hook'], 'pre-delete');
  const c = job.spec.template.spec.containers[0];
  assert.deepEqual(c.command.slice(2, 4), ['/opt/vnode-image/lib/app/installer/installerEntry.js', 'request-uninstall']);
  const ds = objs.find((o) => o.kind === 'DaemonSet');
  assert.equal(c.image, ds.spec.template.spec.containers[0].image, 'the same image');
  assert.equal(job.spec.template.spec.serviceAccountName, ds.spec.template.spec.serviceAccountName, 'the same RBAC');
  assert.deepEqual(job.spec.template.spec.volumes, [{ name: 'config', configMap: { name: 'vnode-runtime' } }], 'the installer config (the ready label)');
  // RBAC the hook and the installers need for it.
  const role = objs.find((o) => o.kind === 'Role');
  assert.deepEqual(role.rules[0].verbs, ['get', 'patch']);
  const cr = objs.find((o) => o.kind === 'ClusterRole');
  assert.ok(cr.rules.some((r: { resources: string[]; verbs: string[] }) => r.resources.includes('nodes') && r.verbs.includes('list')));
  assert.ok(!manifestObjects().some((o) => o.kind === 'Job'), 'manifests/ has none: kubectl would run it at once');
});

/** Every template rendered at `values`; the objects that render (an optional file renders empty). */
function renderAll(values: ChartValues, namespace = 'vnode-system') {
  const ctx = { Values: values, Release: { Namespace: namespace, Name: 'vnode-runtime' } };
  return Object.entries(chartFiles())
    .filter(([rel]) => rel.startsWith('templates/') && rel.endsWith('.yaml'))
    .map(([, text]) => parse(renderTemplate(text, ctx)))
    .filter((o) => o !== null);
}

const scraped = (): ChartValues => {
  const v = structuredClone(defaultValues);
  v.serviceMonitor = { enabled: true, interval: '15s', labels: { release: 'prometheus' } };
  v.installer.manager.metrics = { enabled: true, address: '0.0.0.0', port: 9800 };
  return v;
};

test('the Service and ServiceMonitor appear only when serviceMonitor.enabled, on the metrics port, valid for their kinds', () => {
  const kinds = (objs: { kind: string }[]) => objs.map((o) => o.kind).sort();
  assert.ok(!kinds(renderAll(defaultValues)).includes('ServiceMonitor'), 'off by default');
  assert.ok(!kinds(renderAll(defaultValues)).includes('Service'));
  const objs = renderAll(scraped());
  const svc = objs.find((o) => o.kind === 'Service');
  const sm = objs.find((o) => o.kind === 'ServiceMonitor');
  assert.ok(svc && sm, 'both rendered when enabled');
  for (const o of [svc, sm]) assert.deepEqual(validateObject(o), [], o.kind);
  assert.deepEqual(svc.spec.ports, [{ name: 'metrics', port: 9800, targetPort: 9800, protocol: 'TCP' }]);
  assert.equal(svc.spec.clusterIP, 'None', 'headless: every node is scraped');
  // The Service selects the installer pods (hostNetwork: their IP is the node's, where the manager listens).
  const ds = objs.find((o) => o.kind === 'DaemonSet');
  assert.ok(ds.spec.template.spec.hostNetwork);
  assert.deepEqual(svc.spec.selector, ds.spec.template.metadata.labels);
  assert.deepEqual(sm.spec.selector.matchLabels, svc.metadata.labels, 'the ServiceMonitor selects the Service');
  assert.equal(sm.spec.endpoints[0].port, svc.spec.ports[0].name);
  assert.equal(sm.spec.endpoints[0].interval, '15s');
  assert.deepEqual(sm.metadata.labels, { release: 'prometheus' }, "labels Prometheus' serviceMonitorSelector matches");
  // manifests/ built from the same values says the same.
  const plain = manifestObjects(scraped()).filter((o) => o.kind !== 'Namespace');
  const key = (o: { kind: string }) => o.kind;
  assert.deepEqual([...objs.filter((o) => !isHelmHook(o))].sort((a, b) => key(a).localeCompare(key(b))), plain.sort((a, b) => key(a).localeCompare(key(b))));
  assert.ok(!manifestObjects().some((o) => o.kind === 'ServiceMonitor'), 'manifests/ (defaults) has none: the CRD may not exist');
});

test('values reach the installer ConfigMap and from there the manager: log level, vNode mode, metrics', () => {
  const v = scraped();
  v.installer.manager.logLevel = 'debug';
  v.installer.manager.vnodeMode = 'pod';
  v.installer.manager.cpuBudget = 0.5;
  v.installer.manager.deviceAllow = [{ name: 'fuse' }, { driver: 'nvidia' }];
  const cm = renderAll(v).find((o) => o.kind === 'ConfigMap');
  const cfg = parseInstallerConfig(parse(cm.data['config.yaml']));
  assert.deepEqual([cfg.manager.logLevel, cfg.manager.vnodeMode, cfg.manager.metrics], ['debug', 'pod', { enabled: true, address: '0.0.0.0', port: 9800 }]);
  const m = managerLaunch(cfg, new HostRoot(cfg.hostRoot), { vnodeConfDir: cfg.runtime.cniConfDir, binDir: '/opt/cni/bin' })!;
  const env = managerEnv(cfg, m, { PATH: '/usr/bin', VNODE_TREE: '/opt/vnode-image' });
  assert.deepEqual([env.VNODE_LOG_LEVEL, env.VNODE_VNODE_MODE, env.VNODE_METRICS_ENABLED, env.VNODE_METRICS_ADDRESS, env.VNODE_METRICS_PORT], ['debug', 'pod', 'true', '0.0.0.0', '9800']);
  // And what the manager makes of its environment (agent/common/config.ts).
  const mc = loadConfig(undefined, env);
  assert.deepEqual([mc.logLevel, mc.vnodeMode, mc.metrics], ['debug', 'pod', { enabled: true, address: '0.0.0.0', port: 9800 }]);
  assert.equal(mc.budget.cpuPerVnode, 0.5);
  assert.deepEqual(mc.devices.allow, [{ name: 'fuse' }, { driver: 'nvidia' }]);
  // null keeps the manager's own list.
  const d = structuredClone(defaultValues);
  const dcfg = parseInstallerConfig(parse(renderAll(d).find((o) => o.kind === 'ConfigMap').data['config.yaml']));
  const denv = managerEnv(dcfg, managerLaunch(dcfg, new HostRoot(dcfg.hostRoot), { vnodeConfDir: dcfg.runtime.cniConfDir, binDir: '/opt/cni/bin' })!, { PATH: '/usr/bin' });
  assert.equal(denv.VNODE_DEVICE_ALLOW, undefined);
  assert.deepEqual(loadConfig(undefined, denv).devices.allow, loadConfig(undefined, {}).devices.allow);
});

test('values.schema.json (what helm checks) and the zod schema accept the defaults and reject the same bad values', () => {
  const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8'));
  assert.deepEqual(jsonSchemaErrors(schema, defaultValues), []);
  assert.deepEqual(jsonSchemaErrors(schema, scraped()), []);
  const bad: [string, (v: any) => void, RegExp][] = [
    ['a RuntimeClass name that is not a DNS label', (v) => (v.runtimeClass.name = 'Bad Name'), /values\.runtimeClass\.name: does not match/],
    ['an unknown log level', (v) => (v.installer.manager.logLevel = 'verbose'), /values\.installer\.manager\.logLevel: not one of/],
    ['an unknown vNode mode', (v) => (v.installer.manager.vnodeMode = 'cluster'), /values\.installer\.manager\.vnodeMode: not one of/],
    ['a port out of range', (v) => (v.installer.manager.metrics.port = 70000), /values\.installer\.manager\.metrics\.port: above 65535/],
    ['a port as a string', (v) => (v.installer.manager.metrics.port = '9713'), /values\.installer\.manager\.metrics\.port: is string, not integer/],
    ['an address that is not an IP', (v) => (v.installer.manager.metrics.address = 'node-ip'), /values\.installer\.manager\.metrics\.address: does not match/],
    ['a ServiceMonitor for a loopback-only manager', (v) => (v.serviceMonitor.enabled = true), /values\.installer\.manager\.metrics\.address: must not match/],
    ['a ServiceMonitor with metrics off', (v) => { v.serviceMonitor.enabled = true; v.installer.manager.metrics = { enabled: false, address: '0.0.0.0', port: 9713 }; }, /values\.installer\.manager\.metrics\.enabled: must be true/],
    ['a scrape interval without a unit', (v) => (v.serviceMonitor.interval = '30'), /values\.serviceMonitor\.interval: does not match/],
    ['a misspelt top-level value', (v) => (v.tolerration = []), /values\.tolerration: not allowed/],
    ['a resources key other than requests and limits', (v) => (v.resources.claims = {}), /values\.resources\.claims: not allowed/],
    ['a cgroup memory limit with a unit', (v) => (v.installer.manager.cgroup.memoryMax = '4Gi'), /values\.installer\.manager\.cgroup\.memoryMax: does not match/],
    ['a shared vNode name that is not a DNS label', (v) => (v.installer.manager.sharing.vnodes = { Tenant_1: ['a'] }), /key "Tenant_1": does not match/],
  ];
  for (const [what, change, expected] of bad) {
    const v = structuredClone(defaultValues) as any;
    change(v);
    const errors = jsonSchemaErrors(schema, v);
    assert.ok(errors.some((e) => expected.test(e)), `values.schema.json rejects ${what}: ${errors.join('; ') || 'accepted'}`);
    assert.equal(ValuesSchema.safeParse(v).success, false, `zod rejects ${what} too`);
  }
  assert.throws(() => jsonSchemaErrors({ oneOf: [] }, 1), /keyword "oneOf" is outside the supported subset/);
});

test('the chart follows its values (a non-default value changes the rendered object)', () => {
  const values = structuredClone(defaultValues);
  values.image.tag = '9.9.9';
  values.installer.runtime.handler = 'vnode-canary';
  const ctx = { Values: values, Release: { Namespace: 'other', Name: 'x' } };
  const ds = parse(renderTemplate(chartFiles()['templates/daemonset.yaml']!, ctx));
  assert.equal(ds.spec.template.spec.containers[0].image, 'ghcr.io/vnode-runtime/vnode:9.9.9');
  assert.equal(ds.metadata.namespace, 'other');
  const rc = parse(renderTemplate(chartFiles()['templates/runtimeclass.yaml']!, ctx));
  assert.equal(rc.handler, 'vnode-canary');
  const cm = parse(renderTemplate(chartFiles()['templates/configmap.yaml']!, ctx));
  assert.equal(parseInstallerConfig(parse(cm.data['config.yaml'])).runtime.handler, 'vnode-canary', 'RuntimeClass and installer agree on the handler');
});

test('every object is valid for its kind and API version', () => {
  for (const o of manifestObjects()) assert.deepEqual(validateObject(o), [], `${o.kind}`);
  // The schemas can fail: the API's own rules are checked.
  const ds = structuredClone(manifestObjects().find((o) => o.kind === 'DaemonSet')!) as any;
  ds.spec.selector.matchLabels.extra = 'x';
  ds.spec.template.spec.containers[0].volumeMounts.push({ name: 'missing', mountPath: '/x' });
  const problems = validateObject(ds).join('\n');
  assert.match(problems, /selector extra=x does not match/);
  assert.match(problems, /volumeMount missing has no volume/);
  ds.spec.template.spec.containers[0].imagePullPolicy = 'Sometimes';
  assert.match(validateObject(ds).join(), /imagePullPolicy/);
  assert.match(validateObject({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'vnode' }, handler: 'Not_A_Label' }).join(), /handler: a DNS-1123 label/);
  assert.match(validateObject({ apiVersion: 'node.k8s.io/v1beta1', kind: 'RuntimeClass' }).join(), /no schema for node\.k8s\.io\/v1beta1\/RuntimeClass/);
});

test('RuntimeClass, DaemonSet and installer config agree: ready label, handler, narrow host mounts, probes on the manager', () => {
  const objs = manifestObjects();
  const rc = objs.find((o) => o.kind === 'RuntimeClass') as any;
  const ds = objs.find((o) => o.kind === 'DaemonSet') as any;
  const cm = objs.find((o) => o.kind === 'ConfigMap') as any;
  const cfg = parseInstallerConfig(parse(cm.data['config.yaml']));
  assert.deepEqual(rc.scheduling.nodeSelector, { [cfg.node.readyLabel]: cfg.node.readyValue });
  assert.equal(rc.handler, cfg.runtime.handler);
  const c = ds.spec.template.spec.containers[0];
  // Only the host directories the installer touches, each at <hostRoot><dir>; never the host's root.
  const vols = ds.spec.template.spec.volumes as any[];
  const hostVols = vols.filter((v) => v.hostPath);
  assert.ok(hostVols.every((v) => v.hostPath.path !== '/'), 'the host root is not mounted');
  const mounted = hostVols.map((v) => {
    const m = c.volumeMounts.find((x: any) => x.name === v.name);
    assert.equal(m.mountPath, `${cfg.hostRoot}${v.hostPath.path}`, `${v.name} is mounted at the host root + its host path`);
    return { dir: v.hostPath.path as string, propagation: m.mountPropagation as string | undefined };
  });
  const under = (p: string) => mounted.find((m) => p.startsWith(`${m.dir}/`));
  // Paths the installer creates and removes are inside a mount, not the mount point itself.
  for (const p of [cfg.installDir, cfg.stateDir, cfg.runtime.cniConfDir, '/etc/containerd/config.toml', '/etc/cni/net.d', '/opt/cni/bin/vnode-cni', `${cfg.shimLinkDir}/containerd-shim-vnode-v2`, `${cfg.shimLinkDir}/vnode`, '/run/containerd/containerd.sock', `${cfg.manager.runDir}/launch.sock`]) {
    assert.ok(under(p), `${p} is inside a mounted host dir`);
  }
  assert.equal(under('/run/containerd/containerd.sock')!.propagation, 'HostToContainer', 'the CRI socket is re-created by every restart');
  assert.equal(under(`${cfg.manager.runDir}/launch.sock`)!.propagation, 'HostToContainer', "the manager's mounts are not pinned by this pod");
  assert.equal(c.env.find((e: any) => e.name === 'VNODE_RUN_DIR').value, `${cfg.hostRoot}${cfg.manager.runDir}`, 'probes look where the manager listens');
  assert.equal(c.env.find((e: any) => e.name === 'VNODE_INSTALLER_CONFIG').value, `${c.volumeMounts.find((m: any) => m.name === 'config').mountPath}/config.yaml`);
  for (const p of ['startupProbe', 'livenessProbe']) assert.deepEqual(c[p].exec.command, ['/opt/vnode-image/bin/vnode', 'health']);
  assert.deepEqual(c.readinessProbe.exec.command, ['/opt/vnode-image/bin/vnode', 'health', '--ready'], 'readiness checks every subsystem');
  assert.ok(ds.spec.template.spec.terminationGracePeriodSeconds >= cfg.drainTimeoutSeconds + cfg.readinessTimeoutSeconds, 'grace covers drain and restart');
});

test('values: zod accepts the defaults; the JSON schema requires every default key and forbids unknown ones', () => {
  assert.ok(ValuesSchema.safeParse(defaultValues).success);
  assert.equal(ValuesSchema.safeParse({ ...defaultValues, runtimeClass: { name: 'Bad Name' } }).success, false);
  const check = (schema: any, value: any, path: string) => {
    if (schema.type !== 'object' || !schema.properties) return;
    for (const k of schema.required ?? []) assert.ok(k in value, `${path}.${k} required by the schema but missing in the defaults`);
    if (schema.additionalProperties === false) for (const k of Object.keys(value)) assert.ok(k in schema.properties, `${path}.${k} not in the schema`);
    for (const [k, s] of Object.entries(schema.properties)) if (k in value) check(s, value[k], `${path}.${k}`);
  };
  check(valuesJsonSchema, defaultValues, 'values');
  assert.deepEqual(JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')), valuesJsonSchema);
});

test('the renderer refuses template constructs outside the subset it proves', () => {
  const ctx = { Values: { a: 1 }, Release: { Namespace: 'n', Name: 'r' } };
  assert.throws(() => renderTemplate('{{ .Values.a | quote }}', ctx), /function "quote"/);
  assert.throws(() => renderTemplate('{{- .Values.a | toJson }}', ctx), /trimming/);
  assert.throws(() => renderTemplate('{{ if .Values.a }}x{{ end }}', ctx), /outside the supported subset/);
  assert.throws(() => renderTemplate('{{ .Values.b | toJson }}', ctx), /\.Values\.b is not set/);
});
