// `npm run local` as a user runs it: `node dist/e2e/local.js up` and `down` as child processes,
// under another base (VNODE_LOCAL_BASE) so a running /run/vnode-local is never touched. up brings
// vNode up through the real installer and leaves it running after the command exits; up again
// finds it up, and on a half-up node (manager killed) removes and redoes it; down removes all of it (the config restored byte for byte by the uninstall, no
// process, mount, holder or dir left); down again succeeds.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { checkHealth } from '../agent/cli/health.js';
import { CriStatusProbe } from '../installer/CriStatusProbe.js';
import { e2eSkipReason } from './lib/e2eGate.js';
import { diffSnapshots, type Snapshot } from './lib/fileSnapshot.js';
import { snapshotNodePaths } from './lib/hostGuard.js';
import { isAlive, mounts, processes, run, waitFor, type Ran } from './lib/hostState.js';
import { REPO_ROOT, TestBed } from './lib/TestBed.js';
import { ensureTestImages } from './lib/testImages.js';

const skip = e2eSkipReason();
const BASE = '/run/vnt-instloc';
// Metrics on a free port: a local node of the user's may hold 9713.
const ENV = { VNODE_LOCAL_BASE: BASE, VNODE_LOCAL_NAME: 'instloc', VNODE_LOCAL_SUBNET: '22', VNODE_LOCAL_METRICS_PORT: '0' };
/** The same bed local.ts makes, for checks and a last-resort cleanup. */
const bed = () => TestBed.attach({ name: 'instloc', subnetIndex: 22, baseDir: BASE, hostLayout: true, socket: join(BASE, 'containerd.sock') });

let nodeBefore: Snapshot;

function local(cmd: 'up' | 'down'): Promise<Ran> {
  return run(process.execPath, [join(REPO_ROOT, 'dist/e2e/local.js'), cmd], { env: { PATH: process.env.PATH, ...ENV } });
}

