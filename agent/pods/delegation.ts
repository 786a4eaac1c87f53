// What a container runtime inside a vNode pod (dockerd, containerd, runc, systemd) needs of the
// host and gets nothing more than (issue 13, part 3; docs/workloads.md "Nested containers"):
// - its own cgroup, delegated: a privileged container (its spec mounts the cgroupfs read-write)
//   gets its cgroup directory in every hierarchy, and the files that move processes and enable
//   controllers there, owned by the vNode's root, as systemd delegates a cgroup to a user
//   (Delegate=yes). The runtime makes child cgroups below it and sets their limits; the
//   container's own limit files stay host root's, and the kernel bounds every child by its
//   ancestors (memory, pids, cpu, cpuset, blkio are hierarchical; v1 devices.allow needs
//   CAP_SYS_ADMIN in the host's user namespace, so a child never gets more devices).
// - its pod's emptyDir volumes, owned by the vNode's root: kubelet makes them root's, mode 0777,
//   which a vNode's root cannot chmod or chown (dockerd's data root, a build cache). Only the
//   pod's own emptyDirs (kubelet's path with the pod's uid), only the volume's top directory,
//   only while kubelet's owner (host root) still holds it, never through a symlink.
import { closeSync, constants, fchownSync, fstatSync, openSync } from 'node:fs';
import { chown } from 'node:fs/promises';
import { join } from 'node:path';
import type { MountInfo } from '../common/mountinfo.js';
import { readMountInfo } from '../common/mountinfo.js';
import { isV2Line, procCgroupLines } from '../cgroup/procCgroup.js';
import { KUBE_PATH_NAME } from '../common/containerId.js';
import { readText } from '../cgroup/readText.js';

/** The ids the files go to: the vNode's root as the host knows it. */
export interface Owner {
  uid: number;
  gid: number;
}

interface SpecMount {
  source?: string;
}

/** The files of a delegated cgroup its new owner writes, per cgroup version (the directory itself aside). */
const DELEGATED_FILES = { v1: ['cgroup.procs', 'tasks'], v2: ['cgroup.procs', 'cgroup.subtree_control', 'cgroup.threads'] };

/**
 * The host directories of the cgroups a process is in, one per mounted hierarchy: /proc/<pid>/cgroup
 * (hierarchy id -> path) joined with the host's cgroup mounts (super options name the controllers).
 */
export function cgroupDirsOf(procCgroup: string, mounts: MountInfo[]): { dir: string; version: 'v1' | 'v2' }[] {
  const out: { dir: string; version: 'v1' | 'v2' }[] = [];
  for (const line of procCgroupLines(procCgroup)) {
    const v2 = isV2Line(line);
    // Hierarchies are disjoint: the mount whose super options hold the line's controllers (or
    // name=) is that hierarchy; of several (binds), the one of its whole tree.
    const found = mounts.filter((x) => (v2 ? x.fsType === 'cgroup2' : x.fsType === 'cgroup' && line.controllers.every((c) => x.superOptions.includes(c))));
    const m = found.find((x) => x.root === '/') ?? found[0];
    if (!m || !isBelowRoot(line.path, m.root)) continue;
    out.push({ dir: join(m.mountPoint, line.path.slice(m.root === '/' ? 0 : m.root.length)), version: v2 ? 'v2' : 'v1' });
  }
  return out;
}

const isBelowRoot = (path: string, root: string): boolean => root === '/' || path === root || path.startsWith(`${root}/`);

/** Hands the cgroups of a container's init (pid, host view) to owner: each directory and its delegated files. */
export async function delegateCgroups(containerId: string, pid: number, owner: Owner, mounts: MountInfo[] = readMountInfo()): Promise<string[]> {
  const text = readText(`/proc/${pid}/cgroup`);
  if (text === undefined) throw new Error(`process ${pid} is gone`);
  const dirs = cgroupDirsOf(text, mounts);
  if (!dirs.length) throw new Error(`no cgroup of process ${pid} found under the host's cgroup mounts`);
  for (const { dir, version } of dirs) {
    // The container's own cgroup, never a parent or a pod's: containerd names it after the
    // container (cgroupfs: .../<id>; systemd: .../cri-containerd-<id>.scope).
    if (!(dir.split('/').pop() ?? '').includes(containerId)) throw new Error(`refusing to delegate ${dir}: not container ${containerId}'s own cgroup`);
    await chown(dir, owner.uid, owner.gid);
    for (const f of DELEGATED_FILES[version]) await chown(join(dir, f), owner.uid, owner.gid).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }
  return dirs.map((d) => d.dir);
}

const EMPTY_DIR_PLUGIN = 'kubernetes.io~empty-dir';

/** kubelet's directory of a pod's emptyDir volume `name`. */
export function emptyDirOf(kubeletRoot: string, podUid: string, name: string): string {
  return join(kubeletRoot, 'pods', podUid, 'volumes', EMPTY_DIR_PLUGIN, name);
}

/**
 * The pod's emptyDir volumes among a container's bind mounts: sources exactly
 * <kubeletRoot>/pods/<podUid>/volumes/kubernetes.io~empty-dir/<name>.
 */
export function podEmptyDirs(mounts: SpecMount[], kubeletRoot: string, podUid: string): string[] {
  if (!KUBE_PATH_NAME.test(podUid)) return [];
  const prefix = `${join(kubeletRoot, 'pods', podUid, 'volumes', EMPTY_DIR_PLUGIN)}/`;
  const out = new Set<string>();
  for (const m of mounts) {
    const s = m.source ?? '';
    if (!s.startsWith(prefix)) continue;
    const name = s.slice(prefix.length).replace(/\/+$/, '');
    if (KUBE_PATH_NAME.test(name)) out.add(prefix + name);
  }
  return [...out];
}

/** Gives each still-host-root-owned directory to owner; returns those it gave. */
export function ownPodVolumes(dirs: string[], owner: Owner): string[] {
  const given: string[] = [];
  for (const d of dirs) {
    let fd: number;
    try {
      fd = openSync(d, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // kubelet made no such volume: runc will say so
      throw new Error(`emptyDir ${d}: ${(e as Error).message}`);
    }
    try {
      const st = fstatSync(fd);
      if (st.uid !== 0 || st.gid !== 0) continue;
      fchownSync(fd, owner.uid, owner.gid);
      given.push(d);
    } finally {
      closeSync(fd);
    }
  }
  return given;
}
