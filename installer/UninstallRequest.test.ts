// The operator's uninstall against the fake API server: the pre-delete hook's request annotates the
// DaemonSet and waits for every node to drop the ready label; the installer pods read the
// annotation (or a deleted/deleting DaemonSet) as the uninstall.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { FakeKubeApiServer } from './testing/FakeKubeApiServer.js';
import { requestUninstall, UNINSTALL_ANNOTATION, uninstallRequested } from './UninstallRequest.js';

const LABEL = 'vnode.io/runtime';

async function withApi(t: { after: (fn: () => Promise<void>) => void }) {
  const api = new FakeKubeApiServer();
  await api.start();
  t.after(() => api.stop());
  const kc = new KubeConfig();
  kc.loadFromOptions(api.kubeconfig());
  return { api, kc };
}

test('uninstall is asked for by the annotation, or the DaemonSet gone or going; a plain DaemonSet keeps the node', async (t) => {
  const { api, kc } = await withApi(t);
  assert.equal(await uninstallRequested(kc, 'vnode-system', 'vnode-runtime'), true, 'no DaemonSet');
  api.addDaemonSet('vnode-system', 'vnode-runtime');
  assert.equal(await uninstallRequested(kc, 'vnode-system', 'vnode-runtime'), false, 'a rolling update or pod restart');
  api.addDaemonSet('vnode-system', 'vnode-runtime', true);
  assert.equal(await uninstallRequested(kc, 'vnode-system', 'vnode-runtime'), true, 'being deleted');
});

test('the hook annotates the DaemonSet and returns once no node carries the ready label', async (t) => {
  const { api, kc } = await withApi(t);
  api.addDaemonSet('vnode-system', 'vnode-runtime');
  api.addNode('node-a', { [LABEL]: 'ready' });
  api.addNode('node-b', { [LABEL]: 'ready' });
  api.addNode('node-c');
  const logs: string[] = [];
  const done = requestUninstall(kc, 'vnode-system', 'vnode-runtime', { readyLabel: LABEL, timeoutMs: 10_000, pollMs: 20, log: (m) => logs.push(m) });
  // The installer pods see the request and uninstall their nodes (here: the label goes, one by one).
  for (let i = 0; i < 100 && !(await uninstallRequested(kc, 'vnode-system', 'vnode-runtime')); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal((api.daemonSets.get('vnode-system/vnode-runtime')!.metadata as Record<string, Record<string, string>>).annotations![UNINSTALL_ANNOTATION], 'requested');
  for (const n of ['node-a', 'node-b']) {
    await new Promise((r) => setTimeout(r, 60));
    const node = api.nodes.get(n)!;
    delete (node.metadata as { labels: Record<string, string> }).labels[LABEL];
  }
  const r = await done;
  assert.ok(r.waitedMs >= 60);
  assert.match(logs[0]!, /waiting for 2 node\(s\) to uninstall: node-a, node-b/);
  assert.ok(api.requests.some((q) => q.method === 'GET' && q.path === `/api/v1/nodes?labelSelector=${encodeURIComponent(LABEL)}`));
});

test('a node that never uninstalls fails the hook with its name; no DaemonSet is nothing to do', async (t) => {
  const { api, kc } = await withApi(t);
  assert.deepEqual(await requestUninstall(kc, 'vnode-system', 'vnode-runtime', { readyLabel: LABEL, timeoutMs: 100 }), { waitedMs: 0 });
  api.addDaemonSet('vnode-system', 'vnode-runtime');
  api.addNode('stuck', { [LABEL]: 'ready' });
  await assert.rejects(requestUninstall(kc, 'vnode-system', 'vnode-runtime', { readyLabel: LABEL, timeoutMs: 100, pollMs: 20 }), /after 0 s these nodes still carry vnode\.io\/runtime: stuck/);
});
