// The `vnode` CLI without a manager: argument parsing, the human formats, the doctor's verdicts,
// and that --json output is the report itself (it parses back through the report schema).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InspectReportSchema, ListReportSchema, StatusReportSchema, type InspectReport, type ListReport, type StatusReport } from '../manager/introspectionReports.js';
import { parseCli } from './cliArgs.js';
import { doctorChecks, type DoctorInputs } from './doctor.js';
import { duration, formatDoctor, formatInspect, formatList, formatStatus } from './format.js';

test('parseCli: commands, options, environment defaults and usage errors', () => {
  const env = { VNODE_RUN_DIR: '/run/x' };
  const s = parseCli(['status', '--json'], env);
  assert.ok(s.ok);
  assert.equal(s.command, 'status');
  assert.equal(s.options.json, true);
  assert.equal(s.options.runDir, '/run/x');
  const i = parseCli(['inspect', 'abcd1234', '--run-dir', '/r', '--timeout-ms', '500'], env);
  assert.ok(i.ok);
  assert.deepEqual([i.ref, i.options.runDir, i.options.timeoutMs], ['abcd1234', '/r', 500]);
  const h = parseCli(['health', '--ready'], {});
  assert.ok(h.ok && h.options.ready && h.options.runDir === '/run/vnode');
  const d = parseCli(['doctor'], { VNODE_CONTAINERD_CONFIG: '/c.toml' });
  assert.ok(d.ok && d.options.containerdConfig === '/c.toml' && d.options.containerdRoot === '/var/lib/containerd');
  assert.ok(parseCli([], {}).ok && (parseCli([], {}) as { command: string }).command === 'help');
  const bad: [string[], RegExp][] = [
    [['frobnicate'], /unknown command "frobnicate"/],
    [['ls', '--bogus'], /Unknown option '--bogus'/],
    [['inspect'], /inspect takes one vNode name/],
    [['inspect', 'a', 'b'], /inspect takes one/],
    [['ls', 'extra'], /ls takes no argument/],
    [['status', '--timeout-ms', '0'], /--timeout-ms must be a positive number/],
    [['status', '--timeout-ms', 'soon'], /--timeout-ms must be a positive number/],
    [['health', '--json'], /health takes no --json/],
    [['ls', '--ready'], /ls takes no --ready/],
    [['status', '--run-dir'], /argument missing/],
  ];
  for (const [argv, msg] of bad) {
    const r = parseCli(argv, {});
    assert.equal(r.ok, false, argv.join(' '));
    assert.match((r as { error: string }).error, msg, argv.join(' '));
  }
});

const vnode = {
  name: 'ns-demo',
  key: 'ns:demo',
  state: 'ready',
  idRange: { uidStart: 268435456, gidStart: 268435456, size: 65536 },
  holderPid: 4242,
  namespaces: { user: 'user:[4026532999]', net: 'net:[4026533001]', pid: null },
  createdAt: '2026-01-01T00:00:00.000Z',
  pods: [{ id: 'f00dcafe0123456789', namespace: 'demo', name: 'web', containers: 2 }],
};
const status: StatusReport = {
  pid: 10,
  uptimeSeconds: 3725.4,
  subsystems: [
    { name: 'launch', status: 'ok', detail: 'answers', live: true },
    { name: 'vnodefs', status: 'failed', detail: '1 of 2 FUSE workers ended', live: true },
    { name: 'metrics', status: 'off', detail: 'metrics disabled', live: false },
  ],
  version: '0.1.0',
  startedAt: '2026-01-01T00:00:00.000Z',
  runDir: '/run/vnode',
  stateDir: '/var/lib/vnode',
  cni: { confDir: '/etc/cni/vnode.d', binDir: '/opt/cni/bin' },
  metricsUrl: null,
  counts: { vnodes: 1, pods: 1, containers: 2, seccompListeners: 2, syscallsIntercepted: 7, vnodefsRequests: 99 },
};

