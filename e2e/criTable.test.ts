// Every CRI request runc accepts, vnode accepts: the same pod and container configs, from a bare
// client's (no namespace, uid, annotations, labels, log directory, DNS, resources or security
// context, as crictl can send) to a kubelet-like one with everything set, run through both
// handlers of one containerd, with the same outcome step by step (run, create, start, exec and
// its exit code, a container's own exit code, stop, remove), and nothing of a vnode pod left
// afterwards (vNode reference, netns, mounts, state).
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { CriMessage } from '../installer/cri/CriClient.js';
import { cniVersionResult } from '../agent/cni/cniResult.js';
import { e2eSkipReason } from './lib/e2eGate.js';
import { mounts, waitFor } from './lib/hostState.js';
import { TREE_DIR, type TestBed } from './lib/TestBed.js';
import { startVNodeBed, type VNodeBed } from './lib/vnodeBed.js';

const skip = e2eSkipReason();
const BASE = '/run/vnt-critable';
let vb: VNodeBed;
let bed: TestBed;

before(async () => {
  if (skip) return;
  // The admin's shared vNode for two namespaces (what the chart's sharing values pass on).
  vb = await startVNodeBed({ name: 'critable', subnetIndex: 42, baseDir: BASE, managerEnv: { VNODE_SHARED_VNODES: JSON.stringify({ 'crit-shared': ['crit-sa', 'crit-sb'] }) } });
  bed = vb.bed;
});
after(async () => {
  if (vb) assert.deepEqual(await vb.teardown(), [], 'nothing left behind');
});

interface Case {
  /** Why the case is in the table. */
  what: string;
  pod(handler: string): CriMessage;
  container(pod: CriMessage): CriMessage;
}

const sleeper = { command: ['sleep', '3600'] };
let seq = 0;

const CASES: Case[] = [
  {
    what: 'bare: only a pod name (no namespace, uid, labels, annotations, log directory, linux)',
    pod: (h) => ({ metadata: { name: `bare-${h}-${++seq}` } }),
    container: () => ({ metadata: { name: 'c' }, image: { image: bed.images.busybox.name }, ...sleeper }),
  },
  {
    what: "crictl's sample pod: namespace default, a uid, attempt 1, an empty linux section",
    pod: (h) => ({ metadata: { name: `crictl-${h}-${++seq}`, namespace: 'default', uid: `crictl-uid-${h}-${seq}`, attempt: 1 }, logDirectory: join(BASE, 'logs', `crictl-${h}-${seq}`), linux: {} }),
    container: () => ({ metadata: { name: 'c' }, image: { image: bed.images.busybox.name }, ...sleeper, logPath: 'c.log', linux: {} }),
  },
  {
    what: 'every optional field present but empty',
    pod: (h) => ({
      metadata: { name: `empty-${h}-${++seq}`, namespace: '', uid: '', attempt: 0 },
      hostname: '',
      logDirectory: '',
      dnsConfig: { servers: [], searches: [], options: [] },
      portMappings: [],
      labels: {},
      annotations: {},
      linux: { cgroupParent: '', sysctls: {}, securityContext: { namespaceOptions: {}, supplementalGroups: [] } },
    }),
    container: () => ({
      metadata: { name: 'c', attempt: 0 },
      image: { image: bed.images.busybox.name },
      ...sleeper,
      args: [],
      workingDir: '',
      envs: [],
      mounts: [],
      devices: [],
      labels: {},
      annotations: {},
      logPath: '',
      linux: { resources: {}, securityContext: { capabilities: {}, namespaceOptions: {}, maskedPaths: [], readonlyPaths: [] } },
    }),
  },
  {
    what: 'kubelet-like, everything set: DNS, ports, sysctls, run_as_user/group, groups, RuntimeDefault seccomp, resources, a hostPath mount, env, working dir',
    pod: (h) => {
      const b = bed.podConfig({ name: `full-${h}-${++seq}`, namespace: 'crit-full', annotations: { 'example.com/note': 'x' }, labels: { app: 'full' } });
      const c = b.build();
      mkdirSync(c.logDirectory as string, { recursive: true });
      const linux = c.linux as { securityContext: CriMessage };
      return {
        ...c,
        portMappings: [{ protocol: 'TCP', containerPort: 8080 }],
        linux: {
          ...linux,
          sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' },
          securityContext: { ...linux.securityContext, runAsUser: { value: 1000 }, runAsGroup: { value: 1000 }, supplementalGroups: [2000], seccomp: { profileType: 'RuntimeDefault' } },
        },
      };
    },
    container: () => {
      const data = join(BASE, 'data');
      mkdirSync(data, { recursive: true });
      writeFileSync(join(data, 'hello'), 'hi\n');
      const c = bed.containerConfig({
        name: 'c',
        ...sleeper,
        env: { GREETING: 'hello' },
        mounts: [{ containerPath: '/data', hostPath: data, readonly: true }],
        workingDir: '/tmp',
        runAsUser: 1000,
        memoryLimitBytes: 64 << 20,
        cpuQuota: 50_000,
      });
      const linux = c.linux as { securityContext: CriMessage };
      return { ...c, linux: { ...linux, securityContext: { ...linux.securityContext, runAsGroup: { value: 1000 }, supplementalGroups: [3000], seccomp: { profileType: 'RuntimeDefault' } } } };
    },
  },
  {
    what: 'privileged with host network, pid and ipc, and no annotations at all',
    pod: (h) => ({
      metadata: { name: `host-${h}-${++seq}`, namespace: 'crit-host', uid: `host-${h}-${seq}` },
      linux: { securityContext: { privileged: true, namespaceOptions: { network: 'NODE', pid: 'NODE', ipc: 'NODE' } } },
    }),
    container: () => ({
      metadata: { name: 'c' },
      image: { image: bed.images.busybox.name },
      ...sleeper,
      linux: { securityContext: { privileged: true, namespaceOptions: { network: 'NODE', pid: 'NODE', ipc: 'NODE' } } },
    }),
  },
];

