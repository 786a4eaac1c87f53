// containerd-shim-vnode-v2 as containerd runs it: -v and -info; `delete` idempotent and fast;
// and a manager that dies under running vnode pods (containerd's `shim delete` then runs the
// launcher's fallback, which must clean up without it), restarted to serve again.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadProtos } from '../agent/proto/load.js';
import { e2eSkipReason } from './lib/e2eGate.js';
import { isAlive, mounts, waitFor } from './lib/hostState.js';
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
const taskProtos = () => loadProtos('ttrpc.proto', 'containerd/taskShim.proto');

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

test('delete after Delete is idempotent, fast, and answers a DeleteResponse', { skip, timeout: 60_000 }, async () => {
  const { podId, containerId } = await bed.runPod({ name: 'del', handler: 'vnode' });
  await bed.cri.stopContainer(containerId, 0);
  await bed.cri.removeContainer(containerId);
  const DeleteResponse = taskProtos().lookupType('containerd.task.v2.DeleteResponse');
  const args = ['-namespace', 'k8s.io', '-address', bed.socket, '-publish-binary', '/usr/bin/containerd', '-id', containerId, '-bundle', bundleOf(containerId), 'delete'];
  for (let i = 0; i < 2; i++) {
    const r = shim(args);
    assert.equal(r.status, 0, r.stderr);
    const d = DeleteResponse.toObject(DeleteResponse.decode(r.stdout)) as { exitStatus: number };
    assert.equal(d.exitStatus, 137, 'the killed container exit status');
    assert.ok(r.ms < 200, `delete took ${r.ms.toFixed(1)} ms`);
  }
  // An id nobody knows: still a valid answer, nothing to clean.
  const unknown = shim(['-namespace', 'k8s.io', '-address', bed.socket, '-id', 'nosuchtask', '-bundle', join(BASE, 'nosuch'), 'delete']);
  assert.equal(unknown.status, 0, unknown.stderr);
  DeleteResponse.decode(unknown.stdout);
  // Bad input is refused with a message, not acted on.
  const bad = shim(['-namespace', 'k8s.io', '-address', bed.socket, '-id', '../../etc', 'delete']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /invalid task id/);
  await bed.cri.stopPodSandbox(podId);
  await bed.cri.removePodSandbox(podId);
});

test('a manager killed under running pods: containerd cleans up through the fallback, a new manager serves', { skip, timeout: 120_000 }, async () => {
  const { podId, containerId } = await bed.runPod({ name: 'orphan', handler: 'vnode' });
  const pid = (JSON.parse((await bed.cri.containerStatus(containerId, true)).info.info!) as { pid: number }).pid;
  const rootfs = join(bundleOf(containerId), 'rootfs');
  const podShim = JSON.parse(readFileSync(join(manager.stateDir, 'shim/pods', `${podId}.json`), 'utf8')) as { pid: number };
  assert.ok(podShim.pid > 0 && isAlive(podShim.pid), 'the pod has its runc shim');
  assert.ok(mounts().some((m) => m.mountPoint === rootfs));
  await manager.stop('SIGKILL');
  // containerd loses the task connections and runs `shim delete`: with no manager the launcher
  // runs the JS fallback, which must kill the container and unmount its rootfs.
  const st = await waitFor(
    'the container to be seen as exited',
    async () => {
      const s = (await bed.cri.containerStatus(containerId)).status;
      return s.state === 'CONTAINER_EXITED' ? s : undefined;
    },
    20_000,
  );
  assert.ok([137, 255].includes(st.exitCode as number), `exit code ${String(st.exitCode)}`);
  await waitFor('the container process to be gone', () => !isAlive(pid), 10_000).catch((e: Error) => {
    throw new Error(`${e.message}\ncontainerd:\n${bed.tailLog(30)}`);
  });
  await waitFor('the rootfs to be unmounted', () => !mounts().some((m) => m.mountPoint === rootfs), 10_000);
  await bed.cri.stopPodSandbox(podId);
  await bed.cri.removePodSandbox(podId);

  // A new manager: drops what containerd already deleted, stops the orphaned runc shims, serves.
  await manager.start();
  await waitFor('the dead pod runc shim to exit', () => !isAlive(podShim.pid), 10_000);
  await waitFor('its directory and state to go', () => !existsSync(join(manager.runDir, 'pods', podId)) && !existsSync(join(manager.stateDir, 'shim/pods', `${podId}.json`)), 5_000);
  const again = await bed.runPod({ name: 'after', handler: 'vnode' });
  assert.equal((await bed.cri.execSync(again.containerId, ['echo', 'ok'])).stdout, 'ok\n');
  await bed.cri.stopPodSandbox(again.podId);
  await bed.cri.removePodSandbox(again.podId);
});
