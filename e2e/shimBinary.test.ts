// containerd-shim-vnode-v2 as containerd runs it: -v and -info; start and delete as the stock runc
// shim with vnode-runc as its runc (so containerd's task connections never touch the manager);
// and a manager that dies under running vnode pods: they keep running, and a new one takes them up.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadProtos } from '../agent/proto/load.js';
import { e2eSkipReason } from './lib/e2eGate.js';
import { isAlive, processes } from './lib/hostState.js';
import type { ManagerProcess } from './lib/ManagerProcess.js';
import { startVNodeBed, type VNodeBed } from './lib/vnodeBed.js';
import { TestBed, TREE_DIR } from './lib/TestBed.js';

const skip = e2eSkipReason();
const BASE = '/run/vnt-shimbin';
const SHIM = join(TREE_DIR, 'bin/containerd-shim-vnode-v2');
let bed: TestBed;
let manager: ManagerProcess;
let vb: VNodeBed;

before(async () => {
  if (skip) return;
  vb = await startVNodeBed({ name: 'shimbin', subnetIndex: 3, baseDir: BASE });
  bed = vb.bed;
  manager = vb.manager;
});

after(async () => {
  if (!vb) return;
  assert.deepEqual(await vb.teardown(), [], 'nothing left behind');
});


function shim(args: string[], opts: { cwd?: string; input?: Buffer; env?: Record<string, string> } = {}) {
  const t0 = performance.now();
  const r = spawnSync(SHIM, args, { cwd: opts.cwd ?? '/', input: opts.input ?? Buffer.alloc(0), env: { PATH: process.env.PATH, ...manager.clientEnv, ...opts.env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString(), ms: performance.now() - t0 };
}

const bundleOf = (id: string): string => join(bed.state, 'io.containerd.runtime.v2.task/k8s.io', id);

test('-v and -info answer with and without a manager', { skip }, () => {
  const info = loadProtos('containerd/introspection.proto').lookupType('containerd.types.RuntimeInfo');
  for (const env of [{}, { VNODE_RUN_DIR: join(BASE, 'no-manager') }] as Record<string, string>[]) {
    const v = shim(['-v'], { env });
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout.toString(), /containerd-shim-vnode-v2:\n {2}Version: /);
    const i = shim(['-info'], { env });
    assert.equal(i.status, 0, i.stderr);
    const decoded = info.toObject(info.decode(i.stdout)) as { name: string; features?: { type_url: string; value: Buffer } };
    assert.equal(decoded.name, 'io.containerd.vnode.v2');
    assert.match(decoded.features!.type_url, /runtime-spec\/1\/features\/Features$/);
    assert.ok(JSON.parse(Buffer.from(decoded.features!.value).toString()).ociVersionMin, 'runc features JSON');
  }
});

test('start and delete are the stock runc shim\'s, with vnode-runc as its runc: containerd talks to the pod\'s runc shim', { skip, timeout: 60_000 }, async () => {
  const { podId, containerId } = await bed.runPod({ name: 'direct', handler: 'vnode' });
  const bundle = bundleOf(podId);
  const address = readFileSync(join(bundle, 'address'), 'utf8').trim();
  assert.match(address, /^unix:\/\/\/run\/containerd\/s\/[0-9a-f]{64}$/, 'the runc shim wrote its own socket as the bundle\'s address');
  assert.equal(readFileSync(join(bundleOf(containerId), 'address'), 'utf8').trim(), address, 'one runc shim per pod (grouped by the sandbox id)');
  const shims = processes().filter((x) => x.cmdline.startsWith(join(TREE_DIR, 'bin/containerd-shim-runc-v2')) && x.cmdline.includes(` -id ${podId} `));
  assert.equal(shims.length, 1, `the pod's runc shim daemon: ${shims.map((x) => x.cmdline).join('; ')}`);
  const env = readFileSync(`/proc/${shims[0]!.pid}/environ`, 'utf8').split('\0');
  assert.ok(env.includes(`PATH=${join(TREE_DIR, 'lib/runc-path')}:${process.env.PATH}`) || env.some((e) => e.startsWith(`PATH=${join(TREE_DIR, 'lib/runc-path')}:`)), 'its runc is vnode-runc');
  assert.ok(env.includes('VNODE_RUNC_HOOKED=,create,start,delete,'));
  // The manager knows the pod's containers from vnode-runc's create hook.
  const recorded = readdirSync(join(manager.stateDir, 'containers')).sort();
  assert.deepEqual(recorded, [`${containerId}.json`, `${podId}.json`].sort());
  await bed.cri.stopPodSandbox(podId);
  await bed.cri.removePodSandbox(podId);
  assert.deepEqual(readdirSync(join(manager.stateDir, 'containers')), [], 'runc delete (the hook) let them go');
  // `delete` of an id nobody knows answers as the runc handler's shim does.
  const args = (sh: string) => [sh, ['-namespace', 'k8s.io', '-address', bed.socket, '-publish-binary', '/usr/bin/containerd', '-id', 'nosuchtask', 'delete']] as const;
  const dir = join(BASE, 'nosuch');
  mkdirSync(dir, { recursive: true });
  const ours = spawnSync(...args(SHIM), { cwd: dir, env: { PATH: process.env.PATH, ...manager.clientEnv } });
  const peer = spawnSync(...args(join(TREE_DIR, 'bin/containerd-shim-runc-v2')), { cwd: dir, env: { PATH: process.env.PATH } });
  assert.equal(ours.status, peer.status, `${ours.stderr}\n${peer.stderr}`);
  rmSync(dir, { recursive: true, force: true });
});

test('a manager killed under running pods: they keep running, exec and stop; a new manager takes them up', { skip, timeout: 120_000 }, async () => {
  const a = await bed.runPod({ name: 'keep-a', handler: 'vnode' });
  const b = await bed.runPod({ name: 'keep-b', handler: 'vnode' });
  const pid = (JSON.parse((await bed.cri.containerStatus(a.containerId, true)).info.info!) as { pid: number }).pid;
  await manager.stop('SIGKILL');
  // containerd never notices: its task connections are the runc shims'.
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(isAlive(pid), 'the container process outlives the manager');
  assert.equal((await bed.cri.containerStatus(a.containerId)).status.state, 'CONTAINER_RUNNING');
  // An exec while no manager runs: runc hands its seccomp listener to the kept socket's backlog.
  assert.deepEqual(await bed.cri.execSync(a.containerId, ['echo', 'no manager']), { stdout: 'no manager\n', stderr: '', exitCode: 0 });
  // Stopping a container needs no manager (its delete hook waits briefly, then runc deletes alone).
  await bed.cri.stopContainer(b.containerId, 0);
  await manager.start();
  // Running containers are taken up; the one deleted meanwhile leaves on reconcile.
  assert.deepEqual(await bed.cri.execSync(a.containerId, ['cat', '/proc/self/uid_map']).then((r) => r.exitCode), 0);
  assert.equal((await bed.cri.containerStatus(a.containerId)).status.state, 'CONTAINER_RUNNING');
  for (const p of [a, b]) {
    await bed.cri.stopPodSandbox(p.podId);
    await bed.cri.removePodSandbox(p.podId);
  }
  assert.deepEqual(readdirSync(join(manager.stateDir, 'containers')), []);
  const again = await bed.runPod({ name: 'after', handler: 'vnode' });
  assert.equal((await bed.cri.execSync(again.containerId, ['echo', 'ok'])).stdout, 'ok\n');
  await bed.cri.stopPodSandbox(again.podId);
  await bed.cri.removePodSandbox(again.podId);
});
