// A vNode is a node for its tenant's node agents (issue 13, part 2): a log agent's hostPath of
// kubelet's pod log root shows exactly its vNode's pods, readable by the vNode's root, never
// writable, with no name of another tenant's pod; pods that start or go appear and vanish under a
// running agent; a hostPath of a parent dir shows the same view at the root's place below it.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { mountPointsUnder } from '../agent/common/mountinfo.js';
import { e2eSkipReason } from './lib/e2eGate.js';
import { mounts, waitFor } from './lib/hostState.js';
import type { TestBed } from './lib/TestBed.js';
import { startVNodeBed, type VNodeBed } from './lib/vnodeBed.js';

const skip = e2eSkipReason();
const BASE = '/run/vnt-nodeview';
let vb: VNodeBed;
let bed: TestBed;

before(async () => {
  if (skip) return;
  vb = await startVNodeBed({ name: 'nodeview', subnetIndex: 75, baseDir: BASE, managerEnv: { VNODE_POD_LOG_ROOT: join(BASE, 'logs'), VNODE_CONTAINER_LOG_DIR: join(BASE, 'containers') } });
  mkdirSync(join(BASE, 'containers'), { recursive: true });
  bed = vb.bed;
});

after(async () => {
  if (!vb) return;
  assert.deepEqual(await vb.teardown(), [], 'nothing left behind');
});

const logDirOf = (p: { podConfig: Record<string, unknown> }): string => p.podConfig.logDirectory as string;
const sh = async (id: string, script: string): Promise<{ stdout: string; exitCode: number; stderr: string }> => bed.cri.execSync(id, ['sh', '-c', script]);

test('a hostPath of the pod log root shows the vNode\'s pods only: readable, read-only, live', { skip, timeout: 180_000 }, async () => {
  const root = join(BASE, 'logs');
  assert.equal(bed.logDir, root);
  const say = (what: string) => ({ name: 'main', command: ['sh', '-c', `echo ${what}; exec sleep 3600`] });
  const agent = await bed.runPod({ name: 'agent', namespace: 'view-a', handler: 'vnode' }, { name: 'main', command: ['sleep', '3600'], mounts: [{ containerPath: '/var/log/pods', hostPath: root }] });
  const parent = await bed.runPod({ name: 'agent-parent', namespace: 'view-a', handler: 'vnode' }, { name: 'main', command: ['sleep', '3600'], mounts: [{ containerPath: '/host', hostPath: dirname(root) }] });
  const b = await bed.runPod({ name: 'worker-b', namespace: 'view-a', handler: 'vnode' }, say('hello-from-b'));
  const c = await bed.runPod({ name: 'other-c', namespace: 'view-b', handler: 'vnode' }, say('secret-of-c'));
  const runcPod = await bed.runPod({ name: 'plain', namespace: 'view-a', handler: 'runc' }, say('runc-pod'));
  // A log shipper as deployed on nodes: both directories at the host's paths, so kubelet's links
  // in /var/log/containers resolve to the files under /var/log/pods.
  const links = join(BASE, 'containers');
  const shipper = await bed.runPod({ name: 'shipper', namespace: 'view-a', handler: 'vnode' }, { name: 'main', command: ['sleep', '3600'], mounts: [{ containerPath: root, hostPath: root }, { containerPath: links, hostPath: links }] });
  const linkOf = (p: { containerId: string; podConfig: Record<string, unknown> }): string => `${(p.podConfig.metadata as { name: string }).name}_view-a_main-${p.containerId}.log`;
  const ls = async (id: string, dir = '/var/log/pods'): Promise<string[]> => (await sh(id, `ls -1 ${dir}`)).stdout.split('\n').filter(Boolean).sort();
  const mine = [agent, parent, b, shipper].map((p) => basename(logDirOf(p))).sort();
  try {
    await waitFor('b to have logged', async () => /hello-from-b/.test((await sh(agent.containerId, `cat /var/log/pods/${basename(logDirOf(b))}/main/0.log`)).stdout) || undefined, 10_000, 200);
    assert.deepEqual(await ls(agent.containerId), mine, "exactly its vNode's pods: no other tenant's, no runc pod's");
    assert.deepEqual(await ls(parent.containerId, `/host/${basename(root)}`), mine, 'the same view below a hostPath of a parent');
    const st = await sh(agent.containerId, `stat -c '%u %g' /var/log/pods/${basename(logDirOf(b))}/main/0.log`);
    assert.equal(st.stdout.trim(), '0 0', "the logs are the vNode root's to read (idmapped), as on a node");
    const w = await sh(agent.containerId, `echo x > /var/log/pods/${basename(logDirOf(b))}/main/0.log; touch /var/log/pods/new; mkdir /var/log/pods/${basename(logDirOf(c))}`);
    assert.notEqual(w.exitCode, 0);
    assert.match(w.stderr, /Read-only file system/);
    assert.equal((await sh(agent.containerId, 'grep -r secret-of-c /var/log/pods; echo $?')).stdout.trim(), '1', 'no content of another tenant');
    // /var/log/containers: kubelet's link of each container of the vNode, and only those.
    assert.deepEqual(await ls(shipper.containerId, links), [agent, parent, b, shipper].map(linkOf).sort(), "exactly its vNode's containers' links");
    assert.deepEqual(await ls(parent.containerId, `/host/${basename(links)}`), [agent, parent, b, shipper].map(linkOf).sort(), 'the same below a hostPath of a parent');
    assert.match((await sh(shipper.containerId, `cat ${links}/${linkOf(b)}`)).stdout, /hello-from-b/, "a link leads to the container's log");
    const wl = await sh(shipper.containerId, `touch ${links}/x.log`);
    assert.match(wl.stderr, /Read-only file system/);

    // A pod that starts and one that goes while the agent runs.
    const d = await bed.runPod({ name: 'late-d', namespace: 'view-a', handler: 'vnode' }, say('late'));
    assert.deepEqual(await ls(agent.containerId), [...mine, basename(logDirOf(d))].sort(), 'a new pod appears without restarting the agent');
    assert.ok((await ls(shipper.containerId, links)).includes(linkOf(d)), "and its container's link");
    await bed.cri.stopPodSandbox(b.podId);
    await bed.cri.removePodSandbox(b.podId);
    assert.deepEqual(await ls(agent.containerId), [basename(logDirOf(agent)), basename(logDirOf(parent)), basename(logDirOf(shipper)), basename(logDirOf(d))].sort(), 'a removed pod vanishes');
    assert.ok(!(await ls(shipper.containerId, links)).includes(linkOf(b)), "and its container's link");
    await bed.cri.stopPodSandbox(d.podId);
    await bed.cri.removePodSandbox(d.podId);
  } finally {
    for (const p of [agent, parent, b, c, runcPod, shipper]) {
      await bed.cri.stopPodSandbox(p.podId).catch(() => undefined);
      await bed.cri.removePodSandbox(p.podId).catch(() => undefined);
    }
  }
  assert.deepEqual(mountPointsUnder(join(vb.manager.runDir, 'logviews'), mounts()), [], "the vNodes' views went with them");
});

