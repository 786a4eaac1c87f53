// What a host path lives on, for the bind mounts of a vNode container's spec: the flags a user
// namespace cannot drop (nosuid, nodev, noexec; runc must repeat them when it remounts a bind
// read-only inside the vNode) and the filesystem type (a bind of the host's procfs or sysfs would
// show the host's processes and devices: those become the vNode's own instances).
import { realpathSync } from 'node:fs';
import { mountOf, readMountInfo, type MountInfo } from '../common/mountinfo.js';

const LOCKABLE = ['nosuid', 'nodev', 'noexec'];

export interface HostMount {
  fsType: string;
  lockedFlags: string[];
}

/** A function answering, for a host path, the mount it is on (undefined: not found). */
export function hostMountResolver(mounts: Pick<MountInfo, 'mountPoint' | 'options' | 'fsType'>[] = readMountInfo()): (source: string) => HostMount | undefined {
  return (source) => {
    let path = source;
    try {
      path = realpathSync(source);
    } catch {
      // not there (runc will say so); use the path as given
    }
    const best = mountOf(path, mounts);
    return best && { fsType: best.fsType, lockedFlags: best.options.filter((o) => LOCKABLE.includes(o)) };
  };
}