async function mustRun(cmd: 'up' | 'down'): Promise<Ran> {
  const r = await local(cmd);
  assert.equal(r.code, 0, `local ${cmd} failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}

before(() => {
  if (skip) return;
  nodeBefore = snapshotNodePaths();
});

after(async () => {
  if (skip) return;
  // A failed test must not leave the node up.
  if (existsSync(BASE)) await local('down');
  await bed().teardown();
  assert.deepEqual(bed().leftovers(), []);
  assert.deepEqual(diffSnapshots(nodeBefore, snapshotNodePaths()), [], "the node's own vNode paths were never touched");
});

let managerPid = 0;
let holderPid = 0;

test('local up: containerd with runc and vnode installed by the installer, the manager running, a demo pod in a vNode; all left up', { skip, timeout: 180_000 }, async (t) => {
  const r = await mustRun('up');
  t.diagnostic(`up took ${r.ms} ms`);
  // One line per step, in order, each with its duration.
  const steps = [...r.stdout.matchAll(/^\[(\d)\/5\] ([a-z +]+): (\d+) ms; /gm)].map((m) => [Number(m[1]), m[2]]);
  for (const line of r.stdout.split('\n').filter((l) => /^(\[\d\/5\]|CLI:|metrics:)/.test(l))) t.diagnostic(line);
  assert.deepEqual(steps, [[1, 'containerd up'], [2, 'install'], [3, 'supervisor+manager'], [4, 'demo pod'], [5, 'exec']], r.stdout);
  assert.match(r.stdout, /installed vNode .*"tree","cniBin","shimLink","cliLink","cniDir","config","restart"/, 'the real installer did every step');
  // The demo pod's exec line: root in the pod, mapped onto a vNode's 65536 ids.
  const m = /uid 0, uid_map: (\d+) (\d+) (\d+)/.exec(r.stdout);
  assert.ok(m, `the demo pod's uid_map is printed:\n${r.stdout}`);
  assert.deepEqual([Number(m[1]), Number(m[3])], [0, 65536]);
  assert.ok(Number(m[2]) >= 65536, 'a vNode range, not the host ids');

  // After the command exited: containerd serves CRI with both handlers, the manager answers.
  const socket = join(BASE, 'containerd.sock');
  const hs = await new CriStatusProbe(socket).runtimeHandlers();
  assert.ok(hs.includes('runc') && hs.includes('vnode'), `handlers: ${hs.join(', ')}`);
  const h = await checkHealth(join(BASE, 'run/vnode'));
  assert.ok(h.ok, h.message);
  managerPid = Number(/pid (\d+)/.exec(h.message)?.[1]);
  assert.ok(readlinkSync(`/proc/${managerPid}/exe`).startsWith(join(BASE, 'opt/vnode/versions/')), 'the manager runs from the installed tree');
  // Started as the installer starts it: the vnode chain dir and containerd's CNI bin dir.
  const env = readFileSync(`/proc/${managerPid}/environ`, 'utf8').split('\0');
  assert.ok(env.includes(`VNODE_CNI_CONF_DIR=${join(BASE, 'etc/cni/vnode.d')}`) && env.includes(`VNODE_CNI_BIN_DIR=${join(BASE, 'opt/cni/bin')}`), 'the manager has its CNI dirs');
  assert.equal(readlinkSync(join(BASE, 'usr/local/bin/containerd-shim-vnode-v2')), join(BASE, 'opt/vnode/current/bin/containerd-shim-vnode-v2'));

  const b = bed();
  try {
    const pods = await b.cri.listPodSandboxes();
    assert.deepEqual(pods.map((p) => [(p.metadata as { name?: string } | undefined)?.name, p.runtimeHandler, p.state]), [['demo', 'vnode', 'SANDBOX_READY']]);
    const [c] = await b.cri.listContainers();
    const e = await b.cri.execSync(c!.id as string, ['sh', '-c', 'id -u; cat /proc/self/uid_map']);
    assert.equal(e.stdout.split('\n')[0], '0');
  } finally {
    b.cri.close();
  }
  holderPid = demoHolder();
  await checkAccessLines(r.stdout);
});

/**
 * The lines `up` ends with work as printed: the CLI command (package.json's `vnode` script for this
 * base) answers with JSON, the installer's CLI link on the node's PATH lists the demo pod's vNode,
 * and the metrics URL serves the manager's families.
 */
