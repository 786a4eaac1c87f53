// The operator's view of a node with a vNode pod: `vnode status`, `ls`, `inspect` and `doctor`
// (the built CLI, human and --json) against the bed's manager, and a scrape of its /metrics
// showing the families and counters that move: a /proc read in the pod raises the vnodefs
// request counter, an intercepted syscall (sysinfo, through `free`) the syscall counter.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { e2eSkipReason } from './lib/e2eGate.js';
import { run } from './lib/hostState.js';
import { TREE_DIR, type TestBed } from './lib/TestBed.js';
import { startVNodeBed, type VNodeBed } from './lib/vnodeBed.js';

const skip = e2eSkipReason();
const BASE = '/run/vnt-ops';
let vb: VNodeBed;
let bed: TestBed;

before(async () => {
  if (skip) return;
  vb = await startVNodeBed({ name: 'ops', subnetIndex: 43, baseDir: BASE });
  bed = vb.bed;
});
after(async () => {
  if (vb) assert.deepEqual(await vb.teardown(), [], 'nothing left behind');
});

async function vnode(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run(join(TREE_DIR, 'bin/vnode'), args, { env: { PATH: process.env.PATH, VNODE_RUN_DIR: vb.manager.runDir, VNODE_CNI_CONF_DIR: join(BASE, 'cni/vnode.d'), VNODE_CNI_BIN_DIR: bed.cniBinDir } });
}
async function json<T>(args: string[]): Promise<T> {
  const r = await vnode([...args, '--json']);
  assert.equal(r.code, 0, `vnode ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** One sample's value from Prometheus text: name{labels} value, labels given in any order. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
      sum += Number(m[3]);
      found = true;
    }
  }
  assert.ok(found, `no sample ${name}${JSON.stringify(labels)}`);
  return sum;
}

test('vnode status, ls, inspect, doctor and /metrics against a manager running a vNode pod', { skip, timeout: 180_000 }, async () => {
  const pb = bed.podConfig({ name: 'web', namespace: 'ops-demo' });
  const pc = pb.build();
  const podId = await bed.cri.runPodSandbox(pc, 'vnode');
  const id = await bed.cri.createContainer(podId, bed.containerConfig({ name: 'main', command: ['sleep', '3600'], namespaceOptions: pb.containerNamespaceOptions() }), pc);
  await bed.cri.startContainer(id);

  // status: healthy, the counts, where metrics are.
  const human = await vnode(['status']);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /^vnode-manager \S+: healthy\n/);
  assert.match(human.stdout, /counts: 1 vNodes, 1 pods, 2 containers/);
  const st = await json<{ metricsUrl: string; counts: { vnodes: number; pods: number }; subsystems: { name: string; status: string }[] }>(['status']);
  assert.deepEqual(st.subsystems.map((s) => [s.name, s.status]), ['launch', 'vnodefs', 'seccomp', 'state', 'metrics'].map((n) => [n, 'ok']));
  assert.match(st.metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

  // ls: the vNode of the pod's namespace with its range and the pod by name.
  const ls = await json<{ vnodes: { name: string; key: string; idRange: { uidStart: number; size: number }; namespaces: Record<string, string | null>; pods: { id: string; namespace: string; name: string; containers: number }[] }[] }>(['ls']);
  assert.equal(ls.vnodes.length, 1);
  const v = ls.vnodes[0]!;
  assert.equal(v.key, 'ns:ops-demo');
  assert.equal(v.idRange.size, 65536);
  assert.match(v.namespaces.user!, /^user:\[\d+\]$/);
  assert.deepEqual(v.pods, [{ id: podId, namespace: 'ops-demo', name: 'web', containers: 2 }]);
  assert.match((await vnode(['ls'])).stdout, new RegExp(`${v.name}\\s+ready\\s+${v.idRange.uidStart}-${v.idRange.uidStart + 65535}\\s+\\d+\\s+\\d+\\s+\\d+\\s+ops-demo/web`));

  // Work for the counters: /proc/meminfo through vnodefs, sysinfo(2) through the seccomp agent.
  const scrape = async () => (await fetch(st.metricsUrl)).text();
  const before0 = await scrape();
  for (const f of ['vnode_vnodes', 'vnode_pods', 'vnode_containers', 'vnode_seccomp_listeners', 'vnode_seccomp_syscalls_total', 'vnode_vnodefs_requests_total', 'vnode_vnodefs_request_duration_seconds', 'vnode_errors_total', 'vnode_manager_restarts_total', 'vnode_state_entries', 'vnode_subsystem_up', 'process_cpu_seconds_total', 'process_resident_memory_bytes']) {
    assert.match(before0, new RegExp(`^# TYPE ${f} `, 'm'), `family ${f}`);
  }
  assert.equal(sample(before0, 'vnode_pods'), 1);
  assert.equal(sample(before0, 'vnode_vnodes', { state: 'ready' }), 1);
  const reads0 = sample(before0, 'vnode_vnodefs_requests_total', { op: 'read' });
  const hist0 = sample(before0, 'vnode_vnodefs_request_duration_seconds_count', { op: 'read' });
  const free = await bed.cri.execSync(id, ['sh', '-c', 'cat /proc/meminfo > /dev/null; cat /proc/uptime; free']);
  assert.equal(free.exitCode, 0, free.stderr);
  const after1 = await scrape();
  assert.ok(sample(after1, 'vnode_vnodefs_requests_total', { op: 'read' }) > reads0, 'a /proc read raises the vnodefs read counter');
  assert.ok(sample(after1, 'vnode_vnodefs_request_duration_seconds_count', { op: 'read' }) > hist0, 'and its latency histogram');
  assert.ok(sample(after1, 'vnode_seccomp_syscalls_total', { syscall: 'sysinfo', vnode: v.name, outcome: 'answered' }) >= 1, 'free(1) calls sysinfo, answered by the manager');
  assert.equal(sample(after1, 'vnode_subsystem_up', { subsystem: 'vnodefs' }), 1);

  // inspect by pod id prefix and by vNode name.
  const insp = await json<{ kind: string; pod: { id: string }; containers: { id: string; pid: number | null; uidMap: string | null; mounts: { fsType: string }[] }[]; seccomp: { syscalls: Record<string, Record<string, number>> }; vnodefs: { requests: number } }>(['inspect', podId.slice(0, 12)]);
  assert.equal(insp.kind, 'pod');
  assert.equal(insp.pod.id, podId);
  const main = insp.containers.find((c) => c.id === id)!;
  assert.ok(main.pid, 'the container has a process');
  assert.match(main.uidMap!, new RegExp(`^0 ${v.idRange.uidStart} 65536$`));
  assert.ok(main.mounts.some((m) => m.fsType === 'fuse.vnodefs'), 'vnodefs files are bound into the container');
  assert.ok((insp.seccomp.syscalls.sysinfo?.answered ?? 0) >= 1);
  assert.ok(insp.vnodefs.requests > 0);
  const byName = await vnode(['inspect', v.name]);
  assert.equal(byName.code, 0, byName.stderr);
  assert.match(byName.stdout, new RegExp(`^vNode ${v.name} \\(ns:ops-demo\\), ready\\n`));
  const missing = await vnode(['inspect', 'no-such-thing']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no vNode, pod or container "no-such-thing"/);

  // doctor: the manager and the bed's CNI chain check out; containerd's config is the bed's.
  const doc = await vnode(['doctor', '--json', '--containerd-config', bed.configPath, '--containerd-root', bed.root]);
  const d = JSON.parse(doc.stdout) as { ok: boolean; checks: { check: string; verdict: string; detail: string }[] };
  const verdict = Object.fromEntries(d.checks.map((c) => [c.check, c.verdict]));
  for (const c of ['seccomp', 'userns', 'containerd', 'fuse', 'containerd-config', 'cni', 'manager']) assert.equal(verdict[c], 'ok', `${c}: ${JSON.stringify(d.checks.find((x) => x.check === c))}`);
  assert.equal(doc.code, d.ok ? 0 : 1);
});
