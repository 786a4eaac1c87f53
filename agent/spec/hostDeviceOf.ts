// What the host calls a device number, for the device allow-list (DeviceRequests.ts): the node
// name the kernel gave it (/sys/dev/{char,block}/MAJOR:MINOR/uevent, DEVNAME) and the driver names
// registered for its major (/proc/devices). Read from the kernel, not from any path in /dev, so
// a renamed node or a symlink cannot make one device pass for another.
import { lstatSync, readFileSync } from 'node:fs';
import type { DeviceIdentity, DeviceType } from './DeviceRequests.js';

/** Driver names by major from /proc/devices text ("Character devices:" / "Block devices:"). */
export function parseProcDevices(text: string): { c: Map<number, string[]>; b: Map<number, string[]> } {
  const out = { c: new Map<number, string[]>(), b: new Map<number, string[]>() };
  let section: Map<number, string[]> | undefined;
  for (const line of text.split('\n')) {
    if (/^Character devices:/.test(line)) section = out.c;
    else if (/^Block devices:/.test(line)) section = out.b;
    else {
      const m = /^\s*(\d+)\s+(\S.*)$/.exec(line);
      if (m && section) section.set(Number(m[1]), [...(section.get(Number(m[1])) ?? []), m[2]!.trim()]);
    }
  }
  return out;
}

/** DEVNAME from a uevent file's text. */
export function devnameOf(uevent: string): string | undefined {
  return /^DEVNAME=(.+)$/m.exec(uevent)?.[1]?.trim() || undefined;
}

export function hostDeviceIdentity(type: DeviceType, major: number, minor: number, root = ''): DeviceIdentity {
  let name: string | undefined;
  try {
    name = devnameOf(readFileSync(`${root}/sys/dev/${type === 'b' ? 'block' : 'char'}/${major}:${minor}/uevent`, 'utf8'));
  } catch {
    // no sysfs entry: drivers that make their own nodes (NVIDIA's) are known by driver name only
  }
  let drivers: string[] = [];
  try {
    drivers = parseProcDevices(readFileSync(`${root}/proc/devices`, 'utf8'))[type].get(major) ?? [];
  } catch {
    // no /proc/devices: the name alone decides
  }
  return { name, drivers };
}

/** The device a host path is a node of (not following a symlink); undefined for anything else. */
export function hostNodeAt(path: string): { type: DeviceType; major: number; minor: number } | undefined {
  try {
    const st = lstatSync(path);
    if (!st.isCharacterDevice() && !st.isBlockDevice()) return undefined;
    // Linux's encoding of dev_t (glibc's gnu_dev_major/minor).
    const rdev = BigInt(st.rdev);
    const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
    const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
    return { type: st.isCharacterDevice() ? 'c' : 'b', major, minor };
  } catch {
    return undefined;
  }
}
