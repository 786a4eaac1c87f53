import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { planInstall, planRemoval, type ConfigTarget, type VnodeRuntimeSpec } from './containerdConfig.js';
import { parseContainerdVersion } from './containerdVersion.js';
import { findBlocks } from './markedBlock.js';
import { MemFiles } from './testing/MemFiles.js';
import { skipUnless } from '../e2e/lib/e2eGate.js';

const fixtures = new URL('../../installer/fixtures/containerd/', import.meta.url);
const fx = (name: string) => readFileSync(new URL(name, fixtures), 'utf8');

const spec: VnodeRuntimeSpec = {
  handler: 'vnode',
  runtimeType: 'io.containerd.vnode.v2',
  runtimePath: '/opt/vnode/current/bin/containerd-shim-vnode-v2',
  cniConfDir: '/etc/cni/vnode.d',
  cniMaxConfNum: 1,
  podAnnotations: ['vnode.io/*'],
  containerAnnotations: [],
};
const v16 = parseContainerdVersion('containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3');
const v17 = parseContainerdVersion('containerd containerd.io 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da');
const v21 = parseContainerdVersion('containerd github.com/containerd/containerd/v2 v2.1.0 061792f0ecf3684fb30a3a0eb006799b8c6638a7');
const k3sV = parseContainerdVersion('containerd github.com/k3s-io/containerd v2.0.5-k3s1');
const target = (over: Partial<ConfigTarget> = {}): ConfigTarget => ({ flavor: 'containerd', configPath: '/etc/containerd/config.toml', dropInName: 'vnode-runtime.toml', ...over });
const runtimesOf = (text: string, plugin: string) => (parse(text) as any).plugins[plugin].containerd.runtimes;

/** install -> install again (no edits) -> remove (original bytes). Returns the installed files. */
function roundTrip(fs: MemFiles, t: ConfigTarget) {
  const before = fs.snapshot();
  const plan = planInstall(fs, t, spec);
  assert.ok(plan.edits.length > 0, 'first install edits something');
  fs.apply(plan.edits);
  const installed = fs.snapshot();
  assert.deepEqual(planInstall(fs, t, spec).edits, [], 'second install changes nothing');
  fs.apply(planRemoval(fs, t));
  assert.deepEqual(fs.snapshot(), before, 'removal restores every file byte for byte');
  assert.deepEqual(planRemoval(fs, t), [], 'a second removal changes nothing');
  return { plan, installed };
}

test('parses containerd --version of Debian, docker.io, upstream 2.x and k3s builds', () => {
  assert.deepEqual([v16.major, v16.minor, v16.patch], [1, 6, 20]);
  assert.deepEqual([v17.major, v17.minor, v17.patch], [1, 7, 27]);
  assert.deepEqual([v21.major, v21.minor, v21.patch], [2, 1, 0]);
  assert.deepEqual([k3sV.major, k3sV.minor], [2, 0]);
  assert.throws(() => parseContainerdVersion('containerd: command not found'), /cannot read a containerd version/);
});

