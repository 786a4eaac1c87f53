// Which devices a container asked for (containerd's spec, plain and privileged) and which a vNode
// may have: the allow-list by the kernel's name or driver, never by path; block devices refused.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { checkDeviceRequest, DEFAULT_DEVICE_ALLOW, deviceRequestsOf, globMatches, type DeviceRequest } from './DeviceRequests.js';
import { devnameOf, parseProcDevices } from './hostDeviceOf.js';
import { parseSpec, rewriteSpec, type OciSpec } from './SpecRewriter.js';

const fixture = (name: string) => parseSpec(readFileSync(new URL(`../../../agent/spec/fixtures/${name}.json`, import.meta.url), 'utf8'), name);
const noHostNodes = () => undefined;

/** What containerd's WithDevices adds for a request. */
function withRequest(spec: OciSpec, path: string, type: 'c' | 'b', major: number, minor: number, access: string): OciSpec {
  const s = structuredClone(spec);
  s.linux.devices = [...(s.linux.devices ?? []), { path, type, major, minor, fileMode: 0o600, uid: 0, gid: 0 }];
  s.linux.resources ??= {};
  s.linux.resources.devices = [...(s.linux.resources.devices ?? []), { allow: true, type, major, minor, access }];
  return s;
}

test('a plain container: every listed device is a request, with the union of its rules', () => {
  let s = withRequest(fixture('container-plain'), '/dev/fuse', 'c', 10, 229, 'rw');
  s = withRequest(s, '/dev/a', 'c', 1, 3, 'r');
  s = withRequest(s, '/dev/b', 'c', 1, 3, 'wm');
  assert.deepEqual(deviceRequestsOf(s, noHostNodes), [
    { containerPath: '/dev/fuse', type: 'c', major: 10, minor: 229, access: 'rw' },
    { containerPath: '/dev/a', type: 'c', major: 1, minor: 3, access: 'rwm' },
    { containerPath: '/dev/b', type: 'c', major: 1, minor: 3, access: 'rwm' },
  ]);
  assert.deepEqual(deviceRequestsOf(fixture('container-plain'), noHostNodes), []);
});

test("a privileged container: the host's own devices are not requests; a new path or a repeated one is", () => {
  const s = fixture('container-privileged-hostnet-hostpid');
  const hostNodes = new Map(s.linux.devices!.map((d) => [d.path, { type: d.type, major: d.major!, minor: d.minor! }]));
  const at = (p: string) => hostNodes.get(p);
  assert.deepEqual(deviceRequestsOf(s, at), [], 'every host device is where the host has it');
  // containerd replaced the requests' rules with allow-all: the access is rwm
  const asked = structuredClone(s);
  asked.linux.devices!.push({ path: '/dev/plugin-fuse', type: 'c', major: 10, minor: 229 }, { path: '/dev/fuse', type: 'c', major: 10, minor: 229 });
  assert.deepEqual(deviceRequestsOf(asked, at), [
    { containerPath: '/dev/fuse', type: 'c', major: 10, minor: 229, access: 'rwm' },
    { containerPath: '/dev/plugin-fuse', type: 'c', major: 10, minor: 229, access: 'rwm' },
  ]);
  // a host node that is another device than listed (changed since containerd looked): a request, checked
  const moved = structuredClone(s);
  const first = moved.linux.devices![0]!;
  assert.equal(deviceRequestsOf(moved, (p) => (p === first.path ? { type: 'c', major: 1, minor: 11 } : at(p))).length, 1);
});

const id = (name?: string, drivers: string[] = []) => ({ name, drivers });
const req = (over: Partial<DeviceRequest>): DeviceRequest => ({ containerPath: '/dev/x', type: 'c', major: 10, minor: 229, access: 'rw', ...over });

