import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeFileAtomic } from '../common/atomicWrite.js';
import { parseConfig } from '../common/config.js';
import { SharingPolicy, SharingPolicyError } from './SharingPolicy.js';
import { podFromCni, podFromSpec, VNODE_NAME_ANNOTATION, vnodeName, VNodePlacement, VNodePlacementError, type PodIdentity } from './VNodePlacement.js';

const dir = mkdtempSync(join(tmpdir(), 'vnode-placement-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const pod = (over: Partial<PodIdentity> = {}): PodIdentity => ({ sandboxId: 'sb1', namespace: 'team-a', name: 'web-0', uid: '7b3c5a4e-1111', annotations: {}, ...over });
const asks = (name: string) => ({ [VNODE_NAME_ANNOTATION]: name });

test('by mode: one vNode per namespace, or per pod', () => {
  const none = new SharingPolicy();
  assert.equal(new VNodePlacement('namespace', none).keyFor(pod()), 'ns:team-a');
  assert.equal(new VNodePlacement('pod', none).keyFor(pod()), 'pod:7b3c5a4e-1111');
});

test('a bare CRI pod (no namespace, no uid, no annotations) gets a vNode of its own, the same from CNI and from its spec', () => {
  const p = new VNodePlacement('namespace', new SharingPolicy());
  const fromCni = podFromCni('sb-bare', { IgnoreUnknown: '1', K8S_POD_NAMESPACE: '', K8S_POD_NAME: 'bare', K8S_POD_UID: '' }, null);
  const fromSpec = podFromSpec('sb-bare', { 'io.kubernetes.cri.sandbox-name': 'bare', 'io.kubernetes.cri.sandbox-namespace': '', 'io.kubernetes.cri.sandbox-uid': '' });
  assert.equal(p.keyFor(fromCni), 'pod:sb-bare');
  assert.equal(p.keyFor(fromSpec), p.keyFor(fromCni));
  // with a uid but no namespace, the uid names it (both sides carry it)
  assert.equal(p.keyFor(podFromCni('sb2', { K8S_POD_UID: 'u-1' }, undefined)), p.keyFor(podFromSpec('sb2', { 'io.kubernetes.cri.sandbox-uid': 'u-1' })));
  // an ordinary pod: the same key from both sides
  const args = { K8S_POD_NAMESPACE: 'team-a', K8S_POD_NAME: 'web-0', K8S_POD_UID: 'u-2' };
  const ann = { 'io.kubernetes.cri.sandbox-namespace': 'team-a', 'io.kubernetes.cri.sandbox-name': 'web-0', 'io.kubernetes.cri.sandbox-uid': 'u-2' };
  for (const mode of ['namespace', 'pod'] as const) {
    const pm = new VNodePlacement(mode, new SharingPolicy());
    assert.equal(pm.keyFor(podFromCni('sb3', args, {})), pm.keyFor(podFromSpec('sb3', ann)), mode);
  }
});

test('the annotation alone never moves a pod into another namespace\'s vNode', () => {
  const p = new VNodePlacement('namespace', new SharingPolicy());
  assert.throws(
    () => p.keyFor(pod({ namespace: 'team-b', annotations: asks('tenant-a') })),
    (e: unknown) => e instanceof VNodePlacementError && /team-b\/web-0 asks for the shared vNode "tenant-a".*namespace "team-b" may not join it.*cluster admin/.test(e.message),
  );
  assert.throws(() => p.keyFor(pod({ annotations: asks('Bad_Name') })), /annotation vnode\.loft\.sh\/name="Bad_Name" must be a DNS label/);
});

test('the admin shares a vNode between namespaces; a pod may ask for its own namespace\'s shared vNode only', () => {
  const p = new VNodePlacement('namespace', new SharingPolicy({ 'tenant-a': ['team-a', 'team-a2'] }));
  assert.equal(p.keyFor(pod()), 'shared:tenant-a', 'no annotation needed');
  assert.equal(p.keyFor(pod({ namespace: 'team-a2' })), 'shared:tenant-a');
  assert.equal(p.keyFor(pod({ namespace: 'team-a2', annotations: asks('tenant-a') })), 'shared:tenant-a');
  assert.equal(new VNodePlacement('pod', new SharingPolicy({ 'tenant-a': ['team-a'] })).keyFor(pod()), 'shared:tenant-a', 'sharing beats pod mode');
  assert.throws(() => p.keyFor(pod({ namespace: 'team-b', annotations: asks('tenant-a') })), VNodePlacementError);
  assert.throws(() => p.keyFor(pod({ annotations: asks('tenant-b') })), VNodePlacementError, 'not the vNode its namespace belongs to');
  assert.equal(p.keyFor(pod({ namespace: 'team-b' })), 'ns:team-b');
});

test('the policy file: placement waits for it, follows its changes, refuses a bad one; configuration wins', () => {
  const file = join(dir, 'sharing.json');
  const write = (v: unknown) => {
    writeFileAtomic(file, typeof v === 'string' ? v : JSON.stringify(v));
  };
  const p = new VNodePlacement('namespace', new SharingPolicy({ pinned: ['team-p'] }, file));
  assert.throws(() => p.keyFor(pod()), (e: unknown) => e instanceof SharingPolicyError && /is not there yet/.test(e.message));
  assert.equal(p.keyFor(pod({ namespace: 'team-p' })), 'shared:pinned', 'the configuration needs no file');
  write({ version: 1, vnodes: { blue: ['team-a', 'team-b'], other: ['team-p'] }, source: 'namespace label vnode.loft.sh/vnode' });
  assert.equal(p.keyFor(pod({ namespace: 'team-b', annotations: asks('blue') })), 'shared:blue');
  assert.equal(p.keyFor(pod({ namespace: 'team-p' })), 'shared:pinned', 'the configuration wins over the file');
  assert.throws(() => p.keyFor(pod({ namespace: 'team-c', annotations: asks('blue') })), /namespace label vnode\.loft\.sh\/vnode/, 'the message names where the admin sets it');
  write({ version: 1, vnodes: { blue: ['team-a'] } });
  assert.equal(p.keyFor(pod({ namespace: 'team-b' })), 'ns:team-b', 'a namespace taken out of a shared vNode');
  write('{"version": 1, "vnodes": {"x": ["a"], "y": ["a"]}}');
  assert.throws(() => p.keyFor(pod()), /invalid: x|invalid: y|two shared vNodes/);
  write('not json');
  assert.throws(() => p.keyFor(pod()), SharingPolicyError);
});

test('configuration: sharing.vnodes is checked (names, a namespace in two vNodes), env overrides', () => {
  assert.deepEqual(parseConfig({ sharing: { vnodes: { blue: ['a', 'b'] } } }).sharing.vnodes, { blue: ['a', 'b'] });
  assert.throws(() => parseConfig({ sharing: { vnodes: { Blue: ['a'] } } }), /DNS label/);
  assert.throws(() => parseConfig({ sharing: { vnodes: { x: ['a'], y: ['a'] } } }), /namespace "a" is given to two shared vNodes, x and y/);
  assert.throws(() => parseConfig({ sharing: { policyFile: 'rel' } }), /absolute path/);
});

test('names are stable, distinct, DNS labels of at most 63 characters', () => {
  const keys = ['ns:team-a', 'ns:team-b', 'pod:7b3c5a4e-1111', 'shared:tenant-blue', `ns:${'x'.repeat(63)}`, 'ns:---', 'ns:A.B'];
  const names = keys.map(vnodeName);
  assert.equal(new Set(names).size, keys.length);
  for (const n of names) assert.match(n, /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
  assert.equal(vnodeName('ns:team-a'), vnodeName('ns:team-a'));
  assert.match(vnodeName('ns:team-a'), /^vn-team-a-[0-9a-f]{10}$/);
});
