// Events through @kubernetes/client-node against the FAKE API server: the Node's install,
// upgrade, uninstall and failure Events, aggregation of repeats (PATCH count, one object), the
// token bucket per object and reason, an expired event written anew, an API that is away, and
// the manager's pod refusals taken from its spool and posted on their pods.
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { appendPodEvent, MAX_SPOOL_BYTES, POD_EVENT_SPOOL } from '../agent/common/podEventSpool.js';
import { KubeEventSink } from './EventRecorder.js';
import type { InstallReport } from './Installer.js';
import { NodeEvents } from './NodeEvents.js';
import { FakeKubeApiServer } from './testing/FakeKubeApiServer.js';

async function setup(opts: { burst?: number; refillMs?: number } = {}) {
  const api = new FakeKubeApiServer();
  await api.start();
  const kc = new KubeConfig();
  kc.loadFromOptions(api.kubeconfig());
  let now = Date.parse('2026-12-03T10:00:00Z');
  const clock = { advance: (ms: number) => (now += ms) };
  const events = new NodeEvents(new KubeEventSink(kc), 'node-1', { ...opts, now: () => now });
  return { api, events, clock };
}

const report = (over: Partial<InstallReport> = {}): InstallReport => ({
  version: '0.2.0',
  changed: ['tree', 'config'],
  restarted: true,
  configPlan: { mode: 'drop-in', file: '/etc/containerd/config.toml', configVersion: 2, pluginId: 'io.containerd.grpc.v1.cri', notes: [] },
  cni: { hostConfDir: '/etc/cni/net.d', vnodeConfDir: '/etc/cni/vnode.d', binDir: '/opt/cni/bin' },
  shimLink: '/usr/local/bin/containerd-shim-vnode-v2',
  cliLink: '/usr/local/bin/vnode',
  ...over,
});

test('install, upgrade, uninstall and failures are Events on the Node, in "default", as kubelet writes them', async (t) => {
  const { api, events } = await setup();
  t.after(() => api.stop());
  await events.around('install', async () => report());
  await events.installed(report({ version: '0.3.0', previousVersion: '0.2.0' }));
  await events.uninstalled({ changed: ['tree'], restarted: true, evicted: 2 });
  await assert.rejects(events.around('install', () => Promise.reject(new Error('containerd did not come back'))), /did not come back/);
  const evs = [...api.events.values()];
  assert.deepEqual(evs.map((e) => [e.reason, e.type]), [['VNodeInstalled', 'Normal'], ['VNodeUpgraded', 'Normal'], ['VNodeUninstalled', 'Normal'], ['VNodeInstallFailed', 'Warning']]);
  const first = evs[0]!;
  assert.equal((first.metadata as { namespace: string }).namespace, 'default');
  assert.match((first.metadata as { name: string }).name, /^node-1\.[0-9a-f]+$/);
  assert.deepEqual(first.involvedObject, { kind: 'Node', apiVersion: 'v1', name: 'node-1', uid: 'node-1' });
  assert.deepEqual(first.source, { component: 'vnode-installer', host: 'node-1' });
  assert.equal(first.count, 1);
  assert.equal(first.firstTimestamp, '2026-12-03T10:00:00.000Z');
  assert.equal(evs[1]!.message, 'vNode upgraded from 0.2.0 to 0.3.0 (containerd restarted)');
  assert.equal(evs[3]!.message, 'vNode install failed: containerd did not come back');
  assert.ok(api.requests.every((r) => r.method === 'POST' && r.path === '/api/v1/namespaces/default/events' && r.status === 201));
});

test('a repeat is aggregated: one object, count and lastTimestamp PATCHed; an expired one is written anew', async (t) => {
  const { api, events, clock } = await setup();
  t.after(() => api.stop());
  for (let i = 0; i < 3; i++) {
    await events.subsystemFailed('vnode-manager', 'exited (code 1)');
    clock.advance(1000);
  }
  assert.equal(api.events.size, 1);
  const ev = [...api.events.values()][0]!;
  assert.equal(ev.count, 3);
  assert.equal(ev.firstTimestamp, '2026-12-03T10:00:00.000Z');
  assert.equal(ev.lastTimestamp, '2026-12-03T10:00:02.000Z');
  const patches = api.requests.filter((r) => r.method === 'PATCH');
  assert.equal(patches.length, 2);
  assert.equal(patches[0]!.contentType, 'application/strategic-merge-patch+json');
  // another message is another event
  await events.subsystemFailed('vnode-manager', 'exited (code 2)');
  assert.equal(api.events.size, 2);
  // the API dropped the event (TTL): the next repeat creates one
  api.events.clear();
  await events.subsystemFailed('vnode-manager', 'exited (code 1)');
  assert.equal(api.events.size, 1);
  assert.equal([...api.events.values()][0]!.count, 1);
  assert.deepEqual(events.recorder.counts, { created: 3, aggregated: 2, dropped: 0, failed: 0 });
});

