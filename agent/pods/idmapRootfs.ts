// A vNode container's rootfs owned by the vNode's root without a recursive chown (idmapped
// mounts), and the removal of what a task's remount may have left.
import { chownSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { bindIdmapped, mount, MountConstants, umount2 } from '../../addon/mount.js';
import { readMountInfo, type MountInfo } from '../common/mountinfo.js';
import { SpecError } from '../spec/SpecRewriter.js';
import type { VNode } from '../vnode/VNodeRecord.js';
import { detachAt, unmountBelow } from '../vnode/VNodeManager.js';

/** Where a task's idmapped layers are bound while its overlay is made. */
function idmapDir(vnode: VNode, id: string): string {
  return join(vnode.dir, 'rootfs', id);
}

/**
 * The container's rootfs owned by the vNode's root without a recursive chown. The runc shim
 * mounted containerd's snapshot at <bundle>/rootfs; it is replaced by the same overlay whose
 * read-only lower layers are bound through idmapped mounts (disk uid 0 shows as the vNode's
 * root) and whose fresh, empty upper and work dirs are chowned: O(layers), whatever the image
 * size. The overlay keeps private clones of its layers, so the idmapped binds are unmounted at
 * once and nothing is left to clean up but the overlay itself, which the runc shim unmounts at
 * Delete as it would its own. A bind rootfs (native snapshotter) gets an idmapped clone of
 * itself stacked on top.
 */
export async function idmapRootfs(vnode: VNode, id: string, target: string, marks?: number[], mounts: MountInfo[] = readMountInfo()): Promise<void> {
  const mark = (): void => void marks?.push(performance.now());
  const m = mounts.filter((x) => x.mountPoint === target).pop();
  mark();
  if (!m) return; // the bundle's rootfs was prepared by the caller, not mounted by the runc shim
  const usernsFd = openSync(vnode.namespaces.user, 'r');
  const dir = idmapDir(vnode, id);
  // Quick syscalls are made synchronously here (a thread-pool hop each cost more than the call),
  // and on success the idmapped layer binds are let go after the answer, off the create's path.
  let made = false;
  const layerBinds: string[] = [];
  try {
    if (m.fsType === 'overlay') {
      const opt = (k: string): string | undefined => m.superOptions.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
      const lowers = opt('lowerdir')?.split(':') ?? [];
      const upper = opt('upperdir');
      const work = opt('workdir');
      if (!lowers.length) throw new SpecError(`task ${id}: overlay rootfs without lowerdir`);
      // containerd shortens a long option string with paths relative to a directory it changes
      // into; those cannot be told apart from here.
      if (lowers.some((l) => !l.startsWith('/')) || (upper && !upper.startsWith('/'))) throw new SpecError(`task ${id}: overlay rootfs with relative layer paths (too many layers for one mount option string) is not supported in a vNode`);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const mapped: string[] = [];
      for (const [i, l] of lowers.entries()) {
        const t = join(dir, `l${i}`);
        mkdirSync(t);
        layerBinds.push(t);
        await bindIdmapped(l, t, usernsFd);
        mapped.push(t);
      }
      mark();
      for (const d of [upper, work]) if (d) chownSync(d, vnode.idRange.uidStart, vnode.idRange.gidStart);
      const data = m.superOptions.filter((o) => o !== 'rw' && o !== 'ro').map((o) => (o.startsWith('lowerdir=') ? `lowerdir=${mapped.join(':')}` : o));
      let flags = 0;
      for (const [o, f] of [['ro', MountConstants.MS_RDONLY], ['nosuid', MountConstants.MS_NOSUID], ['nodev', MountConstants.MS_NODEV], ['noexec', MountConstants.MS_NOEXEC]] as const) if (m.options.includes(o)) flags |= f;
      await umount2(target, 0);
      mark();
      try {
        await mount('overlay', target, 'overlay', flags, data.join(','));
        mark();
      } catch (e) {
        throw new SpecError(`task ${id}: cannot mount its idmapped rootfs: ${(e as Error).message}`);
      }
      made = true;
      return;
    }
    await bindIdmapped(target, target, usernsFd, { recursive: true });
    made = true;
  } finally {
    closeSync(usernsFd);
    // The overlay holds its layers: their binds in `dir` are needed no more. After a success they
    // go once the caller has its answer (removeIdmapDir, at the task's end, is the backstop);
    // after a failure before the caller hears of it.
    const cleanup = async (): Promise<void> => {
      // The layer binds made above, each detached by name (reading mountinfo, 2-3 times a
      // container, was a tenth of the manager's CPU per pod); removeIdmapDir is the backstop.
      for (const l of layerBinds) await detachAt(l).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    };
    if (made) setImmediate(() => void cleanup().catch(() => undefined));
    else await cleanup();
  }
}

/** A task is gone: its idmap dir goes too, whatever an idmapRootfs cut short left in it. */
export async function removeIdmapDir(vnode: VNode, id: string): Promise<void> {
  const dir = idmapDir(vnode, id);
  // Usually gone already (idmapRootfs's own cleanup): then nothing can be mounted below it.
  if (!existsSync(dir)) return;
  await unmountBelow(dir);
  await rm(dir, { recursive: true, force: true });
}
