// vnode-cni's ADD, CHECK, DEL and VERSION against a real VNodeManager and the kernel: ADD answers
// with the pod's vNode netns while the interface move finishes behind it (the sandbox's Start
// waits for it), a failed move fails the sandbox and lets go of the vNode, DEL is idempotent
// (the second call comes without a netns), bad input gets a CNI error and changes nothing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { umount2 } from '../../addon/mount.js';
import { logger } from '../common/log.js';
import type { LaunchAnswer } from '../launch/launchProtocol.js';
import { VNodePods } from '../pods/VNodePods.js';
import { isolatedConfig } from '../vnode/testing/isolatedConfig.js';
import { SharingPolicy } from '../vnode/SharingPolicy.js';
import { VNodeManager } from '../vnode/VNodeManager.js';
import { podFromCni, VNodePlacement } from '../vnode/VNodePlacement.js';
import { interfaceIn } from './netnsMove.js';
import { VNodeCni } from './VNodeCni.js';

const POOL_START = 0xa0000000; // this file's own part of the id space
const { cfg, base } = isolatedConfig({ prefix: 'vnode-cni-e2e-', poolStart: POOL_START, count: 4 });
const log = logger('test');
let vnodes: VNodeManager;
let pods: VNodePods;
let cni: VNodeCni;
const hostNetns = join(base, 'containerd-netns');

const inNs = (ns: string, args: string[]): string => execFileSync('nsenter', [`--net=${ns}`, ...args], { encoding: 'utf8' });

before(async () => {
  vnodes = await VNodeManager.open(cfg, { log });
  pods = new VNodePods(vnodes, new VNodePlacement('namespace', new SharingPolicy()), {}, log);
  cni = new VNodeCni(vnodes, pods, () => false, log);
  // containerd's netns for the pod, with the interface the host's plugin made.
  writeFileSync(hostNetns, '');
  execFileSync('unshare', [`--net=${hostNetns}`, 'true']);
  inNs(hostNetns, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer0']);
  inNs(hostNetns, ['ip', 'addr', 'add', '10.213.7.2/24', 'dev', 'eth0']);
  inNs(hostNetns, ['ip', 'link', 'set', 'eth0', 'up']);
  inNs(hostNetns, ['ip', 'route', 'add', 'default', 'via', '10.213.7.1']);
});
after(async () => {
  for (const v of vnodes?.list() ?? []) await vnodes.destroy(v.key).catch(() => undefined);
  await vnodes?.close();
  await umount2(hostNetns, 0).catch(() => undefined);
  rmSync(base, { recursive: true, force: true });
});

const conf = (extra: object = {}) => ({
  cniVersion: '1.0.0',
  name: 'podnet',
  type: 'vnode-cni',
  prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'peer0' }, { name: 'eth0', sandbox: hostNetns }], ips: [{ address: '10.213.7.2/24', interface: 1 }] },
  ...extra,
});

