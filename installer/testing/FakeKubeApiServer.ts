// A FAKE Kubernetes API server for tests (no real one can run on this machine): plain HTTP on
// loopback, bearer-token auth, and only the endpoints the installer calls, answering the way
// kube-apiserver does for them:
//   GET   /api/v1/nodes/{name}
//   PATCH /api/v1/nodes/{name}   application/merge-patch+json (RFC 7386),
//                                application/strategic-merge-patch+json (Node's merge keys:
//                                spec.taints by `key`, status.conditions and status.addresses by
//                                `type`; `$patch: delete` list items; null deletes),
//                                application/json-patch+json (RFC 6902; a failed `test` is 422);
//                                any other content type 415; a stale metadata.resourceVersion in
//                                the patch 409; every change bumps resourceVersion
//   GET   /api/v1/pods?fieldSelector=spec.nodeName=N
//   POST  /api/v1/namespaces/{ns}/pods/{name}/eviction (policy/v1 Eviction; 201, the pod goes)
//   GET   /apis/apps/v1/namespaces/{ns}/daemonsets/{name}
//   PATCH /apis/apps/v1/namespaces/{ns}/daemonsets/{name}  (merge or strategic merge patch; 404
//                                                  for a missing one; bumps resourceVersion)
//   GET   /api/v1/nodes?labelSelector=S            (a NodeList, selectors as for namespaces)
//   GET   /api/v1/namespaces?labelSelector=S      (S: comma-joined `key`, `!key`, `key=value`,
//                                                  `key!=value`; a NamespaceList at the current
//                                                  resourceVersion)
//   GET   /api/v1/namespaces?watch=true&resourceVersion=RV[&labelSelector=S]
//                                                 (a chunked stream of {"type":"ADDED|MODIFIED|
//                                                  DELETED","object":...} lines for changes after
//                                                  RV, as seen through the selector: an object
//                                                  leaving it is DELETED; an RV older than the
//                                                  kept history is 410 Gone)
//   POST  /api/v1/namespaces/{ns}/events         (core/v1 Event: metadata.name, involvedObject and
//                                                  reason required (422), a body namespace other
//                                                  than the path's 422, an existing name 409
//                                                  AlreadyExists; 201 with uid and resourceVersion)
//   PATCH /api/v1/namespaces/{ns}/events/{name}  (strategic merge or merge patch, as for nodes
//                                                  but with no merge keys; 404 for a gone event)
// Errors are metav1.Status objects with the real reasons (NotFound, Conflict, Invalid,
// UnsupportedMediaType, Unauthorized).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

export interface RecordedRequest {
  method: string;
  path: string;
  contentType?: string;
  body?: unknown;
  status: number;
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

class HttpError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string) {
    super(message);
  }
}

/** RFC 7386. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObj(patch)) return patch;
  const out: Obj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k] ?? null, v);
  }
  return out;
}

// The merge keys kube-apiserver uses for the Node fields a node patch touches (patchStrategy=merge).
const NODE_MERGE_KEYS: Record<string, string> = { 'spec.taints': 'key', 'status.conditions': 'type', 'status.addresses': 'type', 'status.images': 'names' };

/** Strategic merge patch for a Node: merge-patch semantics plus keyed list merges. */
export function strategicMergePatch(target: Json, patch: Json, path = ''): Json {
  if (!isObj(patch)) return patch;
  const out: Obj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue;
    const p = path ? `${path}.${k}` : k;
    if (v === null) {
      delete out[k];
      continue;
    }
    const mergeKey = NODE_MERGE_KEYS[p];
    if (Array.isArray(v) && mergeKey) {
      const list = Array.isArray(out[k]) ? [...(out[k] as Json[])] : [];
      for (const item of v) {
        if (!isObj(item) || !(mergeKey in item)) throw new HttpError(422, 'Invalid', `${p}: list item without merge key "${mergeKey}"`);
        const idx = list.findIndex((e) => isObj(e) && JSON.stringify(e[mergeKey]) === JSON.stringify(item[mergeKey]));
        if (item.$patch === 'delete') {
          if (idx >= 0) list.splice(idx, 1);
          continue;
        }
        if (idx >= 0) list[idx] = strategicMergePatch(list[idx]!, item, `${p}[]`);
        else list.push(Object.fromEntries(Object.entries(item).filter(([ik]) => !ik.startsWith('$'))));
      }
      out[k] = list;
    } else out[k] = strategicMergePatch(out[k] ?? null, v, p);
  }
  return out;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new HttpError(422, 'Invalid', `json patch path "${path}" must start with /`);
  return path.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** RFC 6902 (add, remove, replace, test, move, copy). */