test('formatStatus, formatList, formatInspect: what an operator reads', () => {
  const s = formatStatus(status);
  assert.match(s, /^vnode-manager 0\.1\.0: DEGRADED \(vnodefs failed\)\n/);
  assert.match(s, /up 1h2m/);
  assert.match(s, /metrics not served/);
  assert.match(s, /\n {2}vnodefs {2}failed {2}1 of 2 FUSE workers ended\n/);
  assert.match(s, /1 vNodes, 1 pods, 2 containers, 2 seccomp listeners, 7 syscalls intercepted, 99 vnodefs requests/);
  assert.equal(formatStatus({ ...status, subsystems: [status.subsystems[0]!] }).split('\n')[0], 'vnode-manager 0.1.0: healthy');

  const list: ListReport = { vnodes: [vnode] };
  const l = formatList(list).split('\n');
  assert.match(l[0]!, /^VNODE\s+STATE\s+UIDS\s+HOLDER\s+USERNS\s+NETNS\s+PODS$/);
  assert.match(l[1]!, /^ns-demo\s+ready\s+268435456-268500991\s+4242\s+4026532999\s+4026533001\s+demo\/web$/);
  assert.match(formatList(list), /f00dcafe01234\s+demo\s+web\s+ns-demo\s+2/);
  assert.equal(formatList({ vnodes: [] }), 'no vNodes on this node\n');

  const insp: InspectReport = {
    kind: 'pod',
    vnode,
    pod: vnode.pods[0]!,
    containers: [{ id: 'c0ffee', sandbox: true, pid: 77, namespaces: { user: 'user:[4026532999]' }, uidMap: '0 268435456 65536', mounts: [{ mountPoint: '/proc/meminfo', fsType: 'fuse.vnodefs', source: 'vnodefs' }, { mountPoint: '/', fsType: 'overlay', source: 'overlay' }], seccompListeners: 1 }],
    hostMounts: [{ mountPoint: '/run/vnode/vnodes/ns-demo/root', fsType: 'tmpfs', source: 'tmpfs' }],
    seccomp: { listeners: 1, syscalls: { mount: { answered: 2, errno: 1 } } },
    vnodefs: { mounted: true, requests: 5, failed: 0, malformed: 0, openHandles: 1, sysctlsWritten: { 'net/core/somaxconn': '512' } },
  };
  const t = formatInspect(insp);
  assert.match(t, /^pod f00dcafe0123456789 \(demo\/web\) in vNode ns-demo\n/);
  assert.match(t, /ids: uid 268435456-268500991, gid 268435456-268500991/);
  assert.match(t, /container c0ffee \(sandbox\): pid 77, uid_map 0 268435456 65536, 1 seccomp listeners/);
  assert.match(t, /mounts: 2 \(1 from vnodefs\)/);
  assert.match(t, /syscalls: mount answered=2\/errno=1/);
  assert.match(t, /sysctls written by this vNode: net\/core\/somaxconn=512/);
  assert.equal(duration(59), '59s');
  assert.equal(duration(90061), '1d1h');

  // --json prints the report as is: it parses back through the schema the CLI checks answers with.
  for (const [schema, r] of [[StatusReportSchema, status], [ListReportSchema, list], [InspectReportSchema, insp]] as const) {
    assert.deepEqual((schema as typeof StatusReportSchema).parse(JSON.parse(JSON.stringify(r, null, 2))), r);
  }
  // A manager answer of another shape is refused, not printed half-right.
  assert.equal(StatusReportSchema.safeParse({ ...status, counts: {} }).success, false);
});

const good: DoctorInputs = {
  facts: { kernelRelease: '6.6.0', cgroup: 'v2', seccompActions: ['kill_process', 'user_notif'], maxUserNamespaces: 100, containerd: { major: 1, minor: 6, patch: 20, raw: '1.6.20' }, containerdRootFs: 'ext4' },
  fuse: { dev: true, filesystem: true },
  containerdConfig: { path: '/etc/containerd/config.toml', text: '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.vnode]\nruntime_type = "io.containerd.vnode.v2"\n' },
  cni: { confDir: '/etc/cni/vnode.d', binDir: '/opt/cni/bin', conflists: [{ file: '/etc/cni/vnode.d/10-x.conflist', text: JSON.stringify({ plugins: [{ type: 'bridge' }, { type: 'vnode-cni' }] }) }], binaries: ['bridge', 'vnode-cni'] },
  manager: { ok: true, message: 'up' },
};

test('doctorChecks: one verdict per check, a fix for each that is not ok', () => {
  const ok = doctorChecks(good);
  assert.deepEqual(ok.map((c) => c.check), ['kernel', 'cgroup', 'seccomp', 'userns', 'containerd', 'idmap', 'fuse', 'containerd-config', 'cni', 'manager']);
  assert.ok(ok.every((c) => c.verdict === 'ok' && c.fix === ''), JSON.stringify(ok));
  assert.match(formatDoctor(ok), /every check passed\n$/);

  const bad = doctorChecks({
    ...good,
    facts: { ...good.facts, cgroup: 'hybrid', maxUserNamespaces: 0, seccompActions: ['kill_process'] },
    fuse: { dev: false, filesystem: true },
    containerdConfig: { path: '/c.toml', text: '[plugins.x.runtimes.vnode]\nruntime_type = "io.containerd.runc.v2"\n' },
    cni: { ...good.cni, binaries: ['vnode-cni'] },
    manager: { ok: false, message: 'no manager socket' },
  });
  const by = Object.fromEntries(bad.map((c) => [c.check, c]));
  assert.equal(by.cgroup!.verdict, 'warn');
  assert.match(by.cgroup!.fix, /cgroup v2/);
  assert.equal(by.userns!.verdict, 'fail');
  assert.match(by.userns!.fix, /max_user_namespaces/);
  assert.equal(by.seccomp!.verdict, 'fail');
  assert.match(by.fuse!.detail, /\/dev\/fuse is missing/);
  assert.match(by['containerd-config']!.detail, /runtime_type "io.containerd.runc.v2"/);
  assert.match(by.cni!.detail, /missing from \/opt\/cni\/bin: bridge/);
  assert.equal(by.manager!.verdict, 'fail');
  assert.equal(by.kernel!.verdict, 'ok');
  assert.match(formatDoctor(bad), /FAIL {2}userns: user namespaces are disabled.*\n {6}fix: sysctl/);
  assert.match(formatDoctor(bad), /6 check\(s\) failed, 1 warning\(s\)\n$/);

  assert.match(doctorChecks({ ...good, containerdConfig: { path: '/c', text: null } }).find((c) => c.check === 'containerd-config')!.detail, /cannot be read/);
  assert.match(doctorChecks({ ...good, containerdConfig: { path: '/c', text: 'version = 2\n' } }).find((c) => c.check === 'containerd-config')!.detail, /no runtime handler "vnode"/);
  assert.match(doctorChecks({ ...good, cni: { ...good.cni, conflists: [] } }).find((c) => c.check === 'cni')!.detail, /no conflist in \/etc\/cni\/vnode.d chains vnode-cni/);
});