async function checkAccessLines(stdout: string): Promise<void> {
  assert.match(stdout, new RegExp(`^CLI: VNODE_LOCAL_BASE=${BASE} npm run vnode -- status `, 'm'));
  const metricsUrl = /^metrics: (http:\/\/127\.0\.0\.1:(\d+)\/metrics)$/m.exec(stdout);
  assert.ok(metricsUrl, `the metrics URL is printed:\n${stdout}`);
  assert.notEqual(metricsUrl[2], '0', 'the port the manager bound, not the configured 0');

  const st = await run('npm', ['run', '--silent', 'vnode', '--', 'status', '--json'], { cwd: REPO_ROOT, env: { PATH: process.env.PATH, VNODE_LOCAL_BASE: BASE } });
  assert.equal(st.code, 0, st.stderr);
  const status = JSON.parse(st.stdout) as { metricsUrl: string; counts: { vnodes: number; pods: number }; subsystems: { name: string; status: string }[] };
  assert.ok(status.subsystems.every((x) => x.status === 'ok'), JSON.stringify(status.subsystems));
  assert.deepEqual([status.counts.vnodes, status.counts.pods], [1, 1]);
  assert.equal(status.metricsUrl, metricsUrl[1]);

  // The link the installer made in the node's usr/local/bin runs the installed tree's CLI.
  const link = join(BASE, 'usr/local/bin/vnode');
  assert.equal(readlinkSync(link), join(BASE, 'opt/vnode/current/bin/vnode'));
  assert.match(stdout, new RegExp(`installed link: VNODE_RUN_DIR=${join(BASE, 'run/vnode')} ${link} status`));
  const ls = await run(link, ['ls', '--json'], { env: { PATH: process.env.PATH, VNODE_RUN_DIR: join(BASE, 'run/vnode') } });
  assert.equal(ls.code, 0, ls.stderr);
  const vnodes = (JSON.parse(ls.stdout) as { vnodes: { name: string; key: string; state: string; pods: { namespace: string; name: string }[] }[] }).vnodes;
  assert.deepEqual(vnodes.map((v) => [v.state, v.pods.map((p) => `${p.namespace}/${p.name}`)]), [['ready', ['default/demo']]], "the demo pod's vNode");
  // inspect the demo pod's vNode, and doctor on this node (its containerd config and root).
  const cliEnv = { env: { PATH: process.env.PATH, VNODE_RUN_DIR: join(BASE, 'run/vnode') } };
  const insp = await run(link, ['inspect', vnodes[0]!.name, '--json'], cliEnv);
  assert.equal(insp.code, 0, insp.stderr);
  assert.equal((JSON.parse(insp.stdout) as { kind: string }).kind, 'vnode');
  const doc = await run(link, ['doctor', '--json', '--containerd-config', join(BASE, 'etc/containerd/config.toml'), '--containerd-root', join(BASE, 'root')], cliEnv);
  const d = JSON.parse(doc.stdout) as { ok: boolean; checks: { check: string; verdict: string }[] };
  const verdict = Object.fromEntries(d.checks.map((c) => [c.check, c.verdict]));
  for (const c of ['seccomp', 'userns', 'fuse', 'containerd-config', 'manager']) assert.equal(verdict[c], 'ok', `doctor ${c}: ${JSON.stringify(d.checks.find((x) => x.check === c))}`);
  assert.equal(doc.code, d.ok ? 0 : 1);

  const text = await (await fetch(metricsUrl[1])).text();
  for (const f of ['vnode_build_info', 'vnode_vnodes', 'vnode_pods', 'vnode_vnodefs_requests_total', 'process_resident_memory_bytes']) assert.match(text, new RegExp(`^# TYPE ${f} `, 'm'), `family ${f}`);
  assert.match(text, /^vnode_pods 1$/m);
  assert.match(text, /^vnode_vnodes\{state="ready"\} 1$/m);
}

/** The holder of the one vNode, the demo pod's, from the manager's records. */
function demoHolder(): number {
  const vdir = join(BASE, 'var/lib/vnode/vnodes');
  const recs = readdirSync(vdir).filter((f) => f.endsWith('.json'));
  assert.equal(recs.length, 1, "one vNode, the demo pod's");
  const pid = (JSON.parse(readFileSync(join(vdir, recs[0]!), 'utf8')) as { holder?: { pid: number } }).holder?.pid ?? 0;
  assert.ok(pid && isAlive(pid), "the demo pod's vNode holder runs");
  return pid;
}

test('local up again: finds it up and leaves it as it is', { skip, timeout: 120_000 }, async () => {
  const r = await mustRun('up');
  assert.match(r.stdout, /already up/);
  assert.match(r.stdout, /^CLI: .*\n.*\nmetrics: http:/m, 'up again says how to reach the node too');
  assert.equal(Number(/pid (\d+)/.exec((await checkHealth(join(BASE, 'run/vnode'))).message)?.[1]), managerPid, 'the same manager');
});