// Issue 13, part 1: every pod of a vNode lives in a pid namespace nested in the vNode's (the
// tree's runc, runc/vnode-pidns.patch), so a hostPID pod sees every pod of its vNode as on a node,
// an ordinary pod still only itself with its process as pid 1, and nothing of another vNode, a
// runc pod or the host. Exit and OOM reporting through the runc shim: e2e/shimParity.test.ts
// (the same table as runc's).
test('a hostPID pod sees the processes of every pod of its vNode and of no other; an ordinary pod sees itself, its process pid 1', { skip, timeout: 180_000 }, async () => {
  const sleeper = (n: number) => ({ name: 'main', command: ['sleep', String(n)] });
  const agent = await bed.runPod({ name: 'ps-agent', namespace: 'pids-a', handler: 'vnode', hostPID: true, privileged: true }, { name: 'main', command: ['sleep', '3600'], privileged: true, namespaceOptions: { network: 'POD', pid: 'NODE', ipc: 'POD' } });
  const mine = await bed.runPod({ name: 'worker', namespace: 'pids-a', handler: 'vnode' }, sleeper(3601));
  const other = await bed.runPod({ name: 'other-tenant', namespace: 'pids-b', handler: 'vnode' }, sleeper(3602));
  const runcPod = await bed.runPod({ name: 'plain', namespace: 'pids-a', handler: 'runc' }, sleeper(3603));
  const hostPidOf = async (id: string): Promise<number> => (JSON.parse((await bed.cri.containerStatus(id, true)).info.info!) as { pid: number }).pid;
  const nsPids = (p: number): string[] => (/^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? '').trim().split(/\s+/);
  try {
    const seen = (await sh(agent.containerId, 'ps -o args')).stdout;
    assert.match(seen, /sleep 3601/, "the hostPID pod sees its vNode's ordinary pod");
    assert.match(seen, /\/pause/, "and the pods' sandboxes, as on a node");
    assert.doesNotMatch(seen, /sleep 3602|sleep 3603|containerd|vnode-manager/, 'nothing of another vNode, a runc pod or the host');
    // Root of the vNode may signal its vNode's pods, as root of a node may.
    const pid = (await sh(agent.containerId, "ps -o pid,args | grep 'sleep 360[1]' | awk '{print $1}'")).stdout.trim();
    assert.match(pid, /^\d+$/);
    assert.equal((await sh(agent.containerId, `kill -0 ${pid} && echo ok`)).stdout.trim(), 'ok');
    // The ordinary pod: its own process is pid 1 and it sees nothing else.
    assert.equal((await sh(mine.containerId, 'cat /proc/1/cmdline | tr "\\0" " "')).stdout.trim(), 'sleep 3601');
    assert.deepEqual((await sh(mine.containerId, 'ps -o args')).stdout.split('\n').filter((l) => /sleep|pause/.test(l)), ['sleep 3601'], 'an ordinary pod sees only itself');
    // On the host: three pid levels (host, vNode, its own), the vNode level the one the agent saw.
    const levels = nsPids(await hostPidOf(mine.containerId));
    assert.deepEqual(levels.slice(1), [pid, '1'], 'host, vNode, container');
    assert.equal(nsPids(await hostPidOf(runcPod.containerId)).length, 2, 'a runc pod: host and its own');
  } finally {
    for (const p of [agent, mine, other, runcPod]) {
      await bed.cri.stopPodSandbox(p.podId).catch(() => undefined);
      await bed.cri.removePodSandbox(p.podId).catch(() => undefined);
    }
  }
});
