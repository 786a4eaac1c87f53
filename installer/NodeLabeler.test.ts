import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { NodeLabeler } from './NodeLabeler.js';
import { FakeKubeApiServer, jsonPatch, strategicMergePatch } from './testing/FakeKubeApiServer.js';

async function withApi(t: { after: (fn: () => Promise<void>) => void }) {
  const api = new FakeKubeApiServer();
  await api.start();
  t.after(() => api.stop());
  api.addNode('node-a');
  const kc = new KubeConfig();
  kc.loadFromOptions(api.kubeconfig());
  const labeler = new NodeLabeler(kc, { nodeName: 'node-a', readyLabel: 'vnode.io/runtime', readyValue: 'ready', taintKey: 'vnode.io/installing' });
  return { api, kc, labeler };
}

test('ready label: merge patch adds it, a second call only reads, null removes it', async (t) => {
  const { api, labeler } = await withApi(t);
  assert.equal(await labeler.setReady(true), true);
  assert.equal((api.nodes.get('node-a')!.metadata as any).labels['vnode.io/runtime'], 'ready');
  assert.equal((api.nodes.get('node-a')!.metadata as any).labels['kubernetes.io/hostname'], 'node-a', 'other labels kept');
  const patch = api.requests.find((r) => r.method === 'PATCH')!;
  assert.equal(patch.contentType, 'application/merge-patch+json');
  assert.deepEqual(patch.body, { metadata: { labels: { 'vnode.io/runtime': 'ready' } } });
  const n = api.requests.length;
  assert.equal(await labeler.setReady(true), false);
  assert.equal(api.requests.slice(n).every((r) => r.method === 'GET'), true, 'no patch when nothing changes');
  assert.equal(await labeler.setReady(false), true);
  assert.equal((api.nodes.get('node-a')!.metadata as any).labels['vnode.io/runtime'], undefined);
  assert.deepEqual(api.requests.at(-1)!.body, { metadata: { labels: { 'vnode.io/runtime': null } } });
});

test('install taint: strategic merge adds it beside existing taints, a tested JSON patch removes only it', async (t) => {
  const { api, labeler } = await withApi(t);
  (api.nodes.get('node-a')!.spec as any).taints = [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }];
  assert.equal(await labeler.setInstallingTaint(true), true);
  assert.equal(api.requests.at(-1)!.contentType, 'application/strategic-merge-patch+json');
  assert.deepEqual((api.nodes.get('node-a')!.spec as any).taints.map((x: any) => x.key), ['node-role.kubernetes.io/control-plane', 'vnode.io/installing']);
  assert.equal(await labeler.setInstallingTaint(true), false);
  assert.equal(await labeler.setInstallingTaint(false), true);
  assert.equal(api.requests.at(-1)!.contentType, 'application/json-patch+json');
  assert.deepEqual((api.nodes.get('node-a')!.spec as any).taints.map((x: any) => x.key), ['node-role.kubernetes.io/control-plane']);
  assert.equal(await labeler.setInstallingTaint(false), false);
});

test('evicts only this node\'s pods of the runtime class, through policy/v1 Eviction', async (t) => {
  const { api, labeler } = await withApi(t);
  api.addPod('default', 'v1', 'node-a', 'vnode');
  api.addPod('team', 'v2', 'node-a', 'vnode');
  api.addPod('default', 'r1', 'node-a');
  api.addPod('default', 'other-node', 'node-b', 'vnode');
  assert.equal(await labeler.evictRuntimePods('vnode'), 2);
  assert.deepEqual([...api.pods.keys()].sort(), ['default/other-node', 'default/r1']);
  assert.ok(api.requests.some((r) => r.path === '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a'));
});

test('errors carry the HTTP code and the API message: unknown node, bad token', async (t) => {
  const { api, kc } = await withApi(t);
  await assert.rejects(new NodeLabeler(kc, { nodeName: 'nope', readyLabel: 'a', readyValue: 'b', taintKey: 'c' }).setReady(true), /read node nope: HTTP 404: nodes "nope" not found/);
  const bad = new KubeConfig();
  bad.loadFromOptions({ ...api.kubeconfig(), users: [{ name: 'installer', token: 'wrong' }] });
  await assert.rejects(new NodeLabeler(bad, { nodeName: 'node-a', readyLabel: 'a', readyValue: 'b', taintKey: 'c' }).setReady(true), /HTTP 401/);
});

test('the fake answers like kube-apiserver: 415 for unknown patch types, 409 for a stale resourceVersion, 422 for a failed test', async (t) => {
  const { api } = await withApi(t);
  const patch = (ct: string, body: unknown) => fetch(`${api.url}/api/v1/nodes/node-a`, { method: 'PATCH', headers: { authorization: `Bearer ${api.token}`, 'content-type': ct }, body: JSON.stringify(body) });
  assert.equal((await patch('application/json', {})).status, 415);
  assert.equal((await patch('application/merge-patch+json', { metadata: { resourceVersion: '1', labels: { a: 'b' } } })).status, 409);
  const r = await patch('application/json-patch+json', [{ op: 'test', path: '/metadata/name', value: 'other' }]);
  assert.equal(r.status, 422);
  assert.equal(((await r.json()) as any).reason, 'Invalid');
  assert.deepEqual(strategicMergePatch({ spec: { taints: [{ key: 'a', effect: 'NoSchedule' }] } } as any, { spec: { taints: [{ key: 'a', $patch: 'delete' }] } } as any), { spec: { taints: [] } });
  assert.deepEqual(jsonPatch({ a: [1, 2] }, [{ op: 'add', path: '/a/-', value: 3 }, { op: 'move', from: '/a', path: '/b' }]), { b: [1, 2, 3] });
});
