// The DaemonSet itself: the chart's pod template (the same source as manifests/), rendered with
// values that point its host paths at the bed, run through CRI the way kubelet runs it (the
// release image, the Dockerfile built by buildah, imported with ctr, hostPath volumes with their propagation,
// the ConfigMap as files, privileged + hostPID + hostNetwork, exec probes as ExecSync). The pod
// installs vNode onto the very containerd it runs under, keeps running through the restart it
// causes with its manager answering, and uninstalls when kubelet stops it.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { checkHealth } from '../agent/cli/health.js';
import { mountPointsUnder } from '../agent/common/mountinfo.js';
import { chartFiles, renderTemplate } from '../charts/source/chartFiles.js';
import { defaultValues, ValuesSchema, type ChartValues } from '../charts/source/values.js';
import { CriStatusProbe } from '../installer/CriStatusProbe.js';
import { parseInstallerConfig } from '../installer/installerConfig.js';
import { supervisorAlive } from '../installer/ManagerSupervisor.js';
import { closeUnitAndBed, ContainerdUnit } from './lib/ContainerdUnit.js';
import { e2eSkipReason } from './lib/e2eGate.js';
import { diffSnapshots, snapshotFiles, type Snapshot } from './lib/fileSnapshot.js';
import { snapshotNodePaths } from './lib/hostGuard.js';
import { isAlive, waitFor } from './lib/hostState.js';
import { KubeletPod } from './lib/KubeletPod.js';
import { buildReleaseImage, nextReleaseImage, RELEASE_TEST_IMAGE } from './lib/releaseImage.js';
import { TestBed } from './lib/TestBed.js';
import { translatePod } from './lib/translatePod.js';

const skip = e2eSkipReason(['/usr/bin/containerd', '/usr/sbin/runc', '/usr/lib/cni/bridge', '/usr/bin/nsenter', '/usr/bin/buildah', '/usr/bin/mmdebstrap']);
const BASE = '/run/vnt-instds';
// The release image: the Dockerfile built by buildah (e2e/releaseImage.test.ts builds the same one).
const [IMAGE_REPO, IMAGE_TAG] = RELEASE_TEST_IMAGE.split(/:(?=[^:]+$)/) as [string, string];
const IMAGE = { repository: IMAGE_REPO, tag: IMAGE_TAG };
const at = (p: string) => join(BASE, p);

let bed: TestBed;
let unit: ContainerdUnit;
let nodeBefore: Snapshot;
/** The bed's manager serves metrics on a free port: 9713 may be a local node's (`npm run local`). */
let metricsPort = 0;

const watched = () => snapshotFiles([at('etc'), at('opt'), at('usr'), at('var')]);

before(async () => {
  metricsPort = await freePort();
  if (skip) return;
  nodeBefore = snapshotNodePaths();
  // The node's /usr/local/bin is the bed's, on its containerd's PATH (the shim link goes there).
  bed = await TestBed.start({ name: 'instds', subnetIndex: 21, baseDir: BASE, hostLayout: true, sharedMount: true, env: { VNODE_RUN_DIR: at('run/vnode') }, path: [at('usr/local/bin')] });
  unit = new ContainerdUnit(bed, at('run/unit/containerd.sock'));
  // The unit socket's dir is not one the pod mounts: the restart command reaches it from the host's mount namespace.
  mkdirSync(at('run/unit'), { recursive: true });
  mkdirSync(at('usr/local/bin'), { recursive: true }); // a node has it
  await unit.listen();
});

after(() => closeUnitAndBed(bed, unit, nodeBefore));

