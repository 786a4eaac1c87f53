// The devices a container asked for through CRI (ContainerConfig.devices: what device plugins
// hand out) and whether a vNode may have them. Pure: the host's facts come in as a lookup.
//
// containerd has already turned each request into a device number by the time the manager sees
// the spec: `linux.devices` gets {path: container_path, type, major, minor} and
// `linux.resources.devices` an allow rule {type, major, minor, access: permissions}. The host
// path is gone, so a device is judged by what it *is* (type and number, named by the kernel in
// /sys/dev and /proc/devices), never by the path it was asked under: a node made outside /dev, or
// a symlink to a disk, is the device it points at and gets the same answer.
// A privileged container also gets every host device (and an allow-all rule) from CRI; those are
// not requests and stay cut to the safe set (SpecRewriter); see deviceRequestsOf for how the
// requests are told apart there.
import { posix } from 'node:path';
import type { OciSpec } from './SpecRewriter.js';

export type DeviceType = 'c' | 'b';

/** One device the container asked for. */
export interface DeviceRequest {
  containerPath: string;
  type: DeviceType;
  major: number;
  minor: number;
  /** The requested permissions, a subset of "rwm" (the device cgroup's access). */
  access: string;
}

/** What the host calls a device number: the kernel's node name (DEVNAME in /sys/dev/{char,block}/M:m/uevent)
 * and the driver names of its major (/proc/devices). Both absent: no such device here. */
export interface DeviceIdentity {
  name?: string;
  drivers: string[];
}

/** An allow-list entry: a glob (`*` within one path component) on the kernel's name or on the
 * driver's, for character devices unless `type: b` says block. */
export interface DeviceAllowEntry {
  name?: string;
  driver?: string;
  type?: DeviceType;
}

/**
 * What a vNode container may ask for by default: the devices every container has, fuse and tun
 * (the safe set), and what device plugins hand out for GPUs (NVIDIA, DRM, AMD KFD), KVM and
 * vhost, and RDMA user verbs. Each is made for unprivileged users on a host. Not in it, among
 * others: mem, kmem, port, kmsg, the host's consoles and ttys, input and uinput, watchdog,
 * cpu/msr, SCSI generic (sg), bsg, NVMe controllers, loop-control, mapper/control, vfio, usb:
 * each reaches host memory, disks, the console or the machine. Block devices never by default.
 */
export const DEFAULT_DEVICE_ALLOW: readonly DeviceAllowEntry[] = [
  ...['null', 'zero', 'full', 'random', 'urandom', 'tty', 'fuse', 'net/tun'].map((name) => ({ name })),
  ...['nvidia[0-9]*', 'nvidiactl', 'nvidia-modeset', 'nvidia-uvm', 'nvidia-uvm-tools', 'nvidia-caps/*', 'dri/card*', 'dri/renderD*', 'kfd'].map((name) => ({ name })),
  ...['nvidia-frontend', 'nvidia', 'nvidia-uvm', 'nvidia-caps'].map((driver) => ({ driver })),
  ...['kvm', 'vhost-net', 'vhost-vsock', 'infiniband/uverbs*', 'infiniband/rdma_cm'].map((name) => ({ name })),
];

/** A device request the vNode refuses; CreateContainer fails with this message. */
export class DeviceRequestError extends Error {
  override name = 'DeviceRequestError';
}

