// The shared-vNode policy from namespace labels, against the FAKE API server (list, watch with a
// label selector, watch streams ending): the file the manager reads, and what placement makes of it.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';

import { SharingPolicy } from '../agent/vnode/SharingPolicy.js';
import { VNodePlacement, VNodePlacementError, type PodIdentity } from '../agent/vnode/VNodePlacement.js';
import { HostRoot } from './HostRoot.js';
import { NamespaceSharingWatch, policyFromNamespaces } from './NamespaceSharingWatch.js';
import { FakeKubeApiServer } from './testing/FakeKubeApiServer.js';

const LABEL = 'vnode.loft.sh/shared-vnode';

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const pod = (namespace: string, annotations: Record<string, string> = {}): PodIdentity => ({ sandboxId: `sb-${namespace}`, namespace, name: 'p', uid: `uid-${namespace}`, annotations });

test('namespace labels become the policy file: after the first list, on every change, never before', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'sharing-watch-'));
  const api = new FakeKubeApiServer();
  await api.start();
  const kc = new KubeConfig();
  kc.loadFromOptions(api.kubeconfig());
  api.setNamespace('team-a');
  api.setNamespace('team-b', { [LABEL]: 'tenant1' });
  api.setNamespace('team-c', { [LABEL]: 'tenant1' });
  api.setNamespace('odd', { [LABEL]: 'Not_A_Name' });
  const file = '/var/lib/vnode/sharing-policy.json';
  const watch = new NamespaceSharingWatch(kc, new HostRoot(root), { label: LABEL, file, retryMs: 100 });
  t.after(async () => {
    await watch.stop();
    await api.stop();
    rmSync(root, { recursive: true, force: true });
  });
  const onDisk = () => JSON.parse(readFileSync(join(root, file), 'utf8')) as { version: number; vnodes: Record<string, string[]>; source: string };
  const placement = new VNodePlacement('namespace', new SharingPolicy({}, join(root, file)));

  // Before the first list the manager places nothing: a retryable error, not the namespace's own vNode.
  assert.throws(() => placement.keyFor(pod('team-b')), { name: 'SharingPolicyError', message: /not there yet/ });
  await watch.start();
  await watch.whenSynced();
  assert.deepEqual(onDisk().vnodes, { tenant1: ['team-b', 'team-c'] }, 'a label value that is not a DNS label is skipped');
  assert.match(onDisk().source, /namespace label vnode\.loft\.sh\/shared-vnode/);
  // Only the labelled namespaces travel (the selector is the server's job).
  assert.ok(api.requests.some((r) => r.path.startsWith('/api/v1/namespaces?') && r.path.includes(encodeURIComponent(LABEL))), JSON.stringify(api.requests.map((r) => r.path)));

  assert.equal(placement.keyFor(pod('team-b')), 'shared:tenant1');
  assert.equal(placement.keyFor(pod('team-c', { 'vnode.loft.sh/name': 'tenant1' })), 'shared:tenant1');
  assert.equal(placement.keyFor(pod('team-a')), 'ns:team-a');
  assert.throws(() => placement.keyFor(pod('team-a', { 'vnode.loft.sh/name': 'tenant1' })), (e: Error) => e instanceof VNodePlacementError && /may not join it/.test(e.message) && /namespace label/.test(e.message));

  // The admin labels, relabels and removes: the watch follows without a new list.
  const lists = () => api.requests.filter((r) => r.path.startsWith('/api/v1/namespaces?') && !r.path.includes('watch=true')).length;
  const listed = lists();
  api.setNamespace('team-a', { [LABEL]: 'tenant2' });
  await until('team-a in tenant2', () => onDisk().vnodes.tenant2?.[0] === 'team-a');
  assert.equal(placement.keyFor(pod('team-a')), 'shared:tenant2');
  api.setNamespace('team-c');
  await until('team-c unlabelled', () => onDisk().vnodes.tenant1?.length === 1);
  assert.equal(placement.keyFor(pod('team-c')), 'ns:team-c');
  api.deleteNamespace('team-b');
  await until('team-b deleted', () => !('tenant1' in onDisk().vnodes));
  assert.equal(lists(), listed, 'changes came through the watch');

  // The server ends the stream (its timeout, a restart): the watch resumes from its resourceVersion
  // and misses nothing that changed in between.
  api.closeWatches();
  api.setNamespace('team-d', { [LABEL]: 'tenant3' });
  await until('team-d after the stream ended', () => onDisk().vnodes.tenant3?.[0] === 'team-d');
});

test('an API server that is down: the last policy stays in force and the watch recovers', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'sharing-watch-'));
  const api = new FakeKubeApiServer();
  await api.start();
  const kc = new KubeConfig();
  kc.loadFromOptions({ ...api.kubeconfig(), users: [{ name: 'installer', token: 'not-yet' }] });
  api.setNamespace('team-b', { [LABEL]: 'tenant1' });
  const file = '/state/sharing-policy.json';
  const watch = new NamespaceSharingWatch(kc, new HostRoot(root), { label: LABEL, file, retryMs: 50 });
  t.after(async () => {
    await watch.stop();
    await api.stop();
    rmSync(root, { recursive: true, force: true });
  });
  // Refused (401): nothing is written, so the manager keeps refusing to place pods rather than guess.
  await watch.start();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(existsSync(join(root, file)), false);
  assert.ok(api.requests.filter((r) => r.status === 401).length >= 2, 'retried');
  // The credentials start working (a token mounted late): the retry lists and writes.
  (api as unknown as { token: string }).token = 'not-yet';
  await watch.whenSynced();
  assert.deepEqual((JSON.parse(readFileSync(join(root, file), 'utf8')) as { vnodes: unknown }).vnodes, { tenant1: ['team-b'] });
});

test('policyFromNamespaces: sorted, one vNode per namespace, values that are not names skipped', () => {
  const ns = (name: string, v?: string) => ({ metadata: { name, labels: (v === undefined ? {} : { [LABEL]: v }) as Record<string, string> } });
  const bad: string[] = [];
  assert.deepEqual(policyFromNamespaces([ns('z', 'b'), ns('a', 'b'), ns('m', 'a'), ns('n'), ns('x', '-bad'), ns('y', 'x'.repeat(64))], LABEL, (n) => bad.push(n)), { a: ['m'], b: ['a', 'z'] });
  assert.deepEqual(bad, ['x', 'y']);
});
