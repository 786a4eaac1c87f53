// From the one source (objects.ts, values.ts) to the files: the Helm chart (templates whose
// value-dependent fields are `{{ ... | toJson }}` expressions) and manifests/ (the same objects at
// the default values). renderTemplate is a renderer for exactly the template subset these files
// use (`.Values.x`, `.Release.Namespace`, `printf` with %s, `toJson`, and an `if .Values.x` around a
// whole file for optional objects), so a test can render the
// chart without helm and compare it with manifests/. Anything else in a template is an error,
// which keeps the templates inside what the test can prove.
import { Document, isMap, isScalar, stringify } from 'yaml';
import { goJson } from './goJson.js';
import { MONITORING_CONDITION, monitoringObjects } from './monitoring.js';
import { chartObjects, NAME, valuesProvider, type K8sObject, type ValueProvider } from './objects.js';
import { uninstallHookObjects } from './uninstallHook.js';

export { goJson };
import { defaultValues, VALUE_DOCS, valuesJsonSchema, VERSION, type ChartValues } from './values.js';

export const DEFAULT_NAMESPACE = 'vnode-system';

function templateProvider(): { p: ValueProvider; exprs: string[] } {
  const exprs: string[] = [];
  const token = (expr: string) => `@@T${exprs.push(expr) - 1}@@`;
  const p: ValueProvider = {
    value: <T>(path: string) => token(`.Values.${path} | toJson`) as unknown as T,
    printf: (fmt, ...paths) => token(`printf ${JSON.stringify(fmt)} ${paths.map((x) => `.Values.${x}`).join(' ')} | toJson`),
    json: (path) => token(`.Values.${path} | toJson | toJson`),
    namespace: () => token('.Release.Namespace | toJson'),
  };
  return { p, exprs };
}

const HEADER = '# Generated from charts/source (objects.ts, values.ts) by charts/source/generate.ts; do not edit.\n';

function fileName(o: K8sObject): string {
  return `${o.kind.toLowerCase()}.yaml`;
}