test('rate limit: a token bucket per object and reason, refilled over time', async (t) => {
  const { api, events, clock } = await setup({ burst: 3, refillMs: 60_000 });
  t.after(() => api.stop());
  const outcomes = [];
  for (let i = 0; i < 5; i++) outcomes.push(await events.subsystemFailed('vnode-manager', `exit ${i}`));
  assert.deepEqual(outcomes, ['created', 'created', 'created', 'dropped', 'dropped']);
  // repeats count against the same bucket (kubelet's spam filter runs before aggregation)
  assert.equal(await events.subsystemFailed('vnode-manager', 'exit 0'), 'dropped');
  // another reason on the same node has its own bucket
  assert.equal(await events.failed('install', new Error('x')), 'created');
  clock.advance(59_000);
  assert.equal(await events.subsystemFailed('vnode-manager', 'exit 5'), 'dropped');
  clock.advance(1_000);
  assert.equal(await events.subsystemFailed('vnode-manager', 'exit 0'), 'aggregated', 'one token after a refill period');
  assert.equal(await events.subsystemFailed('vnode-manager', 'exit 6'), 'dropped');
  clock.advance(10 * 60_000);
  for (let i = 0; i < 3; i++) assert.notEqual(await events.subsystemFailed('vnode-manager', `later ${i}`), 'dropped');
  assert.equal(await events.subsystemFailed('vnode-manager', 'later 3'), 'dropped', 'refills stop at the burst');
  assert.equal(api.events.size, 7);
});

test('an API that is away: the Event is counted as failed, nothing throws', async () => {
  const { api, events } = await setup();
  await api.stop();
  assert.equal(await events.installed(report()), 'failed');
  assert.deepEqual(await events.around('uninstall', async () => ({ changed: [], restarted: false, evicted: 0 })), { changed: [], restarted: false, evicted: 0 });
  assert.equal(events.recorder.counts.failed, 2);
});

test("the manager's refusals: taken from its spool, posted as Warning Events on their pods, aggregated", async (t) => {
  const { api, events } = await setup();
  const stateDir = mkdtempSync(join(tmpdir(), 'pod-events-'));
  t.after(async () => {
    await api.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });
  const spool = join(stateDir, POD_EVENT_SPOOL);
  const refusal = { at: Date.now(), pod: { namespace: 'team-c', name: 'intruder', uid: 'uid-1' }, reason: 'VNodePlacementRefused', message: 'pod team-c/intruder asks for the shared vNode "t1" ... may not join it' };
  assert.ok(appendPodEvent(spool, refusal));
  assert.ok(appendPodEvent(spool, refusal));
  assert.ok(appendPodEvent(spool, { ...refusal, pod: { namespace: 'gpu', name: 'trainer', uid: '' }, reason: 'VNodeDeviceRefused', message: 'container main: device request "/dev/vda": block device 254:0 (vda on the host) refused' }));
  appendFileSync(spool, 'not json\n{"reason":"x"}\n');
  assert.equal(await events.forwardPodEvents(stateDir), 3);
  assert.ok(!existsSync(spool), 'the spool was taken');
  const evs = [...api.events.values()];
  assert.equal(evs.length, 2);
  const placement = api.events.get(`team-c/${(evs[0]!.metadata as { name: string }).name}`)!;
  assert.deepEqual(placement.involvedObject, { kind: 'Pod', apiVersion: 'v1', name: 'intruder', namespace: 'team-c', uid: 'uid-1' });
  assert.equal(placement.type, 'Warning');
  assert.equal(placement.count, 2);
  assert.equal(evs[1]!.reason, 'VNodeDeviceRefused');
  assert.equal((evs[1]!.metadata as { namespace: string }).namespace, 'gpu');
  assert.equal(await events.forwardPodEvents(stateDir), 0, 'nothing twice');
  // a spool nobody takes stops growing
  let n = 0;
  while (appendPodEvent(spool, refusal)) n++;
  assert.ok(n > 100 && n * 200 < MAX_SPOOL_BYTES * 2);
});