/** A loopback port nothing listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Chart values for this bed: every host path of the DaemonSet and of the installer's config points into it. */
function bedValues(onTerm: 'keep' | 'uninstall' = 'uninstall', tag = IMAGE.tag): ChartValues {
  const v = structuredClone(defaultValues);
  v.image = { ...IMAGE, tag, pullPolicy: 'Never' };
  v.hostPaths = {
    containerdConfigDir: at('etc/containerd'),
    containerdRunDir: at('run/containerd'),
    cniConfigDir: at('etc/cni'),
    cniBinDir: at('opt/cni/bin'),
    installParentDir: at('opt'),
    runDir: at('run/vnode'),
    stateDir: at('var/lib/vnode'),
    shimLinkDir: at('usr/local/bin'),
  };
  const installer = {
    ...v.installer,
    installDir: at('opt/vnode'),
    shimLinkDir: at('usr/local/bin'),
    stateDir: at('var/lib/vnode/installer'),
    containerd: { flavor: 'containerd', configPath: bed.configPath, socket: bed.socket, binary: '/usr/bin/containerd', root: bed.root },
    runtime: { ...v.installer.runtime, cniConfDir: at('etc/cni/vnode.d') },
    // systemctl's stand-in, run in the host's mount namespace as the nsenter strategy runs systemctl.
    restart: { strategy: 'command' as const, command: ['nsenter', '--target', String(process.pid), '--mount', '--', ...unit.restartArgv()], timeoutSeconds: 60 },
    // This VM's pid 1 refuses ptrace access even to root (no /proc/1/root, no nsenter -t 1): the
    // test process, in the host's namespaces for the whole run, stands in for it.
    hostPid: process.pid,
    node: { ...v.installer.node, kubernetes: false },
    // The supervisor's cgroup inside the bed's (the bed's teardown kills whatever is left there).
    manager: { ...v.installer.manager, mode: 'nsenter' as const, runDir: at('run/vnode'), stateDir: at('var/lib/vnode'), cgroup: { ...v.installer.manager.cgroup!, name: `${bed.cgroupRoot}/vnode.slice` }, metrics: { ...v.installer.manager.metrics!, port: metricsPort } },
    onTerm,
    readinessTimeoutSeconds: 30,
    drainTimeoutSeconds: 10,
  };
  v.installer = installer as ChartValues['installer'];
  return ValuesSchema.parse(v);
}

