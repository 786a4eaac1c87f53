// The spec rewrite on real specs written by containerd 1.6's CRI (fixtures captured from the e2e
// test bed): a plain pod and a privileged hostNetwork + hostPID pod with a hostPath mount.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { containerBindings } from '../vnodefs/VnodeFs.js';
import { cgroupWritable, hostNamespacesOf, parseSpec, rewriteSpec, SpecError, type VNodeTarget } from './SpecRewriter.js';

const fixture = (name: string) => parseSpec(readFileSync(new URL(`../../../agent/spec/fixtures/${name}.json`, import.meta.url), 'utf8'), name);
const target: VNodeTarget = {
  namespaces: { user: '/proc/42/ns/user', net: '/proc/42/ns/net', ipc: '/proc/42/ns/ipc', uts: '/proc/42/ns/uts', pid: '/proc/42/ns/pid' },
  idRange: { uidStart: 268435456, gidStart: 268435456, size: 65536 },
  podNetns: '/run/vnode/vnodes/vn-x/netns/abc',
  procBindings: [{ source: '/run/vnode/vnodefs/proc/meminfo', destination: '/proc/meminfo' }],
};
const nsMap = (s: ReturnType<typeof fixture>) => Object.fromEntries((s.linux.namespaces ?? []).map((n) => [n.type, n.path ?? '(new)']));

test('a plain sandbox joins the vNode user namespace and its own vNode-owned netns', () => {
  const s = fixture('sandbox-plain');
  const host = hostNamespacesOf(s);
  assert.deepEqual(host, { hostNetwork: false, hostPID: false, hostIPC: false });
  const r = rewriteSpec(s, true, host, target);
  assert.deepEqual(nsMap(r), { user: '/proc/42/ns/user', pid: '(new)', ipc: '(new)', uts: '(new)', mount: '(new)', network: target.podNetns });
  assert.equal(r.linux.namespaces![0]!.type, 'user', 'user first: runc joins it before the others');
  assert.deepEqual(r.linux.uidMappings, [{ containerID: 0, hostID: 268435456, size: 65536 }]);
  assert.deepEqual(r.linux.gidMappings, [{ containerID: 0, hostID: 268435456, size: 65536 }]);
  assert.ok(!r.mounts!.some((m) => m.destination === '/proc/meminfo'), 'the pause process reads no emulated file');
  // the input is untouched
  assert.ok(!(s.linux.namespaces ?? []).some((n) => n.type === 'user'));
});

test('a plain container keeps the sandbox namespaces and gets the maps', () => {
  const s = fixture('container-plain');
  const r = rewriteSpec(s, false, { hostNetwork: false, hostPID: false, hostIPC: false }, target);
  const before = nsMap(s);
  assert.deepEqual(nsMap(r), { user: '/proc/42/ns/user', ...before });
  assert.equal(r.linux.uidMappings![0]!.hostID, 268435456);
  assert.ok(r.mounts!.some((m) => m.destination === '/proc/meminfo' && m.source === '/run/vnode/vnodefs/proc/meminfo' && m.options!.includes('ro')));
});

test('a privileged container (its cgroupfs read-write) gets a cgroup namespace of its own; a plain one and a sandbox do not', () => {
  const none = { hostNetwork: false, hostPID: false, hostIPC: false };
  const priv = fixture('container-privileged-hostnet-hostpid');
  assert.equal(cgroupWritable(priv), true, 'containerd mounts a privileged container\'s cgroupfs rw');
  assert.equal(nsMap(rewriteSpec(priv, false, { ...none, hostNetwork: true, hostPID: true }, target)).cgroup, '(new)');
  const plain = fixture('container-plain');
  assert.equal(cgroupWritable(plain), false);
  assert.equal(nsMap(rewriteSpec(plain, false, none, target)).cgroup, undefined);
  assert.equal(nsMap(rewriteSpec(fixture('sandbox-privileged-hostnet-hostpid'), true, { ...none, hostNetwork: true, hostPID: true }, { ...target, podNetns: undefined })).cgroup, undefined);
});

test('hostNetwork + hostPID sandbox gets the vNode network, uts and pid, not the host ones', () => {
  const s = fixture('sandbox-privileged-hostnet-hostpid');
  const host = hostNamespacesOf(s);
  assert.deepEqual(host, { hostNetwork: true, hostPID: true, hostIPC: false });
  const r = rewriteSpec(s, true, host, { ...target, podNetns: undefined });
  assert.deepEqual(nsMap(r), { user: '/proc/42/ns/user', ipc: '(new)', mount: '(new)', network: '/proc/42/ns/net', uts: '/proc/42/ns/uts', pid: '/proc/42/ns/pid' });
  // Every namespace that CRI left to the host is now the vNode's: none is missing.
  for (const t of ['network', 'uts', 'pid', 'ipc', 'mount', 'user']) assert.ok(nsMap(r)[t], t);
});