/** `*` matches within one path component, `[...]` a character class; the rest literally. */
export function globMatches(glob: string, value: string): boolean {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob.slice(i + 1, end).replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`).test(value);
}

/** A host node's device number, for telling a privileged container's requests from its host devices. */
export type HostNodeAt = (path: string) => { type: string; major: number; minor: number } | undefined;

/**
 * The devices the container asked for. Without an allow-all rule (not privileged), every entry of
 * `linux.devices` is one, with the access of its allow rules: the device cgroup allows by number,
 * so two requests of one device get the union. With it (privileged: containerd lists every host
 * device under its own path, and its allow-all rule replaced the requests' rules), an entry is a
 * request when its path is listed twice or the host has no node of that device there.
 */
export function deviceRequestsOf(spec: OciSpec, hostNodeAt: HostNodeAt): DeviceRequest[] {
  const rules = spec.linux.resources?.devices ?? [];
  const privileged = rules.some((r) => r.allow && (r.type ?? 'a') === 'a' && r.major == null && r.minor == null);
  const devices = spec.linux.devices ?? [];
  const count = new Map<string, number>();
  for (const d of devices) count.set(d.path, (count.get(d.path) ?? 0) + 1);
  const out: DeviceRequest[] = [];
  for (const d of devices) {
    if (privileged) {
      const host = hostNodeAt(d.path);
      const isHostDevice = count.get(d.path) === 1 && host?.type === d.type && host.major === d.major && host.minor === d.minor;
      if (isHostDevice) continue; // the safe-set cut handles it
    }
    const letters = new Set(rules.filter((r) => r.allow && r.type === d.type && r.major === d.major && r.minor === d.minor).flatMap((r) => [...(r.access ?? 'rwm')]));
    const access = privileged && letters.size === 0 ? 'rwm' : ['r', 'w', 'm'].filter((l) => letters.has(l)).join('');
    out.push({ containerPath: d.path, type: d.type as DeviceType, major: d.major ?? -1, minor: d.minor ?? -1, access });
  }
  // One request per container path (a privileged container's duplicate keeps the request's number).
  const byPath = new Map<string, DeviceRequest>();
  for (const r of out) byPath.set(r.containerPath, r);
  return [...byPath.values()];
}

const describeDevice = (r: DeviceRequest, id: DeviceIdentity): string =>
  `${r.type === 'b' ? 'block' : 'character'} device ${r.major}:${r.minor}${id.name ? ` (${id.name} on the host)` : id.drivers.length ? ` (driver ${id.drivers.join(', ')})` : ''}`;

/**
 * Throws DeviceRequestError unless the vNode may have the device: an absolute container path under
 * /dev/ (normalized), permissions from "rwm", a device that exists on the host, not a block device
 * unless an entry says `type: b`, and named by an allow-list entry.
 */
export function checkDeviceRequest(r: DeviceRequest, id: DeviceIdentity, allow: readonly DeviceAllowEntry[]): void {
  const where = `device request ${JSON.stringify(r.containerPath)}`;
  if (!r.containerPath.startsWith('/dev/') || posix.normalize(r.containerPath) !== r.containerPath || r.containerPath.endsWith('/'))
    throw new DeviceRequestError(`${where}: the container path must be a normalized absolute path under /dev/`);
  if (!r.access || !/^[rwm]+$/.test(r.access)) throw new DeviceRequestError(`${where}: permissions ${JSON.stringify(r.access)} must be letters of "rwm"`);
  if (r.type !== 'c' && r.type !== 'b') throw new DeviceRequestError(`${where}: type ${JSON.stringify(r.type)} is not a character or block device`);
  if (!(r.major > 0) || !(r.minor >= 0)) throw new DeviceRequestError(`${where}: no device number (${r.major}:${r.minor})`);
  if (!id.name && id.drivers.length === 0) throw new DeviceRequestError(`${where}: ${describeDevice(r, id)} does not exist on this host`);
  const type = (e: DeviceAllowEntry): DeviceType => e.type ?? 'c';
  const ok = allow.some((e) => type(e) === r.type && ((e.name !== undefined && id.name !== undefined && globMatches(e.name, id.name)) || (e.driver !== undefined && id.drivers.some((d) => globMatches(e.driver!, d)))));
  if (ok) return;
  if (r.type === 'b')
    throw new DeviceRequestError(`${where}: ${describeDevice(r, id)} refused: a vNode gets no block device (the host's disks) unless the manager's devices.allow lists it with type "b"`);
  throw new DeviceRequestError(`${where}: ${describeDevice(r, id)} refused: not in the manager's device allow-list (devices.allow; docs/pods.md, "Devices")`);
}
