import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostRoot } from './HostRoot.js';
import { parseInstallerConfig, resolveFlavor } from './installerConfig.js';
import { managerEnv, managerLaunch } from './ManagerSupervisor.js';
import { prepareInstaller } from './installerMain.js';
import { loadConfig } from '../agent/common/config.js';
import { UnsupportedHostError, type HostFacts } from './preflight.js';
import { parseContainerdVersion } from './containerdVersion.js';
import { makeFakeHost, snapshotTree } from './testing/fakeHost.js';
import { FakeContainerd } from './testing/FakeContainerd.js';

const facts: HostFacts = { kernelRelease: '6.1.0', cgroup: 'v2', seccompActions: ['user_notif'], containerd: parseContainerdVersion('containerd x 1.7.2 y'), containerdRootFs: 'ext4' };

test('config: defaults for a real node, errors that name the field', () => {
  const c = parseInstallerConfig({});
  assert.equal(c.hostRoot, '/host');
  assert.equal(c.runtime.handler, 'vnode');
  assert.equal(c.restart.strategy, 'auto');
  assert.throws(() => parseInstallerConfig({ restart: { strategy: 'command' } }), /restart\.command: restart\.command is required/);
  assert.throws(() => parseInstallerConfig({ installDir: 'opt/vnode' }), /installDir: must be an absolute path/);
  assert.throws(() => parseInstallerConfig({ runtime: { handler: 'Bad_Name' } }), /runtime\.handler/);
  assert.throws(() => parseInstallerConfig({ bogus: 1 }), /Unrecognized key/);
});

test('flavor detection: k3s and RKE2 by their rendered config, else plain containerd', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'vnode-inst-flavor-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const host = new HostRoot(root);
  assert.equal(resolveFlavor(host, parseInstallerConfig({}).containerd).flavor, 'containerd');
  mkdirSync(join(root, 'var/lib/rancher/k3s/agent/etc/containerd'), { recursive: true });
  writeFileSync(join(root, 'var/lib/rancher/k3s/agent/etc/containerd/config.toml'), 'version = 3\n');
  const k = resolveFlavor(host, parseInstallerConfig({}).containerd);
  assert.deepEqual([k.flavor, k.socket], ['k3s', '/run/k3s/containerd/containerd.sock']);
  assert.equal(resolveFlavor(host, parseInstallerConfig({ containerd: { flavor: 'containerd' } }).containerd).flavor, 'containerd');
});

test('prepareInstaller refuses an unsupported host before touching it, and builds a working installer otherwise', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'vnode-inst-main-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  makeFakeHost(root);
  const before = snapshotTree(join(root, 'host'), ['/run']);
  const cfg = parseInstallerConfig({ hostRoot: join(root, 'host'), stagedTree: join(root, 'staged'), node: { kubernetes: false }, readinessTimeoutSeconds: 2 });
  const fake = new FakeContainerd(new HostRoot(join(root, 'host')), '/etc/containerd/config.toml');
  await assert.rejects(prepareInstaller(cfg, { facts: { ...facts, kernelRelease: '5.4.0' }, restarter: fake, cri: fake }), (e: unknown) => e instanceof UnsupportedHostError && /kernel 5\.4\.0 is older than 5\.12/.test(e.message));
  assert.deepEqual(snapshotTree(join(root, 'host'), ['/run']), before);
  const { installer } = await prepareInstaller(cfg, { facts, restarter: fake, cri: fake });
  const r = await installer.install();
  assert.equal(r.configPlan.mode, 'root');
  assert.deepEqual(await fake.runtimeHandlers(), ['runc', 'vnode']);
  await installer.uninstall();
  fake.forget();
  assert.deepEqual(snapshotTree(join(root, 'host'), ['/run']), before);
});