test('a privileged container keeps its capabilities but only the safe host devices', () => {
  const s = fixture('container-privileged-hostnet-hostpid');
  assert.ok(s.linux.devices!.length > 50, 'CRI hands a privileged container every host device');
  const r = rewriteSpec(s, false, { hostNetwork: true, hostPID: true, hostIPC: false }, target);
  const paths = r.linux.devices!.map((d) => d.path).sort();
  for (const p of paths) assert.ok(['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/fuse', '/dev/net/tun'].includes(p), p);
  assert.ok(!paths.some((p) => /sd|vd|nvme|mem|kmsg|port/.test(p)));
  assert.deepEqual(r.linux.resources!.devices![0], { allow: false, access: 'rwm' });
  assert.ok(!r.linux.resources!.devices!.some((d) => d.allow && (d.type ?? 'a') === 'a'), 'no allow-all rule');
  assert.ok(r.linux.resources!.devices!.some((d) => d.allow && d.type === 'c' && d.major === 1 && d.minor === 3), '/dev/null allowed');
  assert.ok(!r.linux.resources!.devices!.some((d) => d.allow && d.type === 'b'), 'no block device allowed');
  assert.deepEqual(r.process, s.process, 'capabilities and the rest of the process are untouched');
  // the hostPath mount passes through (the user namespace is what protects it)
  assert.ok(r.mounts!.some((m) => m.destination === '/host-etc' && m.source === '/etc'));
});