export function jsonPatch(doc: Json, ops: unknown): Json {
  if (!Array.isArray(ops)) throw new HttpError(400, 'BadRequest', 'json patch must be an array of operations');
  let root = structuredClone(doc);
  const parentOf = (segs: string[], op: string): [Json, string] => {
    let cur: Json = root;
    for (const s of segs.slice(0, -1)) {
      const next: Json | undefined = Array.isArray(cur) ? cur[Number(s)] : isObj(cur) ? cur[s] : undefined;
      if (next === undefined) throw new HttpError(422, 'Invalid', `${op}: path /${segs.join('/')} does not exist`);
      cur = next;
    }
    return [cur, segs[segs.length - 1]!];
  };
  const read = (segs: string[], op: string): Json => {
    if (!segs.length) return root;
    const [parent, last] = parentOf(segs, op);
    const v = Array.isArray(parent) ? parent[Number(last)] : isObj(parent) ? parent[last] : undefined;
    if (v === undefined) throw new HttpError(422, 'Invalid', `${op}: path /${segs.join('/')} does not exist`);
    return v;
  };
  const remove = (segs: string[], op: string): Json => {
    const v = read(segs, op);
    const [parent, last] = parentOf(segs, op);
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else if (isObj(parent)) delete parent[last];
    return v;
  };
  const add = (segs: string[], value: Json, op: string) => {
    if (!segs.length) {
      root = value;
      return;
    }
    const [parent, last] = parentOf(segs, op);
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (!(i >= 0 && i <= parent.length)) throw new HttpError(422, 'Invalid', `${op}: index ${last} out of range`);
      parent.splice(i, 0, value);
    } else if (isObj(parent)) parent[last] = value;
    else throw new HttpError(422, 'Invalid', `${op}: parent of /${segs.join('/')} is not a container`);
  };
  for (const raw of ops) {
    if (!isObj(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') throw new HttpError(400, 'BadRequest', 'json patch operation needs op and path');
    const segs = pointer(raw.path);
    switch (raw.op) {
      case 'add':
        add(segs, structuredClone(raw.value ?? null), 'add');
        break;
      case 'remove':
        remove(segs, 'remove');
        break;
      case 'replace':
        read(segs, 'replace');
        remove(segs, 'replace');
        add(segs, structuredClone(raw.value ?? null), 'replace');
        break;
      case 'test':
        if (JSON.stringify(read(segs, 'test')) !== JSON.stringify(raw.value)) throw new HttpError(422, 'Invalid', `testing value /${segs.join('/')} failed`);
        break;
      case 'move':
      case 'copy': {
        if (typeof raw.from !== 'string') throw new HttpError(400, 'BadRequest', `${raw.op} needs from`);
        const from = pointer(raw.from);
        const v = raw.op === 'move' ? remove(from, 'move') : structuredClone(read(from, 'copy'));
        add(segs, v, raw.op);
        break;
      }
      default:
        throw new HttpError(400, 'BadRequest', `unknown json patch op ${String(raw.op)}`);
    }
  }
  return root;
}

type Requirement = { key: string; op: 'exists' | '!exists' | '=' | '!='; value?: string };

/** The equality-based label selectors kube-apiserver accepts (set-based ones are not faked). */
function parseSelector(sel: string): Requirement[] {
  return sel.split(',').map((part) => {
    const p = part.trim();
    let m: RegExpExecArray | null;
    if ((m = /^([^=!]+)!=(.*)$/.exec(p))) return { key: m[1]!.trim(), op: '!=', value: m[2]!.trim() };
    if ((m = /^([^=!]+)==?(.*)$/.exec(p))) return { key: m[1]!.trim(), op: '=', value: m[2]!.trim() };
    if ((m = /^!([^=!]+)$/.exec(p))) return { key: m[1]!.trim(), op: '!exists' };
    if (/^[^=!\s()]+$/.test(p)) return { key: p, op: 'exists' };
    throw new HttpError(400, 'BadRequest', `unable to parse requirement: ${JSON.stringify(p)} (the fake takes equality-based selectors)`);
  });
}

function matchesSelector(o: Obj, sel: string | null): boolean {
  if (!sel) return true;
  const labels = (((o.metadata as Obj | undefined)?.labels ?? {}) as Record<string, string>);
  return parseSelector(sel).every((r) => {
    const v = labels[r.key];
    switch (r.op) {
      case 'exists':
        return v !== undefined;
      case '!exists':
        return v === undefined;
      case '=':
        return v === r.value;
      default:
        return v !== r.value;
    }
  });
}

export class FakeKubeApiServer {
  readonly nodes = new Map<string, Obj>();
  readonly pods = new Map<string, Obj>();
  readonly daemonSets = new Map<string, Obj>();
  readonly namespaces = new Map<string, Obj>();
  /** Events by "namespace/name". */
  readonly events = new Map<string, Obj>();
  readonly requests: RecordedRequest[] = [];
  private server: Server | undefined;
  /** Namespace changes, for watches: each object as it was after the change (null: deleted). */
  private readonly nsHistory: { rv: number; name: string; before: Obj | undefined; after: Obj | undefined }[] = [];
  private readonly nsWatchers = new Set<{ selector: string | null; res: ServerResponse }>();
  private rv = 1000;
  url = '';

  constructor(readonly token = 'fake-token') {}

  addNode(name: string, labels: Record<string, string> = {}): void {
    this.nodes.set(name, { apiVersion: 'v1', kind: 'Node', metadata: { name, uid: `uid-${name}`, labels: { 'kubernetes.io/hostname': name, ...labels }, resourceVersion: String(++this.rv) }, spec: {}, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
  }

  addPod(namespace: string, name: string, nodeName: string, runtimeClassName?: string): void {
    this.pods.set(`${namespace}/${name}`, { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, uid: `uid-${name}`, resourceVersion: String(++this.rv) }, spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }], ...(runtimeClassName ? { runtimeClassName } : {}) } });
  }

  addDaemonSet(namespace: string, name: string, deleting = false): void {
    this.daemonSets.set(`${namespace}/${name}`, { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name, namespace, resourceVersion: String(++this.rv), ...(deleting ? { deletionTimestamp: new Date().toISOString() } : {}) } });
  }

  /** Creates or replaces a namespace's labels (a watch sees ADDED or MODIFIED). */
  setNamespace(name: string, labels: Record<string, string> = {}): void {
    const before = this.namespaces.get(name);
    const rv = ++this.rv;
    const after: Obj = { apiVersion: 'v1', kind: 'Namespace', metadata: { name, uid: `uid-ns-${name}`, labels: { 'kubernetes.io/metadata.name': name, ...labels }, resourceVersion: String(rv) }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } };
    this.namespaces.set(name, after);
    this.nsChanged(rv, name, before, after);
  }

  deleteNamespace(name: string): void {
    const before = this.namespaces.get(name);
    if (!before) return;
    this.namespaces.delete(name);
    this.nsChanged(++this.rv, name, before, undefined);
  }

  /** Ends every open watch stream (as an API server does at its timeout or restart). */
  closeWatches(): void {
    for (const w of this.nsWatchers) w.res.end();
    this.nsWatchers.clear();
  }

  private nsChanged(rv: number, name: string, before: Obj | undefined, after: Obj | undefined): void {
    const change = { rv, name, before, after };
    this.nsHistory.push(change);
    if (this.nsHistory.length > 1000) this.nsHistory.shift();
    for (const w of this.nsWatchers) this.sendEvent(w, change);
  }

  private sendEvent(w: { selector: string | null; res: ServerResponse }, c: { rv: number; before: Obj | undefined; after: Obj | undefined }): void {
    const was = c.before !== undefined && matchesSelector(c.before, w.selector);
    const is = c.after !== undefined && matchesSelector(c.after, w.selector);
    let ev: { type: string; object: Obj } | undefined;
    if (is) ev = { type: was ? 'MODIFIED' : 'ADDED', object: c.after! };
    else if (was) ev = { type: 'DELETED', object: { ...(c.before as Obj), metadata: { ...((c.before as Obj).metadata as Obj), resourceVersion: String(c.rv) } } };
    if (ev) w.res.write(`${JSON.stringify(ev)}\n`);
  }

  private watchNamespaces(res: ServerResponse, rec: RecordedRequest, url: URL): void {
    const selector = url.searchParams.get('labelSelector');
    if (selector) parseSelector(selector);
    const from = Number(url.searchParams.get('resourceVersion') || this.rv);
    const oldest = this.nsHistory[0]?.rv ?? this.rv + 1;
    if (from < oldest - 1 && this.nsHistory.length >= 1000) throw new HttpError(410, 'Expired', `too old resource version: ${from} (${oldest - 1})`);
    rec.status = 200;
    this.requests.push(rec);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // kube-apiserver answers a watch's headers at once; clients wait for them before streaming.
    res.flushHeaders();
    const w = { selector, res };
    for (const c of this.nsHistory) if (c.rv > from) this.sendEvent(w, c);
    this.nsWatchers.add(w);
    res.on('close', () => this.nsWatchers.delete(w));
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.closeWatches();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** A kubeconfig (as client-node options) pointing at this server. */
  kubeconfig(): { clusters: object[]; users: object[]; contexts: object[]; currentContext: string } {
    return {
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'installer', token: this.token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'installer' }],
      currentContext: 'fake',
    };
  }

  private send(res: ServerResponse, rec: RecordedRequest, code: number, body: unknown): void {
    rec.status = code;
    this.requests.push(rec);
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private status(code: number, reason: string, message: string): Obj {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString();
    const url = new URL(req.url ?? '/', 'http://x');
    const contentType = req.headers['content-type']?.split(';')[0]?.trim();
    const rec: RecordedRequest = { method: req.method ?? '', path: url.pathname + url.search, status: 0, ...(contentType ? { contentType } : {}) };
    try {
      if (req.headers.authorization !== `Bearer ${this.token}`) throw new HttpError(401, 'Unauthorized', 'Unauthorized');
      let body: unknown;
      if (text) {
        try {
          body = JSON.parse(text);
        } catch {
          throw new HttpError(400, 'BadRequest', 'request body is not JSON');
        }
        rec.body = body;
      }
      const m = url.pathname;
      let mm: RegExpExecArray | null;
      if (m === '/api/v1/nodes' && req.method === 'GET') {
        const sel = url.searchParams.get('labelSelector');
        if (sel) parseSelector(sel);
        const items = [...this.nodes.values()].filter((n) => matchesSelector(n, sel));
        return this.send(res, rec, 200, { kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items });
      } else if ((mm = /^\/api\/v1\/nodes\/([^/]+)$/.exec(m))) {
        const name = decodeURIComponent(mm[1]!);
        const node = this.nodes.get(name);
        if (!node) throw new HttpError(404, 'NotFound', `nodes "${name}" not found`);
        if (req.method === 'GET') return this.send(res, rec, 200, node);
        if (req.method === 'PATCH') return this.send(res, rec, 200, this.patchNode(name, node, contentType, body));
      } else if (m === '/api/v1/pods' && req.method === 'GET') {
        const sel = url.searchParams.get('fieldSelector');
        const want = sel?.match(/^spec\.nodeName=(.+)$/)?.[1];
        if (sel && !want) throw new HttpError(400, 'BadRequest', `field selector "${sel}" not supported by the fake`);
        const items = [...this.pods.values()].filter((p) => !want || (p.spec as Obj).nodeName === want);
        return this.send(res, rec, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items });
      } else if ((mm = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/eviction$/.exec(m)) && req.method === 'POST') {
        const key = `${mm[1]}/${mm[2]}`;
        if (!isObj(body) || body.kind !== 'Eviction' || body.apiVersion !== 'policy/v1') throw new HttpError(400, 'BadRequest', 'body must be a policy/v1 Eviction');
        if (!this.pods.has(key)) throw new HttpError(404, 'NotFound', `pods "${mm[2]}" not found`);
        this.pods.delete(key);
        return this.send(res, rec, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
      } else if (m === '/api/v1/namespaces' && req.method === 'GET') {
        if (url.searchParams.get('watch') === 'true') return this.watchNamespaces(res, rec, url);
        const sel = url.searchParams.get('labelSelector');
        if (sel) parseSelector(sel);
        const items = [...this.namespaces.values()].filter((n) => matchesSelector(n, sel));
        return this.send(res, rec, 200, { kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items });
      } else if ((mm = /^\/api\/v1\/namespaces\/([^/]+)\/events$/.exec(m)) && req.method === 'POST') {
        return this.send(res, rec, 201, this.createEvent(decodeURIComponent(mm[1]!), body));
      } else if ((mm = /^\/api\/v1\/namespaces\/([^/]+)\/events\/([^/]+)$/.exec(m)) && req.method === 'PATCH') {
        return this.send(res, rec, 200, this.patchEvent(decodeURIComponent(mm[1]!), decodeURIComponent(mm[2]!), contentType, body));
      } else if ((mm = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/daemonsets\/([^/]+)$/.exec(m)) && (req.method === 'GET' || req.method === 'PATCH')) {
        const key = `${mm[1]}/${mm[2]}`;
        const ds = this.daemonSets.get(key);
        if (!ds) throw new HttpError(404, 'NotFound', `daemonsets.apps "${mm[2]}" not found`);
        if (req.method === 'GET') return this.send(res, rec, 200, ds);
        if (contentType !== 'application/merge-patch+json' && contentType !== 'application/strategic-merge-patch+json') throw new HttpError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json`);
        const next = mergePatch(ds, body as Json) as Obj;
        (next.metadata as Obj).resourceVersion = String(++this.rv);
        this.daemonSets.set(key, next);
        return this.send(res, rec, 200, next);
      }
      throw new HttpError(404, 'NotFound', `the fake API server has no ${req.method} ${m}`);
    } catch (e) {
      if (e instanceof HttpError) return this.send(res, rec, e.code, this.status(e.code, e.reason, e.message));
      return this.send(res, rec, 500, this.status(500, 'InternalError', (e as Error).message));
    }
  }

  private createEvent(namespace: string, body: unknown): Obj {
    if (!isObj(body) || !isObj(body.metadata)) throw new HttpError(400, 'BadRequest', 'body must be a core/v1 Event');
    const meta = body.metadata;
    if (meta.namespace !== undefined && meta.namespace !== namespace) throw new HttpError(422, 'Invalid', 'the namespace of the provided object does not match the namespace sent on the request');
    const name = meta.name;
    if (typeof name !== 'string' || !name) throw new HttpError(422, 'Invalid', 'Event "" is invalid: metadata.name: Required value: name or generateName is required');
    if (!isObj(body.involvedObject)) throw new HttpError(422, 'Invalid', `Event "${name}" is invalid: involvedObject: Required value`);
    if (typeof body.reason !== 'string' || !body.reason) throw new HttpError(422, 'Invalid', `Event "${name}" is invalid: reason: Required value`);
    const key = `${namespace}/${name}`;
    if (this.events.has(key)) throw new HttpError(409, 'AlreadyExists', `events "${name}" already exists`);
    const ev: Obj = { ...body, apiVersion: 'v1', kind: 'Event', metadata: { ...meta, namespace, uid: `uid-ev-${name}`, resourceVersion: String(++this.rv) } };
    this.events.set(key, ev);
    return ev;
  }

  private patchEvent(namespace: string, name: string, contentType: string | undefined, body: unknown): Obj {
    const ev = this.events.get(`${namespace}/${name}`);
    if (!ev) throw new HttpError(404, 'NotFound', `events "${name}" not found`);
    let next: Json;
    if (contentType === 'application/merge-patch+json') next = mergePatch(ev, body as Json);
    else if (contentType === 'application/strategic-merge-patch+json') next = strategicMergePatch(ev, body as Json);
    else throw new HttpError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`);
    if (!isObj(next) || !isObj(next.metadata) || next.metadata.name !== name) throw new HttpError(422, 'Invalid', 'metadata.name cannot change');
    next.metadata.resourceVersion = String(++this.rv);
    this.events.set(`${namespace}/${name}`, next);
    return next;
  }

  private patchNode(name: string, node: Obj, contentType: string | undefined, body: unknown): Obj {
    let next: Json;
    switch (contentType) {
      case 'application/merge-patch+json':
        next = mergePatch(node, body as Json);
        break;
      case 'application/strategic-merge-patch+json':
        next = strategicMergePatch(node, body as Json);
        break;
      case 'application/json-patch+json':
        next = jsonPatch(node, body);
        break;
      default:
        throw new HttpError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`);
    }
    if (!isObj(next) || !isObj(next.metadata)) throw new HttpError(422, 'Invalid', 'patch removed metadata');
    const meta = next.metadata as Obj;
    const current = (node.metadata as Obj).resourceVersion;
    if (meta.resourceVersion !== current) {
      throw new HttpError(409, 'Conflict', `Operation cannot be fulfilled on nodes "${name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    if (meta.name !== name) throw new HttpError(422, 'Invalid', 'metadata.name cannot change');
    if (JSON.stringify(next) !== JSON.stringify(node)) meta.resourceVersion = String(++this.rv);
    this.nodes.set(name, next);
    return next;
  }
}