test('the manager is started with what it needs: run and state dirs, the vnode CNI chain and bin dir, log level', () => {
  const cni = { vnodeConfDir: '/etc/cni/vnode.d', binDir: '/opt/cni/bin' };
  const cfg = parseInstallerConfig({ hostPid: 7, manager: { logLevel: 'debug' } });
  const m = managerLaunch(cfg, new HostRoot('/host'), cni)!;
  assert.deepEqual(m.argv, ['nsenter', '--target', '7', '--mount', '--uts', '--ipc', '--net', '--pid', '--', '/opt/vnode/current/bin/vnode-manager']);
  assert.deepEqual(m.env, {
    VNODE_RUN_DIR: '/run/vnode',
    VNODE_STATE_DIR: '/var/lib/vnode',
    VNODE_CNI_CONF_DIR: '/etc/cni/vnode.d',
    VNODE_CNI_BIN_DIR: '/opt/cni/bin',
    VNODE_LOG_LEVEL: 'debug',
    VNODE_VNODE_MODE: 'namespace',
    VNODE_CPU_BUDGET: '0.25',
    VNODE_METRICS_ENABLED: 'true',
    VNODE_METRICS_ADDRESS: '127.0.0.1',
    VNODE_METRICS_PORT: '9713',
    VNODE_SHARING_POLICY_FILE: '/var/lib/vnode/sharing-policy.json',
  });
  // What the manager makes of it (agent/common/config.ts reads these overrides).
  const mc = loadConfig(undefined, m.env);
  assert.deepEqual([mc.runDir, mc.stateDir, mc.cni, mc.logLevel, mc.vnodeMode, mc.metrics], ['/run/vnode', '/var/lib/vnode', { confDir: '/etc/cni/vnode.d', binDir: '/opt/cni/bin' }, 'debug', 'namespace', { enabled: true, address: '127.0.0.1', port: 9713 }]);
  // Nothing of the pod's VNODE_* reaches it (the image's VNODE_TREE is not the installed tree), nor the image's PATH.
  const env = managerEnv(cfg, m, { PATH: '/opt/vnode-image/bin:/usr/bin', VNODE_TREE: '/opt/vnode-image', VNODE_RUN_DIR: '/host/run/vnode', HOME: '/root' });
  assert.deepEqual(env, { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', ...m.env });
  // In this process's namespaces (mode child), every path is reached through the host root.
  const child = managerLaunch(parseInstallerConfig({ hostRoot: '/', manager: { mode: 'child' } }), new HostRoot('/'), cni)!;
  assert.equal(child.argv[0], '/opt/vnode/current/bin/vnode-manager');
  assert.equal(managerLaunch(parseInstallerConfig({ manager: { mode: 'none' } }), new HostRoot('/host'), cni), undefined);
});

test('vNode mode and metrics reach the manager; a bad value is refused where the admin wrote it', () => {
  const cni = { vnodeConfDir: '/etc/cni/vnode.d', binDir: '/opt/cni/bin' };
  const m = managerLaunch(parseInstallerConfig({ manager: { vnodeMode: 'pod', metrics: { enabled: false, address: '0.0.0.0', port: 9800 } } }), new HostRoot('/host'), cni)!;
  const mc = loadConfig(undefined, m.env);
  assert.equal(mc.vnodeMode, 'pod');
  assert.deepEqual(mc.metrics, { enabled: false, address: '0.0.0.0', port: 9800 });
  assert.throws(() => parseInstallerConfig({ manager: { metrics: { port: 70000 } } }), /manager\.metrics\.port/);
  assert.throws(() => parseInstallerConfig({ manager: { metrics: { address: 'node-ip' } } }), /manager\.metrics\.address/);
  assert.throws(() => parseInstallerConfig({ manager: { vnodeMode: 'cluster' } }), /manager\.vnodeMode/);
  assert.throws(() => loadConfig(undefined, { VNODE_METRICS_ENABLED: 'yes' }), /VNODE_METRICS_ENABLED: not true or false/);
});

test("the admin's shared vNodes reach the manager: the configured ones as they are, the namespace labels through the policy file", () => {
  const cni = { vnodeConfDir: '/etc/cni/vnode.d', binDir: '/opt/cni/bin' };
  const vnodes = { tenant1: ['team-b', 'team-c'] };
  const m = managerLaunch(parseInstallerConfig({ manager: { sharing: { vnodes } } }), new HostRoot('/host'), cni)!;
  const mc = loadConfig(undefined, m.env);
  assert.deepEqual(mc.sharing, { vnodes, policyFile: '/var/lib/vnode/sharing-policy.json' });
  // Without the API (local mode) or without a label, no policy file: the manager would wait for it forever.
  const local = managerLaunch(parseInstallerConfig({ node: { kubernetes: false }, manager: { mode: 'child', sharing: { vnodes } } }), new HostRoot('/host'), cni)!;
  assert.equal(local.env.VNODE_SHARING_POLICY_FILE, undefined);
  assert.deepEqual(loadConfig(undefined, local.env).sharing.vnodes, vnodes);
  assert.equal(managerLaunch(parseInstallerConfig({ manager: { sharing: { namespaceLabel: null } } }), new HostRoot('/host'), cni)!.env.VNODE_SHARING_POLICY_FILE, undefined);
  // A namespace given to two shared vNodes is refused where the admin wrote it.
  assert.throws(() => parseInstallerConfig({ manager: { sharing: { vnodes: { a: ['x'], b: ['x'] } } } }), /namespace "x" is given to two shared vNodes/);
});
