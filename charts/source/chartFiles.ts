// From the one source (objects.ts, values.ts) to the files: the Helm chart (templates whose
// value-dependent fields are `{{ ... | toJson }}` expressions) and manifests/ (the same objects at
// the default values). renderTemplate is a renderer for exactly the template subset these files
// use (`.Values.x`, `.Release.Namespace`, `printf` with %s, `toJson`), so a test can render the
// chart without helm and compare it with manifests/. Anything else in a template is an error,
// which keeps the templates inside what the test can prove.
import { stringify } from 'yaml';
import { goJson } from './goJson.js';
import { chartObjects, NAME, valuesProvider, type K8sObject, type ValueProvider } from './objects.js';

export { goJson };
import { defaultValues, valuesJsonSchema, VERSION, type ChartValues } from './values.js';

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
  files['Chart.yaml'] = HEADER + stringify({ apiVersion: 'v2', name: NAME, description: 'vNode: pods in lightweight sandboxes (user namespaces, seccomp interception, an emulated /proc) through the RuntimeClass "vnode"', type: 'application', version: VERSION, appVersion: VERSION, kubeVersion: '>=1.25.0-0' });
  files['values.yaml'] = `${HEADER}# Checked by values.schema.json; the installer checks installer.* again when it starts.\n${stringify(defaultValues, { lineWidth: 0 })}`;
  files['values.schema.json'] = `${JSON.stringify(valuesJsonSchema, null, 2)}\n`;
  files['templates/NOTES.txt'] = [
    'vNode is being installed on every node selected by .Values.nodeSelector, one node at a time.',
    '',
    'Nodes where it is ready carry the label vnode.io/runtime=ready:',
    '  kubectl get nodes -l vnode.io/runtime=ready',
    'Installer and manager logs:',
    `  kubectl -n {{ .Release.Namespace | toJson }} logs -l app.kubernetes.io/name=${NAME}`,
    '',
    'Run a pod in a vNode with:',
    '  spec:',
    '    runtimeClassName: {{ .Values.runtimeClass.name | toJson }}',
    '',
    'Uninstalling (helm uninstall) drains the vNode pods of each node, then restores containerd\'s',
    'configuration and restarts containerd once per node.',
    '',
  ].join('\n');
  return files;
}

/** The plain manifests: a Namespace plus the chart's objects at the default values. */
export function manifestObjects(values: ChartValues = defaultValues, namespace = DEFAULT_NAMESPACE): K8sObject[] {
  return [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { 'app.kubernetes.io/name': NAME } } }, ...chartObjects(valuesProvider(values, namespace))];
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
