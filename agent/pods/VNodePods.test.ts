// VNodePods' part in vnodefs, with a fake vNode registry and a recording vnodefs: which vNode owns
// which ids is registered on Create (before any of its processes runs) and forgotten with the
// vNode, and the container's spec gets vnodefs' binds by the host's path rules.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { logger } from '../common/log.js';
import type { VNodeManager } from '../vnode/VNodeManager.js';
import type { VNode } from '../vnode/VNodeRecord.js';
import { VNodePlacement } from '../vnode/VNodePlacement.js';
import { SharingPolicy } from '../vnode/SharingPolicy.js';
import { containerBindings } from '../vnodefs/VnodeFs.js';
import { VNodePods } from './VNodePods.js';
import { parseSpec } from '../spec/SpecRewriter.js';

const tmp = mkdtempSync(join(tmpdir(), 'vnodepods-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// Stands for /proc/<holder>/ns/user: only its inode number matters here.
const usernsFile = join(tmp, 'userns');
writeFileSync(usernsFile, '');
const vnode = {
  version: 1,
  name: 'vn-team-a-0123456789',
  key: 'ns:team-a',
  idRange: { uidStart: 268435456, gidStart: 268435456, size: 65536 },
  hostname: 'vn-team-a-0123456789',
  dir: join(tmp, 'vnode'),
  rootDir: join(tmp, 'vnode/root'),
  state: 'ready',
  holder: { pid: 42, startTime: 1 },
  pods: ['pod1'],
  netns: {},
  createdAt: '2026-01-01T00:00:00.000Z',
  namespaces: { user: usernsFile, pid: '/proc/42/ns/pid', mnt: '/proc/42/ns/mnt', uts: '/proc/42/ns/uts', ipc: '/proc/42/ns/ipc', net: '/proc/42/ns/net', cgroup: '/proc/42/ns/cgroup' },
} as unknown as VNode;

let destroyOnRelease = false;
const vnodes = {
  get: () => vnode,
  list: () => [vnode],
  ofPod: (podId: string) => (vnode.pods.includes(podId) || vnode.netns[podId] !== undefined ? vnode : undefined),
  removePodNetns: async () => true,
  release: async () => ({ found: true, destroyed: destroyOnRelease }),
} as unknown as VNodeManager;

const calls: string[] = [];
const vnodefs = {
  setStartTime: (p: string) => calls.push(`start ${p}`),
  clearStartTime: (p: string) => calls.push(`clear ${p}`),
  registerVnode: (v: { name: string; uidStart: number; size: number }) => calls.push(`register ${v.name} ${v.uidStart} ${v.size}`),
  forgetVnode: (uidStart: number) => calls.push(`forget ${uidStart}`),
  forgetContainer: (id: string) => calls.push(`forget container ${id}`),
};
const VFS = '/run/vnode/vnodefs';
const pods = new VNodePods(vnodes, new VNodePlacement('namespace', new SharingPolicy({})), { procBindings: (id) => containerBindings(VFS, id), vnodefs }, logger('test'));

async function create(id: string, on = pods, cgroupRw = false): Promise<{ destination: string; source?: string }[]> {
  const bundle = mkdtempSync(join(tmp, 'bundle-'));
  copyFileSync(new URL('../../../agent/spec/fixtures/container-plain.json', import.meta.url), join(bundle, 'config.json'));
  // A privileged container's cgroupfs is read-write (its cgroup is delegated at its start).
  if (cgroupRw) {
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { mounts: { destination: string; options?: string[] }[] };
    for (const m of spec.mounts) if (m.destination === '/sys/fs/cgroup') m.options = m.options?.filter((o) => o !== 'ro');
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  }
  const spec = parseSpec(readFileSync(join(bundle, 'config.json'), 'utf8'), 'config.json');
  await on.prepareCreate({ id, podId: 'pod1', sandbox: false, bundle, namespace: 'k8s.io', spec, annotations: spec.annotations as Record<string, string> });
  return (JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { mounts: { destination: string; source?: string }[] }).mounts;
}

test('Create registers the vNode\'s name and id range with vnodefs once; the spec gets the binds this host has', async () => {
  const mounts = await create('c1');
  await create('c2');
  assert.deepEqual(calls.filter((c) => c.startsWith('register')), [`register ${vnode.name} 268435456 65536`], 'once, not per container');
  const ours = new Map(mounts.filter((m) => m.source?.startsWith(`${VFS}/`)).map((m) => [m.destination, m.source]));
  assert.equal(ours.get('/sys/firmware'), `${VFS}/sys/firmware`);
  // The host's own paths decide: this one's DMI (none on the machine these tests were written on).
  assert.equal(ours.has('/sys/devices/virtual/dmi/id'), statSync('/sys/devices/virtual/dmi/id', { throwIfNoEntry: false }) !== undefined);
  assert.ok(![...ours.keys()].some((d) => d.startsWith('/proc/sys/')), 'runc refuses these in config.json: bound before start (e2e/vnodefsPods.test.ts)');
  // The files the kernel may cache come from the container's own copies, the rest are shared.
  assert.equal(ours.get('/proc/meminfo'), `${VFS}/containers/c1/proc/meminfo`);
  assert.equal(ours.get('/sys/devices/system/cpu/online'), `${VFS}/containers/c1/sys/devices/system/cpu/online`);
  // A deleted container's page-cache state goes with it.
  await pods.taskGone('c2', 'pod1');
  assert.ok(calls.includes('forget container c2'));
});

test('a container\'s /proc/sys entries are bound when its listener arrives during create, else at its start; a failure refuses the start', async () => {
  const bound: string[] = [];
  let fail = false;
  const bindInto = async (pid: number, overlays: [string, string][]) => {
    bound.push(`${pid} ${overlays.length}`);
    assert.ok(overlays.some(([s, d]) => s === `${VFS}/proc/sys/kernel/pid_max` && d === '/proc/sys/kernel/pid_max'));
    return fail ? { errno: 13, code: 'EACCES', stage: 'resolve target', value: 0 } : { errno: 0, code: '', stage: '', value: overlays.length };
  };
  const ready = mkdtempSync(join(tmp, 'start-ready-'));
  const p = new VNodePods(vnodes, new VNodePlacement('namespace', new SharingPolicy({})), { procBindings: (id) => containerBindings(VFS, id), vnodefs, bindInto, startReadyDir: ready }, logger('test'));
  await create('e1', p);
  p.containerListening('e1', 77, 'running'); // an exec's listener: not a create
  assert.equal(bound.length, 0);
  p.containerListening('e1', 77, 'creating');
  p.containerListening('e1', 77, 'creating'); // once
  assert.equal(bound.length, 1, 'bound while runc create ends');
  await new Promise((r) => setImmediate(r));
  assert.ok(existsSync(join(ready, 'e1')), 'its start is marked as needing nothing of the manager');
  await p.bindBeforeStart('e1', 77);
  assert.equal(bound.length, 1, 'the start awaits them, no second bind');
  await create('e2', p);
  await p.bindBeforeStart('e2', 88);
  assert.deepEqual(bound.slice(1), [`88 ${bound[0]!.split(' ')[1]}`], 'no listener seen (a restarted manager): bound at the start');
  p.containerListening('e2', 88, 'creating');
  assert.equal(bound.length, 2, 'a listener after the start binds nothing');
  assert.ok(!existsSync(join(ready, 'e2')), 'nor marks it');
  fail = true;
  await create('e3', p);
  p.containerListening('e3', 99, 'creating');
  await assert.rejects(p.bindBeforeStart('e3', 99), /cannot bind vnodefs' \/proc\/sys entries into container e3 \(pid 99\): resolve target: EACCES/);
  assert.ok(!existsSync(join(ready, 'e3')), 'failed binds: the start asks, and is refused');
  fail = false;
  // A privileged container's cgroup is delegated at its start: that start still asks.
  await create('e4', p, true);
  p.containerListening('e4', 111, 'creating');
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(bound.at(-1), `111 ${bound[0]!.split(' ')[1]}`, 'bound');
  assert.ok(!existsSync(join(ready, 'e4')), 'not marked');
  for (const id of ['e1', 'e2', 'e3', 'e4']) await p.taskGone(id, 'pod1');
  assert.deepEqual(readdirSync(ready), [], 'a container gone takes its mark');
});

test("a sandbox's start is marked as needing nothing of the manager once its network is in place; a failed move marks nothing", async () => {
  const ready = mkdtempSync(join(tmp, 'start-ready-'));
  const p = new VNodePods({ ...vnodes, getOrCreate: async () => vnode } as unknown as VNodeManager, new VNodePlacement('namespace', new SharingPolicy({})), { startReadyDir: ready }, logger('test'));
  const sandbox = async (id: string): Promise<void> => {
    const bundle = mkdtempSync(join(tmp, 'bundle-'));
    copyFileSync(new URL('../../../agent/spec/fixtures/sandbox-plain.json', import.meta.url), join(bundle, 'config.json'));
    const spec = parseSpec(readFileSync(join(bundle, 'config.json'), 'utf8'), 'config.json');
    await p.prepareCreate({ id, podId: id, sandbox: true, bundle, namespace: 'k8s.io', spec, annotations: spec.annotations as Record<string, string> });
  };
  const tick = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  };
  // vnode-cni's ADD answered; the interface is still being moved.
  let moved!: () => void;
  p.networks.trackPodNetwork('sb1', { key: vnode.key, netns: Promise.resolve('/run/netns/x'), ready: new Promise<void>((r) => (moved = r)) });
  await sandbox('sb1');
  await tick();
  assert.ok(!existsSync(join(ready, 'sb1')), 'not while the move is in flight: the start waits for it');
  moved();
  await tick();
  assert.ok(existsSync(join(ready, 'sb1')), 'marked once the interface is in place');
  let failMove!: (e: Error) => void;
  p.networks.trackPodNetwork('sb2', { key: vnode.key, netns: Promise.resolve('/run/netns/y'), ready: new Promise<void>((_, j) => (failMove = j)) });
  await sandbox('sb2');
  failMove(new Error('link vanished'));
  await tick();
  assert.ok(!existsSync(join(ready, 'sb2')), 'a failed move: the start asks and is refused');
  await assert.rejects(p.beforeSandboxStart('sb2'), /its network could not be set up: link vanished/);
  // No move in flight (hostNetwork, or done before the Create): marked at once.
  (vnode.netns as Record<string, string>).sb3 = '/run/netns/w';
  await sandbox('sb3');
  delete (vnode.netns as Record<string, string>).sb3;
  await tick();
  assert.ok(existsSync(join(ready, 'sb3')));
  // A listener of the pause process binds nothing into it.
  p.containerListening('sb3', 123, 'creating');
  // A start asked before the move ended is answered by the manager: no mark afterwards.
  let moved4!: () => void;
  p.networks.trackPodNetwork('sb4', { key: vnode.key, netns: Promise.resolve('/run/netns/z'), ready: new Promise<void>((r) => (moved4 = r)) });
  await sandbox('sb4');
  const started = p.beforeSandboxStart('sb4');
  moved4();
  await started;
  await tick();
  assert.ok(!existsSync(join(ready, 'sb4')), 'its start was already asked for');
  for (const id of ['sb1', 'sb2', 'sb3', 'sb4']) await p.taskGone(id, id);
  assert.deepEqual(readdirSync(ready), [], 'a sandbox gone takes its mark');
});

test('a pod leaving a vNode that stays changes nothing; the last one makes vnodefs forget its ids and /proc/sys values', async () => {
  calls.length = 0;
  destroyOnRelease = false;
  await pods.podGone('pod1');
  assert.equal(calls.length, 0, calls.join('; '));
  destroyOnRelease = true;
  await pods.podGone('pod1');
  assert.deepEqual([...calls], ['forget 268435456']);
  // A new vNode with the same name is registered again on its next Create.
  calls.length = 0;
  await create('c3');
  assert.deepEqual(calls.filter((c) => c.startsWith('register')), [`register ${vnode.name} 268435456 65536`]);
});

test("vnode-cni's DEL of a vNode's last pod whose sandbox never started also makes vnodefs forget the vNode", async () => {
  calls.length = 0;
  destroyOnRelease = true;
  const r = await pods.leaveVNode(vnode.key, 'pod1', { release: () => true });
  assert.deepEqual(r, { found: true, destroyed: true });
  assert.deepEqual([...calls], ['forget 268435456'], 'as when its last container goes (podGone)');
  calls.length = 0;
  assert.equal(await pods.leaveVNode(vnode.key, 'pod1', { release: () => false }), undefined, 'a pod with containers keeps its reference');
  assert.deepEqual([...calls], []);
});

test('refusals are reported for an Event on the pod: placement, and devices before anything is made', async () => {
  const refused: string[] = [];
  const p = new VNodePods(vnodes, new VNodePlacement('namespace', new SharingPolicy({ t1: ['team-b'] })), { refused: (pod, reason, message) => refused.push(`${pod.namespace}/${pod.name} ${reason} ${message.slice(0, 40)}`) }, logger('test'));
  assert.throws(() => p.placePod({ sandboxId: 'sb9', namespace: 'team-c', name: 'intruder', uid: 'u9', annotations: { 'vnode.loft.sh/name': 't1' } }), /may not join it/);
  assert.deepEqual(refused, ['team-c/intruder VNodePlacementRefused pod team-c/intruder asks for the shared ']);
  // a container asking for the host's /dev/kmsg (1:11)
  const bundle = mkdtempSync(join(tmp, 'bundle-'));
  const spec = JSON.parse(readFileSync(new URL('../../../agent/spec/fixtures/container-plain.json', import.meta.url), 'utf8')) as { annotations: Record<string, string>; linux: { devices?: object[]; resources: { devices: object[] } } };
  spec.linux.devices = [{ path: '/dev/kmsg', type: 'c', major: 1, minor: 11 }];
  spec.linux.resources.devices.push({ allow: true, type: 'c', major: 1, minor: 11, access: 'rw' });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  refused.length = 0;
  await assert.rejects(p.prepareCreate({ id: 'c9', podId: 'pod1', sandbox: false, bundle, namespace: 'k8s.io', spec: parseSpec(JSON.stringify(spec), 'config.json'), annotations: spec.annotations }), /device request "\/dev\/kmsg": character device 1:11/);
  assert.equal(refused.length, 1);
  assert.match(refused[0]!, / VNodeDeviceRefused container /);
  assert.equal(statSync(join(vnode.dir, 'dev'), { throwIfNoEntry: false }), undefined, 'no device dir made');
});