test("a hostPath of the host's /proc or /sys becomes the container's own procfs/sysfs; other binds keep locked flags", () => {
  const s = fixture('container-plain');
  s.mounts = [
    ...(s.mounts ?? []),
    { destination: '/host/proc', type: 'bind', source: '/proc', options: ['rbind', 'rprivate', 'ro'] },
    { destination: '/host/sys', type: 'bind', source: '/sys', options: ['rbind', 'rprivate'] },
    { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro'] },
  ];
  const fsOf: Record<string, { fsType: string; lockedFlags: string[] }> = {
    '/proc': { fsType: 'proc', lockedFlags: ['nosuid', 'nodev', 'noexec'] },
    '/sys': { fsType: 'sysfs', lockedFlags: ['nosuid', 'nodev', 'noexec'] },
    '/srv/data': { fsType: 'ext4', lockedFlags: ['nodev'] },
  };
  const r = rewriteSpec(s, false, { hostNetwork: false, hostPID: false, hostIPC: false }, { ...target, hostMountOf: (p) => fsOf[p] });
  const m = (d: string) => r.mounts!.find((x) => x.destination === d)!;
  assert.deepEqual(m('/host/proc'), { destination: '/host/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev', 'ro'] });
  assert.deepEqual(m('/host/sys'), { destination: '/host/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] });
  assert.deepEqual(m('/data').options, ['rbind', 'ro', 'nodev']);
});

test('a pod without its vNode netns is refused, and a malformed spec names the bad field', () => {
  assert.throws(() => rewriteSpec(fixture('sandbox-plain'), true, { hostNetwork: false, hostPID: false, hostIPC: false }, { ...target, podNetns: undefined }), SpecError);
  assert.throws(() => parseSpec('{"ociVersion":"1","linux":{"namespaces":[{"path":"/x"}]}}', 'b/config.json'), /b\/config\.json: linux\.namespaces\.0\.type: Required/);
  assert.throws(() => parseSpec('{', 'c'), /c: not JSON/);
});

// The path rules for vnodefs' binds, on fixture hosts: one like this machine (no DMI, ACPI
// firmware, no /sys/hypervisor) and one with DMI and a hypervisor directory.
const VFS = '/run/vnode/vnodefs';
const all = containerBindings(VFS);
const noDmiHost = (p: string): boolean => !p.startsWith('/sys/devices/virtual/dmi') && p !== '/sys/hypervisor' && p !== '/proc/sys/net/netfilter/nf_conntrack_max';
const dmiHost = (_p: string): boolean => true;
const PLAIN = { hostNetwork: false, hostPID: false, hostIPC: false };
const binds = (r: ReturnType<typeof rewriteSpec>): Map<string, { source?: string; options?: string[] }> =>
  new Map((r.mounts ?? []).filter((m) => m.source?.startsWith(`${VFS}/`)).map((m) => [m.destination, m]));

test('vnodefs binds: what the host lacks is left out (runc would fail creating it); DMI and firmware come as directories', () => {
  const onThis = binds(rewriteSpec(fixture('container-plain'), false, PLAIN, { ...target, procBindings: all, hostHas: noDmiHost }));
  assert.ok(!onThis.has('/sys/devices/virtual/dmi/id'), 'no DMI on the host: none in the pod');
  assert.ok(!onThis.has('/sys/hypervisor'));
  assert.equal(onThis.get('/sys/firmware')?.source, `${VFS}/sys/firmware`, 'the host firmware directory is hidden by an empty one');
  assert.deepEqual(onThis.get('/sys/firmware')?.options, ['bind', 'ro', 'nosuid', 'nodev']);
  assert.ok(onThis.has('/proc/meminfo') && onThis.has('/sys/devices/system/cpu/online'));
  const withDmi = binds(rewriteSpec(fixture('container-plain'), false, PLAIN, { ...target, procBindings: all, hostHas: dmiHost }));
  assert.equal(withDmi.get('/sys/devices/virtual/dmi/id')?.source, `${VFS}/sys/devices/virtual/dmi/id`);
  assert.ok(withDmi.has('/sys/hypervisor'));
  assert.ok(![...withDmi.keys()].some((d) => d.startsWith('/sys/devices/virtual/dmi/id/')), 'the directory, not file by file');
  // /proc/sys paths (boot_id, the sysctl entries) are bound before runc start: runc refuses them here.
  assert.ok(![...withDmi.keys()].some((d) => d.startsWith('/proc/sys/')));
});

test("vnodefs binds over a hostPath of the host's /sys and /proc: the same files below their destination, read-only, no sysctl entries", () => {
  const s = fixture('container-privileged-hostnet-hostpid');
  s.mounts = [
    ...(s.mounts ?? []),
    { destination: '/host/sys', type: 'bind', source: '/sys', options: ['rbind', 'rprivate', 'ro'] },
    { destination: '/host/proc/', type: 'bind', source: '/proc', options: ['rbind', 'rprivate', 'ro'] },
    { destination: '/dmi', type: 'bind', source: '/sys/class/dmi/id', options: ['rbind', 'rprivate', 'ro'] },
  ];
  const fsOf = (p: string) => (p === '/proc' ? { fsType: 'proc', lockedFlags: [] } : p.startsWith('/sys') ? { fsType: 'sysfs', lockedFlags: [] } : undefined);
  const r = binds(rewriteSpec(s, false, { hostNetwork: true, hostPID: true, hostIPC: false }, { ...target, procBindings: all, hostHas: dmiHost, hostMountOf: fsOf }));
  assert.equal(r.get('/host/sys/devices/virtual/dmi/id')?.source, `${VFS}/sys/devices/virtual/dmi/id`);
  assert.equal(r.get('/host/sys/firmware')?.source, `${VFS}/sys/firmware`);
  assert.equal(r.get('/host/sys/devices/system/cpu/online')?.source, `${VFS}/sys/devices/system/cpu/online`);
  assert.equal(r.get('/host/proc/meminfo')?.source, `${VFS}/proc/meminfo`);
  assert.equal(r.get('/host/proc/sys/kernel/random/boot_id')?.source, `${VFS}/proc/sys/kernel/random/boot_id`, 'outside /proc runc binds it');
  assert.ok(!r.has('/host/proc/sys/kernel/pid_max'), 'writable sysctl entries are not bound over a hostPath /proc');
  assert.ok(r.get('/host/proc/sys/kernel/random/boot_id')!.options!.includes('ro'));
  // A hostPath of a sysfs subdirectory is a whole sysfs instance too: covered the same way.
  assert.equal(r.get('/dmi/devices/virtual/dmi/id')?.source, `${VFS}/sys/devices/virtual/dmi/id`);
  assert.equal(r.get('/dmi/firmware')?.source, `${VFS}/sys/firmware`);
  // On a host without DMI the hostPath instances leave it out as well.
  const bare = binds(rewriteSpec(s, false, { hostNetwork: true, hostPID: true, hostIPC: false }, { ...target, procBindings: all, hostHas: noDmiHost, hostMountOf: fsOf }));
  assert.ok(![...bare.keys()].some((d) => d.includes('/dmi/id')));
  assert.ok(bare.has('/host/sys/firmware'));
});

test('a hostPath of /proc mounted on the container\'s /proc leaves /proc/sys to the start-time binds, and a mount the pod has is never doubled', () => {
  const s = fixture('container-plain');
  s.mounts = [...(s.mounts ?? []), { destination: '/proc', type: 'bind', source: '/proc', options: ['rbind'] }, { destination: '/sys/firmware', type: 'bind', source: '/srv/fw', options: ['rbind'] }];
  const fsOf = (p: string) => (p === '/proc' ? { fsType: 'proc', lockedFlags: [] } : { fsType: 'ext4', lockedFlags: [] });
  const r = rewriteSpec(s, false, PLAIN, { ...target, procBindings: all, hostHas: dmiHost, hostMountOf: fsOf });
  assert.ok(!r.mounts!.some((m) => m.destination.startsWith('/proc/sys/')), 'runc would refuse it');
  assert.equal(r.mounts!.filter((m) => m.destination === '/proc/meminfo').length, 1);
  assert.deepEqual(r.mounts!.filter((m) => m.destination === '/sys/firmware').map((m) => m.source), ['/srv/fw'], "the pod's own mount there stays");
});