test('1.6 default config: root edit under io.containerd.grpc.v1.cri, comments kept, removal byte-identical', () => {
  const fs = new MemFiles({ '/etc/containerd/config.toml': fx('v16-default.toml') });
  const { plan, installed } = roundTrip(fs, target({ version: v16 }));
  assert.equal(plan.mode, 'root');
  assert.equal(plan.pluginId, 'io.containerd.grpc.v1.cri');
  assert.equal(plan.addsDefaultRuntime, false, 'runc is already defined explicitly');
  const text = installed['/etc/containerd/config.toml']!;
  assert.ok(text.startsWith(fx('v16-default.toml')), 'the original text is an untouched prefix');
  assert.match(text, /# Comments like this one must survive/);
  const rt = runtimesOf(text, 'io.containerd.grpc.v1.cri');
  assert.equal(rt.vnode.runtime_type, 'io.containerd.vnode.v2');
  assert.equal(rt.vnode.runtime_path, spec.runtimePath);
  assert.equal(rt.vnode.cni_conf_dir, '/etc/cni/vnode.d');
  assert.deepEqual(rt.vnode.pod_annotations, ['vnode.io/*']);
  assert.equal(rt.runc.runtime_type, 'io.containerd.runc.v2');
  assert.deepEqual(plan.cni, { confDir: '/etc/cni/net.d', binDir: '/opt/cni/bin' });
});

test('1.7 minimal config without runtimes: the block keeps runc defined; a last line without newline is restored', () => {
  const original = fx('v17-kubeadm.toml');
  assert.ok(!original.endsWith('\n'), 'fixture ends without a newline');
  const fs = new MemFiles({ '/etc/containerd/config.toml': original });
  const { plan, installed } = roundTrip(fs, target({ version: v17 }));
  assert.equal(plan.addsDefaultRuntime, true);
  const rt = runtimesOf(installed['/etc/containerd/config.toml']!, 'io.containerd.grpc.v1.cri');
  assert.deepEqual(Object.keys(rt).sort(), ['runc', 'vnode']);
  const parsed = parse(installed['/etc/containerd/config.toml']!) as any;
  assert.equal(parsed.timeouts['io.containerd.timeout.shim.cleanup'], '5s', 'the unterminated last line still parses');
  assert.equal(parsed.metrics.address, '127.0.0.1:1338');
});

test('1.7 with a systemd-cgroup runc: runc left alone, not redefined', () => {
  const fs = new MemFiles({ '/etc/containerd/config.toml': fx('v17-runc-systemd.toml') });
  const { plan, installed } = roundTrip(fs, target({ version: v17 }));
  assert.equal(plan.addsDefaultRuntime, false);
  const rt = runtimesOf(installed['/etc/containerd/config.toml']!, 'io.containerd.grpc.v1.cri');
  assert.equal(rt.runc.options.SystemdCgroup, true);
});

test('1.7 with imports: the imported file that owns the CRI section is edited, not a new drop-in', () => {
  const fs = new MemFiles({
    '/etc/containerd/config.toml': fx('v17-imports/config.toml'),
    '/etc/containerd/conf.d/10-cri.toml': fx('v17-imports/conf.d/10-cri.toml'),
  });
  const { plan, installed } = roundTrip(fs, target({ version: v17 }));
  assert.equal(plan.mode, 'cri-owner');
  assert.equal(plan.file, '/etc/containerd/conf.d/10-cri.toml');
  assert.equal(installed['/etc/containerd/config.toml'], fx('v17-imports/config.toml'), 'root untouched');
  assert.deepEqual(Object.keys(installed), ['/etc/containerd/conf.d/10-cri.toml', '/etc/containerd/config.toml'], 'no new file');
  assert.equal(plan.cni.confDir, '/etc/cni/custom.d', 'CNI settings come from the owner of the CRI table');
});

test('missing config: a new root config (version 2 on 1.x, 3 on 2.x) that uninstall deletes', () => {
  for (const [version, want, plugin] of [[v16, 2, 'io.containerd.grpc.v1.cri'], [v21, 3, 'io.containerd.cri.v1.runtime']] as const) {
    const fs = new MemFiles({});
    const { plan, installed } = roundTrip(fs, target({ version }));
    assert.equal(plan.mode, 'create-root');
    const text = installed['/etc/containerd/config.toml']!;
    assert.equal((parse(text) as any).version, want);
    assert.ok(runtimesOf(text, plugin).vnode);
    assert.equal(findBlocks(text)[0]!.created, true);
    assert.equal(fs.readText('/etc/containerd/config.toml'), undefined, 'removed again');
  }
});

test('2.x with imports = [conf.d/*.toml]: a drop-in with the root version 3; root untouched', () => {
  const fs = new MemFiles({ '/etc/containerd/config.toml': fx('v2-default.toml') });
  const { plan, installed } = roundTrip(fs, target({ version: v21 }));
  assert.equal(plan.mode, 'drop-in');
  assert.equal(plan.file, '/etc/containerd/conf.d/vnode-runtime.toml');
  assert.equal(installed['/etc/containerd/config.toml'], fx('v2-default.toml'));
  const dropIn = parse(installed['/etc/containerd/conf.d/vnode-runtime.toml']!) as any;
  assert.equal(dropIn.version, 3);
  assert.equal(dropIn.plugins['io.containerd.cri.v1.runtime'].containerd.runtimes.vnode.runtime_path, spec.runtimePath);
  assert.equal(dropIn.plugins['io.containerd.cri.v1.runtime'].containerd.runtimes.runc, undefined, '2.x deep-merges; runc is not redefined');
  assert.deepEqual(plan.cni, { confDir: '/etc/cni/net.d', binDir: '/opt/cni/bin' });
});

test('2.x reading a version 2 file with relative imports: drop-in written as version 2 with grpc.v1.cri', () => {
  const fs = new MemFiles({ '/etc/containerd/config.toml': fx('v2-v2config.toml') });
  const { plan, installed } = roundTrip(fs, target({ version: v21 }));
  assert.equal(plan.mode, 'drop-in');
  const dropIn = parse(installed['/etc/containerd/conf.d/vnode-runtime.toml']!) as any;
  assert.equal(dropIn.version, 2);
  assert.ok(dropIn.plugins['io.containerd.grpc.v1.cri'].containerd.runtimes.vnode);
});

test('2.x without imports: root edit; bin_dir read from the v3 CNI table', () => {
  const fs = new MemFiles({ '/etc/containerd/config.toml': fx('v2-noimports.toml') });
  const { plan } = roundTrip(fs, target({ version: v21 }));
  assert.equal(plan.mode, 'root');
  assert.deepEqual(plan.cni, { confDir: '/etc/cni/net.d', binDir: '/usr/libexec/cni' });
});

test('2.x with an existing drop-in dir keeps other drop-ins and finds ours again', () => {
  const fs = new MemFiles({
    '/etc/containerd/config.toml': fx('v2-default.toml'),
    '/etc/containerd/conf.d/50-gpu.toml': "version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.nvidia]\n  runtime_type = 'io.containerd.runc.v2'\n",
  });
  const { installed } = roundTrip(fs, target({ version: v21 }));
  assert.equal(Object.keys(installed).length, 3);
});

test('an upgrade with a new runtime path replaces the block in place (one edit), and removal still restores', () => {
  const fs = new MemFiles({ '/etc/containerd/config.toml': fx('v16-default.toml') });
  const original = fs.snapshot();
  fs.apply(planInstall(fs, target({ version: v16 }), spec).edits);
  const plan2 = planInstall(fs, target({ version: v16 }), { ...spec, podAnnotations: ['vnode.io/*', 'example.com/x'] });
  assert.equal(plan2.edits.length, 1);
  fs.apply(plan2.edits);
  assert.equal(findBlocks(fs.readText('/etc/containerd/config.toml')!).length, 1);
  fs.apply(planRemoval(fs, target()));
  assert.deepEqual(fs.snapshot(), original);
});

test('refusals say why: inline runtimes table, foreign vnode handler, v3 on 1.x, no version on 2.x, bad TOML', () => {
  const one = (text: string, version = v17) => () => planInstall(new MemFiles({ '/etc/containerd/config.toml': text }), target({ version }), spec);
  assert.throws(one(fx('inline-runtimes.toml')), /would change plugins\.io\.containerd\.grpc\.v1\.cri\.containerd\.runtimes|not valid TOML/);
  assert.throws(one(fx('foreign-vnode.toml')), /already defines runtime handler "vnode"/);
  assert.throws(one(fx('v2-noimports.toml'), v16), /config version 3, which containerd 1\.6\.20 does not read/);
  assert.throws(one('[grpc]\naddress = "/run/x.sock"\n', v21), /has no `version`/);
  assert.throws(one('version = 2\n[plugins\n'), /not valid TOML/);
});

test('version 1 config on 1.x uses the short plugin id "cri"', () => {
  const fs = new MemFiles({ '/etc/containerd/config.toml': '[plugins.cri]\n  sandbox_image = "k8s.gcr.io/pause:3.2"\n' });
  const { plan, installed } = roundTrip(fs, target({ version: v16 }));
  assert.equal(plan.pluginId, 'cri');
  assert.ok((parse(installed['/etc/containerd/config.toml']!) as any).plugins.cri.containerd.runtimes.vnode);
});

test('k3s without templates: creates config-v3.toml.tmpl extending "base" (rendered config is v3), deleted on removal', () => {
  const cfg = '/var/lib/rancher/k3s/agent/etc/containerd/config.toml';
  const fs = new MemFiles({ [cfg]: fx('k3s/config-v3.rendered.toml') });
  const t = target({ flavor: 'k3s', configPath: cfg, version: k3sV });
  const { plan, installed } = roundTrip(fs, t);
  assert.equal(plan.mode, 'k3s-template');
  assert.equal(plan.file, '/var/lib/rancher/k3s/agent/etc/containerd/config-v3.toml.tmpl');
  const tmpl = installed[plan.file]!;
  assert.match(tmpl, /^# BEGIN vnode-runtime[^\n]*created=1\n\{\{ template "base" \. \}\}\n/);
  assert.match(tmpl, /\[plugins\.'io\.containerd\.cri\.v1\.runtime'\.containerd\.runtimes\.vnode\]/);
  assert.equal(installed[cfg], fx('k3s/config-v3.rendered.toml'), 'the rendered file is k3s business');
  assert.deepEqual(plan.cni, { confDir: '/var/lib/rancher/k3s/agent/etc/cni/net.d', binDir: '/var/lib/rancher/k3s/data/cni' });
});

test('k3s with the admin\'s config.toml.tmpl (Go template): block appended to it, v2 plugin id, bytes restored', () => {
  const dir = '/var/lib/rancher/k3s/agent/etc/containerd';
  const fs = new MemFiles({ [`${dir}/config.toml`]: '# File generated by k3s.\nversion = 2\n', [`${dir}/config.toml.tmpl`]: fx('k3s/config.toml.tmpl') });
  const { plan, installed } = roundTrip(fs, target({ flavor: 'k3s', configPath: `${dir}/config.toml`, version: v17 }));
  assert.equal(plan.file, `${dir}/config.toml.tmpl`);
  assert.ok(installed[plan.file]!.startsWith(fx('k3s/config.toml.tmpl')));
  assert.match(installed[plan.file]!, /\[plugins\."io\.containerd\.grpc\.v1\.cri"\]?\.containerd\.runtimes\.vnode\]/);
  assert.doesNotMatch(installed[plan.file]!.slice(fx('k3s/config.toml.tmpl').length), /template "base"/, 'no second base');
});

// containerd itself judges the result: `containerd --config F config dump` prints the merged
// configuration exactly as the daemon would load it (no daemon needed).
const containerdBin = ['/usr/bin/containerd', '/usr/local/bin/containerd'].find((p) => existsSync(p));
test('containerd 1.6 on this machine loads every edited config with the vnode handler and runc', { skip: skipUnless({ what: 'containerd (/usr/bin or /usr/local/bin)', met: () => containerdBin !== undefined, how: 'npm test installs the packages' }) }, (t) => {
  const version = parseContainerdVersion(execFileSync(containerdBin!, ['--version'], { encoding: 'utf8' }));
  const dir = mkdtempSync(join(tmpdir(), 'vnode-inst-dump-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dump = (cfg: string) => execFileSync(containerdBin!, ['--config', cfg, 'config', 'dump'], { encoding: 'utf8' });
  const cases: Record<string, Record<string, string>> = {
    default: { 'config.toml': fx('v16-default.toml') },
    kubeadm: { 'config.toml': fx('v17-kubeadm.toml') },
    missing: {},
    imports: {
      'config.toml': fx('v17-imports/config.toml').replace('/etc/containerd/conf.d/*.toml', `${dir}/imports/conf.d/*.toml`),
      'conf.d/10-cri.toml': fx('v17-imports/conf.d/10-cri.toml'),
    },
  };
  for (const [name, files] of Object.entries(cases)) {
    const base = join(dir, name);
    mkdirSync(join(base, 'conf.d'), { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(join(base, f), text);
    const fs = new MemFiles(Object.fromEntries(Object.entries(files).map(([f, text]) => [join(base, f), text])));
    const plan = planInstall(fs, target({ configPath: join(base, 'config.toml'), version }), spec);
    fs.apply(plan.edits);
    for (const e of plan.edits) writeFileSync(e.path, e.after!);
    const out = parse(dump(join(base, 'config.toml'))) as any;
    const cri = out.plugins['io.containerd.grpc.v1.cri'];
    assert.equal(cri.containerd.runtimes.vnode.runtime_type, 'io.containerd.vnode.v2', `${name}: vnode loaded`);
    assert.equal(cri.containerd.runtimes.vnode.runtime_path, spec.runtimePath, `${name}: runtime_path`);
    assert.equal(cri.containerd.runtimes.vnode.cni_conf_dir, spec.cniConfDir, `${name}: cni_conf_dir`);
    assert.equal(cri.containerd.runtimes.runc?.runtime_type, 'io.containerd.runc.v2', `${name}: runc kept`);
    if (name !== 'missing') assert.equal(cri.sandbox_image, 'registry.k8s.io/pause:3.9', `${name}: unrelated CRI settings kept`);
    if (name === 'imports') assert.equal(cri.cni.conf_dir, '/etc/cni/custom.d');
  }
});