test('the DaemonSet pod installs vNode on its own containerd, survives the restart; a pod restart disrupts no vNode pod; uninstalls on removal', { skip, timeout: 1_500_000 }, async (t) => {
  // The chart's templates rendered as helm would, with this bed's values. The first pod is
  // restarted while the DaemonSet stays (onTerm keep: what `auto` decides for a rolling update or
  // a liveness restart); the second is the last one (onTerm uninstall: the DaemonSet is removed).
  const render = (onTerm: 'keep' | 'uninstall', tag?: string) => {
    const ctx = { Values: bedValues(onTerm, tag), Release: { Namespace: 'vnode-system', Name: 'vnode-runtime' } };
    return {
      ds: parse(renderTemplate(chartFiles()['templates/daemonset.yaml']!, ctx)) as { spec: { template: { spec: unknown } } },
      cm: parse(renderTemplate(chartFiles()['templates/configmap.yaml']!, ctx)) as { metadata: { name: string }; data: Record<string, string> },
    };
  };
  const { ds, cm } = render('keep');
  const cfg = parseInstallerConfig(parse(cm.data['config.yaml']!));
  assert.equal(cfg.installDir, at('opt/vnode'), 'the ConfigMap carries the installer config');

  // The release image (the Dockerfile, built by buildah), imported as kubelet's node would have pulled it.
  const t0 = Date.now();
  const img = buildReleaseImage({ log: (s) => t.diagnostic(s) });
  bed.importImage(img.archive);
  t.diagnostic(`image ${img.fromCache ? 'from the cache' : 'built'} and imported in ${Date.now() - t0} ms`);

  const before = watched();
  const configBytes = readFileSync(bed.configPath);
  const uid = 'inst-ds-uid-1';
  const translated = translatePod(ds.spec.template.spec, {
    pod: { name: 'vnode-runtime-inst', namespace: 'vnode-system', uid, nodeName: 'inst-node', hostIP: '127.0.0.1' },
    podDir: at(`kubelet/pods/${uid}`),
    logDirectory: at(`logs/vnode-system_vnode-runtime-inst_${uid}`),
    cgroupParent: `/${bed.cgroupRoot}/ds`,
    configMaps: { [cm.metadata.name]: cm.data },
  });
  const c0 = translated.containers[0]!;
  assert.deepEqual(
    (c0.config.mounts as { containerPath: string; hostPath: string; propagation: string }[]).filter((m) => m.containerPath.startsWith('/host')).map((m) => [m.containerPath, m.propagation]),
    [
      [`/host${at('etc/containerd')}`, 'PROPAGATION_PRIVATE'],
      [`/host${at('run/containerd')}`, 'PROPAGATION_HOST_TO_CONTAINER'],
      [`/host${at('etc/cni')}`, 'PROPAGATION_PRIVATE'],
      [`/host${at('opt')}`, 'PROPAGATION_PRIVATE'],
      [`/host${at('opt/cni/bin')}`, 'PROPAGATION_PRIVATE'],
      [`/host${at('run/vnode')}`, 'PROPAGATION_HOST_TO_CONTAINER'],
      [`/host${at('var/lib/vnode')}`, 'PROPAGATION_PRIVATE'],
      [`/host${at('usr/local/bin')}`, 'PROPAGATION_PRIVATE'],
    ],
    'only the host dirs the installer touches, each with its propagation',
  );

  const pod = new KubeletPod(bed, translated);
  const logFile = () => {
    const dir = translated.sandbox.logDirectory as string;
    try {
      return readFileSync(join(dir, 'installer/0.log'), 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '(no log)';
    }
  };
  let stoppedCleanly = false;
  let pod2: KubeletPod | undefined;
  try {
    const started = Date.now();
    await pod.run();
    const id = pod.containerIds.get('installer')!;
    const pid0 = JSON.parse((await bed.cri.containerStatus(id, true)).info.info!).pid as number;

    // Ready = the startup probe passed and the readiness probe (vnode health) answers.
    await waitFor('the pod to become ready', () => pod.isReady('installer') || undefined, 120_000, 200).catch((e: Error) => {
      throw new Error(`${e.message}\nprobes: ${JSON.stringify(pod.results.slice(-5))}\npod log:\n${logFile()}`);
    });
    t.diagnostic(`pod ready ${Date.now() - started} ms after RunPodSandbox`);
    assert.equal(unit.restarts, 1, 'the install restarted containerd once');
    const { info } = await bed.cri.status(true);
    const vn = (JSON.parse(info.config!) as { containerd: { runtimes: Record<string, { cniConfDir: string; runtimePath: string }> } }).containerd.runtimes.vnode;
    assert.ok(vn, 'CRI lists the vnode handler');
    assert.equal(vn.cniConfDir, at('etc/cni/vnode.d'));
    assert.equal(vn.runtimePath, at('opt/vnode/current/bin/containerd-shim-vnode-v2'));

    // The pod lived through the restart it caused: same container process, still running, and
    // its manager answers on the host's socket (from the host, and as the probe from the pod).
    const st = await bed.cri.containerStatus(id, true);
    assert.equal(st.status.state, 'CONTAINER_RUNNING');
    assert.equal(JSON.parse(st.info.info!).pid, pid0, 'the installer container was not restarted');
    const health = await checkHealth(at('run/vnode'));
    assert.ok(health.ok, health.message);
    const probe = await bed.cri.execSync(id, c0.probes.readiness!.exec.command, 5);
    assert.equal(probe.exitCode, 0, probe.stderr);
    // The readiness probe (`vnode health --ready`): every subsystem checked.
    assert.match(probe.stdout, /^vnode-manager ready: pid \d+, .*launch ok, vnodefs ok, seccomp ok, state ok/);
    assert.deepEqual(pod.livenessKills, [], 'no liveness or startup probe reached its failure threshold');
    // The manager runs in the host's namespaces (nsenter), from the installed tree.
    const mgrPid = Number(/pid (\d+)/.exec(health.message)?.[1]);
    const mgrExe = readlinkSync(`/proc/${mgrPid}/exe`);
    assert.ok(mgrExe.startsWith(at('opt/vnode/versions/')), `manager runs the installed node: ${mgrExe}`);
    assert.equal(readlinkSync(`/proc/${mgrPid}/ns/mnt`), readlinkSync('/proc/self/ns/mnt'), "in the host's mount namespace");
    assert.notEqual(readlinkSync(`/proc/${pid0}/ns/mnt`), readlinkSync('/proc/self/ns/mnt'), 'while the installer has its own');
    // A runc pod beside it still runs on the reconfigured containerd.
    const r = await bed.runPod({ name: 'beside', handler: 'runc' });
    assert.equal((await bed.cri.execSync(r.containerId, ['echo', 'ok'])).stdout, 'ok\n');
    await bed.cri.stopPodSandbox(r.podId);
    await bed.cri.removePodSandbox(r.podId);

    // The manager has what it needs from the installer: the vnode chain and containerd's CNI bin dir.
    const env = Object.fromEntries(readFileSync(`/proc/${mgrPid}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    assert.deepEqual(
      [env.VNODE_RUN_DIR, env.VNODE_STATE_DIR, env.VNODE_CNI_CONF_DIR, env.VNODE_CNI_BIN_DIR, env.VNODE_LOG_LEVEL],
      [at('run/vnode'), at('var/lib/vnode'), at('etc/cni/vnode.d'), bed.cniBinDir, 'info'],
    );
    // And a vnode pod runs through the installed handler: in a vNode, answering ExecSync.
    const v = await bed.runPod({ name: 'vpod', namespace: 'team-a', handler: 'vnode' });
    const vPid = JSON.parse((await bed.cri.containerStatus(v.containerId, true)).info.info!).pid as number;
    const e = await bed.cri.execSync(v.containerId, ['sh', '-c', 'id -u; cat /proc/self/uid_map']);
    assert.equal(e.exitCode, 0, e.stderr);
    const [uid, ...map] = e.stdout.trim().split(/\s+/).map(Number);
    assert.equal(uid, 0);
    assert.ok(map[0] === 0 && map[1]! >= 65536 && map[2] === 65536, `the pod's root is a vNode's, not the host's: ${e.stdout}`);
    // The manager lives outside the installer pod: in the supervisor's cgroup, not the pod's.
    const supervisor = Number(readFileSync(at('run/vnode/supervisor.pid'), 'utf8'));
    assert.match(readFileSync(`/proc/${supervisor}/cgroup`, 'utf8'), new RegExp(`:/${bed.cgroupRoot}/vnode\\.slice$`, 'm'));
    assert.match(readFileSync(`/proc/${mgrPid}/cgroup`, 'utf8'), new RegExp(`:/${bed.cgroupRoot}/vnode\\.slice$`, 'm'));

    // kubelet restarts the installer pod (a rolling update, a liveness restart): SIGTERM while the
    // DaemonSet stays. The vNode pod does not notice: same manager, same container, exec works.
    const restartMs = await pod.stop();
    t.diagnostic(`installer pod stopped (DaemonSet kept) in ${restartMs} ms`);
    assert.equal(unit.restarts, 1, 'no uninstall: containerd was not restarted');
    assert.ok(isAlive(supervisor) && isAlive(mgrPid), 'the supervisor and its manager outlive the installer pod');
    assert.ok((await new CriStatusProbe(bed.socket).runtimeHandlers()).includes('vnode'), 'the handler stays');
    const during = await bed.cri.execSync(v.containerId, ['cat', '/proc/self/uid_map']);
    assert.equal(during.exitCode, 0, `the vNode pod answers with no installer pod: ${during.stderr}`);

    // A rolling update: the next installer pod runs the next release (another tree). It adopts
    // the running supervisor and restarts the manager into the new version (SIGHUP); containerd
    // is not restarted and the vNode pod does not notice: same container, its /proc, its
    // intercepted syscalls and exec work throughout.
    const next = nextReleaseImage(RELEASE_TEST_IMAGE, `${IMAGE_REPO}:release-test-next`);
    bed.importImage(next.archive);
    const versionBefore = readlinkSync(at('opt/vnode/current'));
    const second = render('uninstall', 'release-test-next');
    const uid2 = 'inst-ds-uid-2';
    const translated2 = translatePod(second.ds.spec.template.spec, {
      pod: { name: 'vnode-runtime-inst2', namespace: 'vnode-system', uid: uid2, nodeName: 'inst-node', hostIP: '127.0.0.1' },
      podDir: at(`kubelet/pods/${uid2}`),
      logDirectory: at(`logs/vnode-system_vnode-runtime-inst2_${uid2}`),
      cgroupParent: `/${bed.cgroupRoot}/ds2`,
      configMaps: { [second.cm.metadata.name]: second.cm.data },
    });
    pod2 = new KubeletPod(bed, translated2);
    await pod2.run();
    await waitFor('the second pod to become ready', () => pod2!.isReady('installer') || undefined, 120_000, 200);
    assert.equal(unit.restarts, 1, 'the second pod found vNode installed: no containerd restart');
    assert.equal(Number(readFileSync(at('run/vnode/supervisor.pid'), 'utf8')), supervisor, 'the supervisor was adopted');
    assert.notEqual(readlinkSync(at('opt/vnode/current')), versionBefore, 'the next version is current');
    const h2 = await waitFor('the upgraded manager to answer', async () => {
      const h = await checkHealth(at('run/vnode'));
      const pid = Number(/pid (\d+)/.exec(h.message)?.[1]);
      return h.ok && pid !== mgrPid ? { pid } : undefined;
    }, 30_000, 200);
    assert.ok(readlinkSync(`/proc/${h2.pid}/exe`).startsWith(at(`opt/vnode/${readlinkSync(at('opt/vnode/current'))}`)), 'the new manager runs from the new version');
    const after = await bed.cri.execSync(v.containerId, ['sh', '-c', 'cat /proc/self/uid_map; head -1 /proc/meminfo; nproc']);
    assert.equal(after.exitCode, 0, after.stderr);
    assert.ok(after.stdout.startsWith(during.stdout), `the same vNode ids throughout: ${after.stdout}`);
    assert.match(after.stdout, /MemTotal:\s+\d+ kB\n\d+\n$/, 'vnodefs and the intercepted sched_getaffinity answer after the upgrade');
    assert.equal(JSON.parse((await bed.cri.containerStatus(v.containerId, true)).info.info!).pid, vPid, 'the vNode container was not restarted');
    // Removed while the manager runs (kubelet's drain before the DaemonSet goes).
    await bed.cri.stopPodSandbox(v.podId);
    await bed.cri.removePodSandbox(v.podId);

    // kubelet deletes the last pod: SIGTERM with the grace period; the installer uninstalls and
    // stops the supervisor and its manager.
    const stopMs = await pod2.stop();
    stoppedCleanly = true;
    t.diagnostic(`pod stopped (uninstall included) in ${stopMs} ms`);
    // (exited: an orphan's zombie may wait a moment for the host's init to reap it)
    assert.ok(!supervisorAlive(supervisor) && !supervisorAlive(mgrPid), 'the uninstall stopped the supervisor and the manager');
    assert.equal(unit.restarts, 2, 'the uninstall restarted containerd once');
    assert.ok(readFileSync(bed.configPath).equals(configBytes), "containerd's config has its original bytes");
    assert.ok(!(await new CriStatusProbe(bed.socket).runtimeHandlers()).includes('vnode'));
    // Only the hostPath dirs kubelet made for the pod remain, empty (kubelet owns them).
    const created = translated.createdHostDirs.filter((d) => d.startsWith(at('var')) || d.startsWith(at('etc')) || d.startsWith(at('opt')));
    for (const d of created) assert.deepEqual(readdirSync(d), [], `${d} is empty`);
    const diff = diffSnapshots(before, watched());
    assert.deepEqual(
      diff.map((l) => l.split(':')[0]).sort(),
      [at('var'), at('var/lib'), at('var/lib/vnode')].map((p) => `+ ${p}`),
      `only kubelet's DirectoryOrCreate dirs differ: ${diff.join('\n')}`,
    );
    assert.ok(!existsSync(at('opt/vnode')) && !existsSync(at('etc/cni/vnode.d')) && !existsSync(join(bed.cniBinDir, 'vnode-cni')));
    assert.deepEqual(readdirSync(at('usr/local/bin')), [], 'the shim link is gone');
    const mountsLeft = mountPointsUnder(at('run/vnode'));
    assert.deepEqual([readdirSync(at('run/vnode')), mountsLeft], [[], []], "the manager's run dir is emptied after it stopped");
    rmdirSync(at('run/vnode'));
  } finally {
    if (!stoppedCleanly) {
      pod.stopProbes();
      pod2?.stopProbes();
      t.diagnostic(`pod log:\n${logFile()}`);
    }
  }
});
