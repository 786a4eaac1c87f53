// The baseline every vNode test compares with: a pod through the plain runc handler.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { e2eSkipReason } from './lib/e2eGate.js';
import { waitFor } from './lib/hostState.js';
import { TestBed } from './lib/TestBed.js';

const skip = e2eSkipReason();
let bed: TestBed;

before(async () => {
  if (!skip) bed = await TestBed.start({ name: 'runc', subnetIndex: 1 });
});
after(async () => {
  if (bed) {
    await bed.teardown();
    assert.deepEqual(bed.leftovers(), [], 'the test bed left nothing behind');
  }
});

test('a runc pod runs busybox, execs, and leaves nothing after stop/remove', { skip, timeout: 120_000 }, async () => {
  const { podId, containerId } = await bed.runPod({ name: 'baseline', handler: 'runc' });

  const hello = await bed.cri.execSync(containerId, ['echo', 'hello']);
  assert.deepEqual(hello, { stdout: 'hello\n', stderr: '', exitCode: 0 });
  const fail = await bed.cri.execSync(containerId, ['sh', '-c', 'echo oops >&2; exit 3']);
  assert.equal(fail.exitCode, 3);
  assert.equal(fail.stderr, 'oops\n');

  // The pod has its own network: an address from the bed's subnet, and the gateway answers.
  const st = await bed.cri.podSandboxStatus(podId, true);
  assert.equal(st.status.state, 'SANDBOX_READY');
  const ip = (st.status.network as { ip: string }).ip;
  assert.ok(ip.startsWith(bed.gateway.replace(/\.1$/, '.')), `pod ip ${ip} in ${bed.subnet}`);
  const ping = await bed.cri.execSync(containerId, ['ping', '-c', '1', '-W', '2', bed.gateway]);
  assert.equal(ping.exitCode, 0, ping.stdout + ping.stderr);
  const info = JSON.parse(st.info.info!) as { pid: number; runtimeSpec: { linux: { namespaces: { type: string; path?: string }[] } } };
  const netns = info.runtimeSpec.linux.namespaces.find((n) => n.type === 'network')!.path!;
  assert.ok(netns.startsWith(bed.state), `netns ${netns} lives under the bed's state dir`);
  assert.ok(existsSync(netns));

  // Logs reach containerd's log path.
  const c = await bed.cri.containerStatus(containerId);
  assert.equal(c.status.state, 'CONTAINER_RUNNING');

  await bed.cri.stopPodSandbox(podId);
  const stopped = await bed.cri.containerStatus(containerId);
  assert.equal(stopped.status.state, 'CONTAINER_EXITED');
  await bed.cri.removePodSandbox(podId);
  assert.deepEqual(await bed.cri.listPodSandboxes(), []);
  await waitFor('netns removal', () => !existsSync(netns), 5000);
  // No container process of the pod survives (the sandbox pid is gone).
  assert.throws(() => process.kill(info.pid, 0));
});