/** One step's outcome: "ok", a value, or "error" (the message is kept for the diagnostics). */
type Transcript = Array<[string, string]>;

async function lifecycle(c: Case, handler: string, errors: string[]): Promise<{ transcript: Transcript; podId?: string }> {
  const t: Transcript = [];
  const step = async <T>(name: string, f: () => Promise<T>, show: (v: T) => string = () => 'ok'): Promise<T | undefined> => {
    try {
      const v = await f();
      t.push([name, show(v)]);
      return v;
    } catch (e) {
      t.push([name, 'error']);
      errors.push(`${handler} ${name}: ${(e as Error).message}`);
      return undefined;
    }
  };
  const pod = c.pod(handler);
  const podId = await step('RunPodSandbox', () => bed.cri.runPodSandbox(pod, handler));
  if (!podId) return { transcript: t };
  const id = await step('CreateContainer', () => bed.cri.createContainer(podId, c.container(pod), pod));
  if (id) {
    await step('StartContainer', () => bed.cri.startContainer(id));
    await step('ExecSync id', () => bed.cri.execSync(id, ['sh', '-c', 'id -u; id -g; echo "$GREETING"; cat /data/hello 2>/dev/null; true']), (r) => `${r.exitCode}:${r.stdout}`);
    await step('ExecSync exit 3', () => bed.cri.execSync(id, ['sh', '-c', 'exit 3']), (r) => String(r.exitCode));
    await step('StopContainer', () => bed.cri.stopContainer(id, 1));
    await step('ContainerStatus', () => bed.cri.containerStatus(id), (s) => String(s.status.state));
    await step('RemoveContainer', () => bed.cri.removeContainer(id));
  }
  // A container that exits by itself, with its own code.
  const quitter = await step('CreateContainer exit 7', () => bed.cri.createContainer(podId, { ...c.container(pod), metadata: { name: 'q' }, command: ['sh', '-c', 'exit 7'] }, pod));
  if (quitter) {
    await step('StartContainer exit 7', () => bed.cri.startContainer(quitter));
    await step(
      'exit code',
      () => waitFor('the container to exit', async () => {
        const s = (await bed.cri.containerStatus(quitter)).status;
        return s.state === 'CONTAINER_EXITED' ? s : undefined;
      }, 20_000),
      (s) => String(s.exitCode),
    );
  }
  await step('StopPodSandbox', () => bed.cri.stopPodSandbox(podId));
  await step('RemovePodSandbox', () => bed.cri.removePodSandbox(podId));
  return { transcript: t, podId };
}