test('the default allow-list: safe set, GPUs, kvm; not mem, kmsg, consoles, disks', () => {
  for (const [name, drivers] of [['fuse', []], ['net/tun', []], ['nvidia0', []], ['dri/renderD128', []], ['kvm', []], [undefined, ['nvidia-uvm']], ['infiniband/uverbs0', []]] as const)
    assert.doesNotThrow(() => checkDeviceRequest(req({}), id(name, [...drivers]), DEFAULT_DEVICE_ALLOW), String(name ?? drivers));
  for (const name of ['mem', 'kmsg', 'port', 'tty0', 'console', 'watchdog', 'uinput', 'input/event0', 'cpu/0/msr', 'sg0', 'nvme0', 'loop-control', 'mapper/control', 'vfio/vfio', 'bus/usb/001/001', 'nvidiaX/../mem'])
    assert.throws(() => checkDeviceRequest(req({}), id(name, ['mem']), DEFAULT_DEVICE_ALLOW), /not in the manager's device allow-list/, name);
});

test('block devices only when an entry says type b; unknown devices and bad requests are refused', () => {
  assert.throws(() => checkDeviceRequest(req({ type: 'b', major: 254, minor: 0 }), id('vda', ['virtblk']), DEFAULT_DEVICE_ALLOW), /block device 254:0 \(vda on the host\) refused: a vNode gets no block device/);
  assert.throws(() => checkDeviceRequest(req({ type: 'b', major: 7, minor: 0 }), id('loop0', ['loop']), [{ name: 'loop0' }]), /no block device/, 'a name entry is for character devices');
  assert.doesNotThrow(() => checkDeviceRequest(req({ type: 'b', major: 7, minor: 0 }), id('loop0', ['loop']), [{ name: 'loop0', type: 'b' }]));
  assert.throws(() => checkDeviceRequest(req({}), id(undefined, []), DEFAULT_DEVICE_ALLOW), /does not exist on this host/);
  for (const p of ['/etc/fuse', '/dev', '/dev/', '/dev/../etc/x', '/dev/./fuse', 'dev/fuse', '/dev/net/'])
    assert.throws(() => checkDeviceRequest(req({ containerPath: p }), id('fuse'), DEFAULT_DEVICE_ALLOW), /normalized absolute path under \/dev\//, p);
  for (const a of ['', 'rx', 'all']) assert.throws(() => checkDeviceRequest(req({ access: a }), id('fuse'), DEFAULT_DEVICE_ALLOW), /permissions/, a);
});

test('globs stay within a path component', () => {
  assert.ok(globMatches('dri/renderD*', 'dri/renderD128'));
  assert.ok(!globMatches('nvidia*', 'nvidia-caps/x'));
  assert.ok(globMatches('nvidia[0-9]*', 'nvidia12'));
  assert.ok(!globMatches('nvidia[0-9]*', 'nvidiactl'));
  assert.ok(!globMatches('kvm', 'kvm2'));
  assert.ok(!globMatches('net.tun', 'netXtun'), 'a dot is literal');
});

test("the kernel's names: /proc/devices and uevent", () => {
  const d = parseProcDevices('Character devices:\n  1 mem\n  4 /dev/vc/0\n  4 tty\n195 nvidia-frontend\n\nBlock devices:\n  7 loop\n254 virtblk\n');
  assert.deepEqual(d.c.get(4), ['/dev/vc/0', 'tty']);
  assert.deepEqual(d.b.get(254), ['virtblk']);
  assert.equal(d.c.get(254), undefined);
  assert.equal(devnameOf('MAJOR=10\nMINOR=200\nDEVNAME=net/tun\n'), 'net/tun');
  assert.equal(devnameOf('MAJOR=10\n'), undefined);
});

test('the rewrite binds granted devices from their nodes and allows them in the device cgroup', () => {
  const s = withRequest(fixture('container-plain'), '/dev/fuse', 'c', 10, 229, 'rw');
  const target = {
    namespaces: { user: '/u', net: '/n', ipc: '/i', uts: '/t', pid: '/p' },
    idRange: { uidStart: 1 << 28, gidStart: 1 << 28, size: 65536 },
    podNetns: '/x',
  };
  const r = rewriteSpec(s, false, { hostNetwork: false, hostPID: false, hostIPC: false }, {
    ...target,
    devices: [{ containerPath: '/dev/fuse', hostNode: '/run/vnode/vnodes/vn-a/dev/c1/d0', type: 'c', major: 10, minor: 229, access: 'rw' }],
  });
  assert.deepEqual(r.linux.devices, [], "runc makes no node of its own (it would bind the host's, owned by nobody)");
  assert.deepEqual(r.mounts!.at(-1), { destination: '/dev/fuse', type: 'bind', source: '/run/vnode/vnodes/vn-a/dev/c1/d0', options: ['bind', 'nosuid', 'noexec'] });
  assert.deepEqual(r.linux.resources!.devices!.at(-1), { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' });
});