/** Every file of the chart, path relative to charts/vnode-runtime. */
export function chartFiles(): Record<string, string> {
  const { p, exprs } = templateProvider();
  const files: Record<string, string> = {};
  for (const o of chartObjects(p)) {
    const yaml = stringify(o, { lineWidth: 0 }).replace(/(["']?)@@T(\d+)@@\1/g, (_m, _q, i: string) => `{{ ${exprs[Number(i)]} }}`);
    files[`templates/${fileName(o)}`] = HEADER + yaml;
  }
  const monitoring = templateProvider();
  for (const o of monitoringObjects(monitoring.p)) {
    const yaml = stringify(o, { lineWidth: 0 }).replace(/(["']?)@@T(\d+)@@\1/g, (_m, _q, i: string) => `{{ ${monitoring.exprs[Number(i)]} }}`);
    files[`templates/${fileName(o)}`] = `{{ if .Values.${MONITORING_CONDITION} }}\n${HEADER}${yaml}{{ end }}\n`;
  }
  // helm-only: the pre-delete hook (not in manifests/, which kubectl would run at once).
  const hook = templateProvider();
  for (const o of uninstallHookObjects(hook.p)) {
    const yaml = stringify(o, { lineWidth: 0 }).replace(/(["']?)@@T(\d+)@@\1/g, (_m, _q, i: string) => `{{ ${hook.exprs[Number(i)]} }}`);
    files['templates/uninstall-hook.yaml'] = HEADER + yaml;
  }
  files['Chart.yaml'] = HEADER + stringify({ apiVersion: 'v2', name: NAME, description: 'vNode: pods in lightweight sandboxes (user namespaces, seccomp interception, an emulated /proc) through the RuntimeClass "vnode"', type: 'application', version: VERSION, appVersion: VERSION, kubeVersion: '>=1.25.0-0' });
  files['values.yaml'] = `${HEADER}# Checked by values.schema.json; the installer checks installer.* again when it starts.\n${documentedValues()}`;
  files['values.schema.json'] = `${JSON.stringify(valuesJsonSchema, null, 2)}\n`;
  files['templates/NOTES.txt'] = [
    `vNode is being installed on every node the DaemonSet ${NAME} selects, one node at a time.`,
    '',
    'On each node the installer pod puts (and `helm uninstall` removes):',
    '  /opt/vnode (the install tree), a "vnode" runtime in containerd\'s config (one containerd restart),',
    '  the vnode handler\'s CNI chain, the links containerd-shim-vnode-v2 and vnode in {{ .Values.hostPaths.shimLinkDir | toJson }},',
    '  and the vnode-manager under vnode-supervise on the host (its own cgroup; it outlives installer pods).',
    '',
    'Check it:',
    '  kubectl get runtimeclass {{ .Values.runtimeClass.name | toJson }}',
    `  kubectl -n {{ .Release.Namespace | toJson }} rollout status daemonset/${NAME}`,
    '  kubectl get nodes -l vnode.io/runtime=ready      # nodes where vNode is ready (the RuntimeClass schedules only there)',
    `  kubectl -n {{ .Release.Namespace | toJson }} logs -l app.kubernetes.io/name=${NAME}      # the installers`,
    '',
    'Run a test pod in a vNode:',
    '  kubectl apply -f - <<EOF',
    '  apiVersion: v1',
    '  kind: Pod',
    '  metadata:',
    '    name: vnode-test',
    '  spec:',
    '    runtimeClassName: {{ .Values.runtimeClass.name | toJson }}',
    '    containers:',
    '    - name: test',
    '      image: busybox',
    '      command: ["sh", "-c", "sleep 3600"]',
    '  EOF',
    '  kubectl exec vnode-test -- cat /proc/self/uid_map   # "0 <start> 65536": root in the pod is not root on the node',
    '',
    'On a node (as root):',
    '  vnode status      # the manager: version, subsystems, counts, metrics URL',
    '  vnode ls          # vNodes and their pods',
    '  vnode doctor      # host checks, each with its fix',
    '  the manager\'s log: {{ printf "%s/manager.log" .Values.hostPaths.stateDir | toJson }}',
    '  metrics: {{ printf "http://%v:%v/metrics" .Values.installer.manager.metrics.address .Values.installer.manager.metrics.port | toJson }}',
    '',
    'Upgrade with helm upgrade (a rolling update, one node at a time; each node\'s manager restarts',
    'into the new version, which restarts the vNode pods running there). helm uninstall drains the vNode',
    'pods of each node, restores containerd\'s configuration and restarts containerd once per node.',
    '',
  ].join('\n');
  return files;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const w of text.split(' ')) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  return [...lines, line];
}

/** values.yaml: the defaults, each documented value preceded by its VALUE_DOCS comment. */
function documentedValues(): string {
  const doc = new Document(defaultValues);
  for (const [path, text] of Object.entries(VALUE_DOCS)) {
    const keys = path.split('.');
    const map = keys.length === 1 ? doc.contents : doc.getIn(keys.slice(0, -1), true);
    const pair = isMap(map) ? map.items.find((p) => isScalar(p.key) && p.key.value === keys.at(-1)) : undefined;
    if (!pair || !isScalar(pair.key)) throw new Error(`VALUE_DOCS names ${path}, which values.yaml does not have`);
    pair.key.commentBefore = wrap(text, 98).map((l) => ` ${l}`).join('\n');
  }
  return doc.toString({ lineWidth: 0 });
}

/** The plain manifests: a Namespace plus the chart's objects at the default values. */
export function manifestObjects(values: ChartValues = defaultValues, namespace = DEFAULT_NAMESPACE): K8sObject[] {
  const p = valuesProvider(values, namespace);
  const optional = truthy(p.value(MONITORING_CONDITION)) ? monitoringObjects(p) : [];
  return [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { 'app.kubernetes.io/name': NAME } } }, ...chartObjects(p), ...optional];
}

/** Go template truth: false, 0, nil, and empty strings, lists and maps are false. */
function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

export function manifestsFile(): string {
  return HEADER + manifestObjects().map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

export interface RenderContext {
  Values: unknown;
  Release: { Namespace: string; Name: string };
}

/** Renders the template subset described above; throws on anything outside it. */
export function renderTemplate(text: string, ctx: RenderContext): string {
  // `{{ if .Values.x }}` on the first line and `{{ end }}` on the last: the whole file or nothing.
  const guard = /^\{\{ if (\.Values(?:\.[A-Za-z_][A-Za-z0-9_]*)+) \}\}\n([^]*)\{\{ end \}\}\n$/.exec(text);
  if (guard) return truthy(lookup(guard[1]!, ctx, `{{ if ${guard[1]} }}`)) ? renderFields(guard[2]!, ctx) : '';
  return renderFields(text, ctx);
}

function renderFields(text: string, ctx: RenderContext): string {
  return text.replace(/\{\{(-?)\s*(.*?)\s*(-?)\}\}/g, (whole, l: string, body: string, r: string) => {
    if (l || r) throw new Error(`whitespace trimming is outside the supported subset: ${whole}`);
    const stages = body.split('|').map((s) => s.trim());
    let value = evalFirst(stages[0]!, ctx, whole);
    for (const f of stages.slice(1)) {
      if (f !== 'toJson') throw new Error(`function "${f}" is outside the supported subset: ${whole}`);
      value = goJson(value);
    }
    if (typeof value !== 'string') throw new Error(`${whole} renders a non-string without toJson`);
    return value;
  });
}

function lookup(path: string, ctx: RenderContext, whole: string): unknown {
  const m = /^\.(Values|Release)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)$/.exec(path);
  if (!m) throw new Error(`"${path}" is outside the supported subset: ${whole}`);
  let cur: unknown = ctx[m[1] as 'Values' | 'Release'];
  for (const k of m[2]!.slice(1).split('.')) cur = (cur as Record<string, unknown> | undefined)?.[k];
  if (cur === undefined) throw new Error(`${path} is not set: ${whole}`);
  return cur;
}

function evalFirst(stage: string, ctx: RenderContext, whole: string): unknown {
  if (stage.startsWith('printf ')) {
    const m = /^printf\s+("(?:[^"\\]|\\.)*")((?:\s+\.[A-Za-z0-9_.]+)*)$/.exec(stage);
    if (!m) throw new Error(`printf form outside the supported subset: ${whole}`);
    const fmt = JSON.parse(m[1]!) as string;
    const args = m[2]!.trim().split(/\s+/).filter(Boolean).map((a) => lookup(a, ctx, whole));
    let i = 0;
    const out = fmt.replace(/%[sv]/g, () => String(args[i++]));
    if (/%[^sv]/.test(fmt) || i !== args.length) throw new Error(`printf verbs/arguments outside the supported subset: ${whole}`);
    return out;
  }
  return lookup(stage, ctx, whole);
}