/** What a vnode pod could leave behind: its vNode reference, netns, mounts, records. */
function leftOf(podId: string): string[] {
  const left: string[] = [];
  const vdir = join(vb.manager.stateDir, 'vnodes');
  for (const f of existsSync(vdir) ? readdirSync(vdir).filter((x) => x.endsWith('.json')) : []) {
    const v = JSON.parse(readFileSync(join(vdir, f), 'utf8')) as { name: string; pods: string[]; netns: Record<string, string> };
    if (v.pods.includes(podId)) left.push(`pod in vNode ${v.name}`);
    if (v.netns[podId]) left.push(`netns record in vNode ${v.name}`);
  }
  for (const m of mounts()) if (m.mountPoint.includes(podId)) left.push(`mount ${m.mountPoint}`);
  for (const d of ['shim/tasks', 'shim/pods']) {
    const dir = join(vb.manager.stateDir, d);
    for (const f of existsSync(dir) ? readdirSync(dir) : []) {
      const rec = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { podId?: string };
      if (rec.podId === podId) left.push(`record ${d}/${f}`);
    }
  }
  return left;
}

describe('the same CRI requests through runc and vnode', { skip }, () => {
  afterEach(async () => {
    await bed.removeAllPods();
  });

  for (const c of CASES) {
    test(c.what, { timeout: 120_000 }, async (t) => {
      const errors: string[] = [];
      const runc = await lifecycle(c, 'runc', errors);
      const vnode = await lifecycle(c, 'vnode', errors);
      if (errors.length) t.diagnostic(errors.join('\n'));
      // runc accepts every case of this table; a case both handlers fail would prove nothing.
      assert.deepEqual(runc.transcript.filter(([, v]) => v === 'error'), [], `runc accepts it: ${errors.join('; ')}`);
      assert.deepEqual(vnode.transcript, runc.transcript, 'vnode answers every step as runc does');
      assert.ok(vnode.podId);
      assert.deepEqual(leftOf(vnode.podId), [], 'nothing of the vnode pod is left');
      if (errors.length) t.diagnostic(`manager log:\n${vb.manager.tail(30)}`);
    });
  }
});

interface VNodeRecordOnDisk {
  name: string;
  key: string;
  pods: string[];
  netns: Record<string, string>;
}
function vnodeRecords(): VNodeRecordOnDisk[] {
  const vdir = join(vb.manager.stateDir, 'vnodes');
  return (existsSync(vdir) ? readdirSync(vdir).filter((x) => x.endsWith('.json')) : []).map((f) => JSON.parse(readFileSync(join(vdir, f), 'utf8')) as VNodeRecordOnDisk);
}
const netnsMounts = () => mounts().filter((m) => m.mountPoint.startsWith(join(bed.state, 'netns'))).map((m) => m.mountPoint);