function call(command: string, id: string, opts: { netns?: string; ifname?: string; stdin?: string } = {}): Promise<LaunchAnswer> {
  const env: Record<string, string> = { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_IFNAME: opts.ifname ?? 'eth0', CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=p-${id};K8S_POD_UID=uid-${id}`, CNI_PATH: '/opt/cni/bin' };
  if (opts.netns !== undefined) env.CNI_NETNS = opts.netns;
  return cni.handle({ entry: 'vnode-cni', argv: ['vnode-cni'], env, cwd: '/', stdin: Buffer.from(opts.stdin ?? JSON.stringify(conf())) });
}

/** The exit code, or the CNI error code when the plugin failed (it exits 1 with the error object). */
const out = (a: LaunchAnswer): { code: number; json: Record<string, unknown> } => {
  assert.equal(a.kind, 'exit');
  const e = a as { code: number; stdout?: string | Buffer };
  const text = e.stdout?.toString() ?? '';
  const json = text.trim() ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (e.code !== 0) {
    assert.equal(e.code, 1, 'a failed CNI plugin exits 1');
    return { code: json.code as number, json };
  }
  return { code: 0, json };
};

test('ADD answers with the vNode netns; the move lands before the sandbox may start; CHECK; DEL twice', async () => {
  const id = 'pod1';
  const add = out(await call('ADD', id, { netns: hostNetns }));
  assert.equal(add.code, 0, JSON.stringify(add.json));
  const podNetns = vnodes.podNetnsPath(pods.placePod(podFromCni(id, { K8S_POD_NAMESPACE: 'team-a' }, null)), id);
  const eth0 = (add.json.interfaces as Array<{ name: string; sandbox?: string }>).find((i) => i.name === 'eth0');
  assert.equal(eth0?.sandbox, podNetns, 'the result names the pod netns in its vNode (created behind the answer)');
  assert.equal(add.json.cniVersion, '1.0.0');
  await pods.beforeSandboxStart(id);
  assert.deepEqual(vnodes.list().map((v) => v.pods), [[id]], 'the pod joined its vNode');
  assert.ok(await interfaceIn(podNetns, 'eth0'), 'eth0 is in the vNode netns once the sandbox may start');
  assert.ok(!(await interfaceIn(hostNetns, 'eth0')), "and gone from containerd's");
  assert.match(inNs(podNetns, ['ip', '-4', 'addr', 'show', 'eth0']), /10\.213\.7\.2\/24/);
  assert.match(inNs(podNetns, ['ip', 'route']), /default via 10\.213\.7\.1/);
  assert.equal(out(await call('CHECK', id, { netns: hostNetns })).code, 0);
  // A second pod of the namespace joins the same vNode (one state write for join + netns).
  inNs(hostNetns, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer1']);
  assert.equal(out(await call('ADD', 'pod1b', { netns: hostNetns })).code, 0);
  await pods.beforeSandboxStart('pod1b');
  assert.deepEqual(vnodes.list().map((v) => v.pods), [[id, 'pod1b']], 'both pods in one vNode');
  const netns1b = vnodes.podNetnsPath(vnodes.list()[0]!.key, 'pod1b');
  assert.deepEqual(vnodes.list()[0]!.netns, { [id]: podNetns, pod1b: netns1b });
  assert.ok(await interfaceIn(netns1b, 'eth0'));
  assert.equal(out(await call('DEL', 'pod1b', { netns: hostNetns })).code, 0);
  assert.deepEqual(vnodes.list().map((v) => v.pods), [[id]]);
  assert.equal(out(await call('DEL', id, { netns: hostNetns })).code, 0);
  assert.equal(out(await call('DEL', id)).code, 0, 'the second DEL comes without a netns');
  assert.deepEqual(vnodes.list(), [], 'the last pod gone takes its vNode');
  assert.equal(out(await call('CHECK', id, { netns: hostNetns })).code, 11, 'CHECK of a deleted pod: try again later');
});

test('a move that fails behind the answer fails the sandbox, lets go of the vNode and its netns', async () => {
  // Loopback exists, so ADD accepts it, but the kernel never moves it to another netns.
  const id = 'pod2';
  const add = out(await call('ADD', id, { netns: hostNetns, ifname: 'lo' }));
  assert.equal(add.code, 0);
  await assert.rejects(pods.beforeSandboxStart(id), /pod pod2: its network could not be set up/);
  assert.equal(out(await call('CHECK', id, { netns: hostNetns, ifname: 'lo' })).code, 11);
  assert.deepEqual(vnodes.list(), [], 'no vNode kept for a pod without tasks');
  assert.equal(out(await call('DEL', id, { netns: hostNetns })).code, 0);
  assert.ok(await interfaceIn(hostNetns, 'lo'));
});

test('bad input: a CNI error, nothing created', async () => {
  const missing = out(await call('ADD', 'pod3', { netns: hostNetns, ifname: 'eth7' }));
  assert.equal(missing.code, 4);
  assert.match(String(missing.json.msg), /no interface eth7/);
  const notJson = out(await call('ADD', 'pod3', { netns: hostNetns, stdin: '{' }));
  assert.equal(notJson.code, 4);
  assert.match(String(notJson.json.msg), /not JSON/);
  const unchained = out(await call('ADD', 'pod3', { netns: hostNetns, stdin: JSON.stringify({ ...conf(), prevResult: undefined }) }));
  assert.match(String(unchained.json.msg), /chained after the host network/);
  const noNetns = out(await call('ADD', 'pod3'));
  assert.equal(noNetns.code, 7);
  const badId = out(await call('ADD', '../x', { netns: hostNetns }));
  assert.equal(badId.code, 7);
  assert.deepEqual(vnodes.list(), []);
  const version = out(await call('VERSION', 'x'));
  assert.equal(version.code, 0);
  assert.ok((version.json.supportedVersions as string[]).includes('1.0.0'));
});