test('a killed manager is restarted by its supervisor within a second, and new vNode pods start', { skip, timeout: 120_000 }, async (t) => {
  const supervisor = Number(readFileSync(join(BASE, 'run/vnode/supervisor.pid'), 'utf8'));
  assert.ok(isAlive(supervisor), 'the supervisor runs');
  assert.notEqual(readFileSync(`/proc/${supervisor}/cgroup`, 'utf8'), readFileSync('/proc/self/cgroup', 'utf8'), 'in a cgroup of its own');
  const t0 = Date.now();
  process.kill(managerPid, 'SIGKILL');
  const next = await waitFor('a new manager process', () => {
    const kids = readFileSync(`/proc/${supervisor}/task/${supervisor}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return kids.find((k) => k !== managerPid);
  }, 5_000, 5);
  const restartedMs = Date.now() - t0;
  await waitFor('the new manager to answer', async () => (await checkHealth(join(BASE, 'run/vnode'))).ok, 20_000, 20);
  const answeringMs = Date.now() - t0;
  t.diagnostic(`kill -9 -> new manager process ${restartedMs} ms, answering ${answeringMs} ms`);
  assert.ok(restartedMs <= 1000, `restarted within a second (${restartedMs} ms)`);
  const h = await checkHealth(join(BASE, 'run/vnode'));
  assert.equal(Number(/pid (\d+)/.exec(h.message)?.[1]), next, 'the supervisor\'s new child answers');
  managerPid = next;
  // A new vNode pod starts through the restarted manager (the node's CRI socket, as a user's crictl).
  const b = bed();
  b.images = ensureTestImages(); // imported by up
  let podId: string | undefined;
  try {
    const p = await b.runPod({ name: 'after-restart', namespace: 'default', handler: 'vnode' });
    podId = p.podId;
    const e = await b.cri.execSync(p.containerId, ['cat', '/proc/self/uid_map']);
    assert.equal(e.exitCode, 0, e.stderr);
  } finally {
    if (podId) {
      await b.cri.stopPodSandbox(podId);
      await b.cri.removePodSandbox(podId);
    }
    b.cri.close();
  }
});

test('local up on a half-up node (supervisor and manager killed): removes it and brings it up again', { skip, timeout: 180_000 }, async () => {
  const supervisor = Number(readFileSync(join(BASE, 'run/vnode/supervisor.pid'), 'utf8'));
  process.kill(supervisor, 'SIGKILL');
  process.kill(managerPid, 'SIGKILL');
  await waitFor('both gone', () => !isAlive(supervisor) && !isAlive(managerPid));
  const r = await mustRun('up');
  assert.match(r.stdout, /not fully up \(vnode-manager at .*launch\.sock did not answer within/);
  assert.match(r.stdout, /starting it to remove the vNode pods[^]*removed [1-9]\d* pod\(s\)[^]*original bytes[^]*vNode is up/, 'the old pods went through a manager; then a fresh install');
  assert.ok(!processes().some((p) => p.pid === holderPid && p.cmdline.startsWith('vnode-holder')), "the old demo pod's holder went with it");
  const h = await checkHealth(join(BASE, 'run/vnode'));
  assert.ok(h.ok, h.message);
  managerPid = Number(/pid (\d+)/.exec(h.message)?.[1]);
  holderPid = demoHolder();
});

test('local down: uninstalled through the installer, manager, containerd, pods and holders gone, nothing left', { skip, timeout: 120_000 }, async (t) => {
  const r = await mustRun('down');
  t.diagnostic(`down took ${r.ms} ms`);
  assert.match(r.stdout, /uninstalled vNode .*containerd's config has its original bytes/);
  assert.ok(!isAlive(managerPid), 'the manager stopped');
  assert.ok(!processes().some((p) => p.pid === holderPid && p.cmdline.startsWith('vnode-holder')), 'no vNode holder');
  assert.deepEqual(bed().leftovers(), [], 'no process, mount, bridge, cgroup, cache entry or dir');
  assert.deepEqual(mounts().filter((m) => m.mountPoint.startsWith(BASE)), []);
  assert.ok(!existsSync(BASE));
});

test('local down with nothing up succeeds', { skip, timeout: 60_000 }, async () => {
  const r = await mustRun('down');
  assert.match(r.stdout, /nothing to remove/);
});