describe('who decides, and what stays removable', { skip }, () => {
  afterEach(async () => {
    await bed.removeAllPods();
  });

  test("shared vNodes only by the admin's consent: allowed namespaces share, a pod naming another's vNode fails RunPodSandbox and leaves nothing", { timeout: 120_000 }, async () => {
    const uidMap = async (id: string) => (await bed.cri.execSync(id, ['cat', '/proc/self/uid_map'])).stdout.trim();
    const ask = { 'vnode.loft.sh/name': 'crit-shared' };
    const a = await bed.runPod({ name: 'sa', namespace: 'crit-sa', handler: 'vnode' });
    const b = await bed.runPod({ name: 'sb', namespace: 'crit-sb', handler: 'vnode', annotations: ask });
    assert.equal(await uidMap(a.containerId), await uidMap(b.containerId), 'the two namespaces the admin named share one vNode');
    assert.deepEqual(vnodeRecords().map((v) => v.key), ['shared:crit-shared']);
    const netnsBefore = netnsMounts();

    // A tenant naming the shared vNode from a namespace the admin did not put in it: refused by
    // vnode-cni for a pod-network pod, by the sandbox's Create for a hostNetwork one.
    await assert.rejects(bed.runPod({ name: 'intruder', namespace: 'crit-other', handler: 'vnode', annotations: ask }), /namespace "crit-other" may not join it: only the cluster admin decides/);
    const hp = bed.podConfig({ name: 'intruder-host', namespace: 'crit-other', hostNetwork: true, annotations: ask });
    const hostConfig = hp.build();
    mkdirSync(hostConfig.logDirectory as string, { recursive: true });
    await assert.rejects(bed.cri.runPodSandbox(hostConfig, 'vnode'), /may not join it/);
    // Nothing was made for them: no vNode, no reference, no netns; the shared one holds its two pods.
    const recs = vnodeRecords();
    assert.deepEqual(recs.map((v) => [v.key, [...v.pods].sort()]), [['shared:crit-shared', [a.podId, b.podId].sort()]]);
    assert.deepEqual(netnsMounts(), netnsBefore);
    const ready = (await bed.cri.listPodSandboxes()).filter((p) => (p.metadata as { namespace?: string }).namespace === 'crit-other' && p.state === 'SANDBOX_READY');
    assert.deepEqual(ready, []);
  });

  test('a pod the previous release left stuck (its CNI DEL failing) is removable after an upgrade', { timeout: 120_000 }, async (t) => {
    // The previous release's vnode-cni: ADD and DEL fail on a bare pod's null annotations.
    const link = join(bed.cniBinDir, 'vnode-cni');
    const old = join(BASE, 'old-vnode-cni');
    writeFileSync(
      old,
      `#!/bin/sh
cat >/dev/null
if [ "$CNI_COMMAND" = VERSION ]; then echo '${cniVersionResult().trim()}'; exit 0; fi
echo '{"cniVersion":"1.0.0","code":4,"msg":"invalid network configuration","details":"runtimeConfig.io.kubernetes.cri.pod-annotations: Expected object, received null"}'
exit 1
`,
    );
    chmodSync(old, 0o755);
    const upgrade = () => {
      rmSync(link, { force: true });
      symlinkSync(join(TREE_DIR, 'bin/vnode-cni'), link);
    };
    rmSync(link, { force: true });
    symlinkSync(old, link);
    t.after(upgrade);
    const netnsBefore = netnsMounts();
    const name = `stuck-${++seq}`;
    await assert.rejects(bed.cri.runPodSandbox({ metadata: { name } }, 'vnode'), /Expected object, received null/);
    const stuck = (await bed.cri.listPodSandboxes()).filter((p) => (p.metadata as { name?: string }).name === name);
    t.diagnostic(`containerd kept ${stuck.length} sandbox(es) of the failed pod; netns mounts ${netnsMounts().length - netnsBefore.length} more`);
    for (const p of stuck) await assert.rejects(bed.cri.stopPodSandbox(p.id as string), /received null/, 'stuck under the old release');

    upgrade();
    for (const p of stuck) {
      await bed.cri.stopPodSandbox(p.id as string);
      await bed.cri.removePodSandbox(p.id as string);
      assert.deepEqual(leftOf(p.id as string), []);
    }
    assert.deepEqual((await bed.cri.listPodSandboxes()).filter((p) => (p.metadata as { name?: string }).name === name), []);
    assert.deepEqual(netnsMounts(), netnsBefore, 'its netns is gone');
    // And the same bare pod now runs.
    const id = await bed.cri.runPodSandbox({ metadata: { name: `${name}-after` } }, 'vnode');
    await bed.cri.stopPodSandbox(id);
    await bed.cri.removePodSandbox(id);
    assert.deepEqual(leftOf(id), []);
  });
});
