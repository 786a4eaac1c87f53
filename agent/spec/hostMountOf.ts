// What a host path lives on, for the bind mounts of a vNode container's spec: the flags a user
// namespace cannot drop (nosuid, nodev, noexec; runc must repeat them when it remounts a bind
// read-only inside the vNode) and the filesystem type (a bind of the host's procfs or sysfs would
// show the host's processes and devices: those become the vNode's own instances).
import { readFileSync, realpathSync } from 'node:fs';

const LOCKABLE = ['nosuid', 'nodev', 'noexec'];

interface MountEntry {
  mountPoint: string;
  options: string[];
  fsType: string;
}

export interface HostMount {
  fsType: string;
  lockedFlags: string[];
}

const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

export function readMounts(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): MountEntry[] {
  return mountinfo
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const f = l.split(' ');
      const sep = f.indexOf('-');
      return { mountPoint: unescape(f[4]!), options: f[5]!.split(','), fsType: f[sep + 1] ?? '' };
    });
}

/** A function answering, for a host path, the mount it is on (undefined: not found). */
export function hostMountResolver(mounts: MountEntry[] = readMounts()): (source: string) => HostMount | undefined {
  return (source) => {
    let path = source;
    try {
      path = realpathSync(source);
    } catch {
      // not there (runc will say so); use the path as given
    }
    let best: MountEntry | undefined;
    for (const m of mounts) {
      const mp = m.mountPoint;
      const under = path === mp || path.startsWith(mp.endsWith('/') ? mp : `${mp}/`);
      // The last matching entry with the longest mount point is the one on top.
      if (under && (!best || mp.length >= best.mountPoint.length)) best = m;
    }
    return best && { fsType: best.fsType, lockedFlags: best.options.filter((o) => LOCKABLE.includes(o)) };
  };
}
