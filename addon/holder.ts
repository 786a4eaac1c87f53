// Namespace holders and namespace helpers: the clone/setns work Node's multithreaded process
// cannot do itself, done by a child cloned on a thread-pool thread (addon/src/holder.cc).
import { fn, native } from './native.js';

export const NamespaceFlags = native.holderConstants as Record<
  'CLONE_NEWUSER' | 'CLONE_NEWPID' | 'CLONE_NEWNS' | 'CLONE_NEWUTS' | 'CLONE_NEWIPC' | 'CLONE_NEWNET' | 'CLONE_NEWCGROUP',
  number
>;

export interface HolderSpawnSpec {
  /** The program to exec (the vnode multi-call binary). */
  path: string;
  /** argv[0] picks the entry ("vnode-holder"). */
  argv: string[];
  env: string[];
  /** Written to /proc/<pid>/uid_map by us before the child may go on, e.g. "0 268435456 65536\n". */
  uidMap: string;
  gidMap: string;
  /** CLONE_NEW* flags; CLONE_NEWUSER is required for the child to become root. */
  nsFlags: number;
  timeoutMs?: number;
}

export interface SpawnedHolder {
  pid: number;
  /** A pidfd of the holder (close-on-exec). */
  pidfd: number;
  /** Our end of the holder's fd 3: write "C" to commit it, or close to let it exit. */
  controlFd: number;
}

/** Clones the holder, maps its ids, releases it and resolves once it answered "R" on fd 3. */
export const spawnHolder = fn<(spec: HolderSpawnSpec) => Promise<SpawnedHolder>>('spawnHolder');

/** Creates a network namespace owned by the user namespace at `usernsPath` and bind-mounts it on
 * `target` (an existing file). */
export const createNetns = fn<(usernsPath: string, target: string, timeoutMs?: number) => Promise<void>>('createNetns');
