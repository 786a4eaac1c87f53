// A vNode container's rootfs owned by the vNode's root without a recursive chown (idmapped
// mounts), and the removal of what a task's remount may have left.
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { bindIdmapped, idmapOverlay, mount, MOUNT_DATA_MAX, MountConstants } from '../../addon/mount.js';
import { readMountInfo, type MountInfo } from '../common/mountinfo.js';
import { SpecError } from '../spec/SpecRewriter.js';
import type { VNode } from '../vnode/VNodeRecord.js';
import { detachAt, unmountBelow } from '../vnode/VNodeManager.js';

/** Where a task's idmapped layers are bound while its overlay is made. */
function idmapDir(vnode: VNode, id: string): string {
  return join(vnode.dir, 'rootfs', id);
}

/** What the tree's runc shim leaves to the manager instead of mounting it (its one overlay,
 * shim/vnode-rootfs-mounts.patch): containerd's mount, as containerd gave it to the shim. */
export const ROOTFS_MOUNTS_FILE = 'rootfs.mounts.json';
const LeftMounts = z.array(z.object({ type: z.literal('overlay'), source: z.string(), options: z.array(z.string()) })).length(1);

/** The overlay the runc shim left to be mounted at `<bundle>/rootfs` (undefined: it mounted it
 * itself, as a shim of another release or for another snapshotter does). */
export function leftRootfsMount(bundle: string): { options: string[] } | undefined {
  let text: string;
  try {
    text = readFileSync(join(bundle, ROOTFS_MOUNTS_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const r = LeftMounts.safeParse(JSON.parse(text));
  if (!r.success) throw new SpecError(`${ROOTFS_MOUNTS_FILE} in ${bundle} is not the single overlay the runc shim leaves: ${r.error.issues[0]?.message ?? ''}`);
  return { options: r.data[0]!.options };
}

const FLAG_WORDS: Record<string, number> = {
  ro: MountConstants.MS_RDONLY,
  rw: 0,
  nosuid: MountConstants.MS_NOSUID,
  nodev: MountConstants.MS_NODEV,
  noexec: MountConstants.MS_NOEXEC,
  relatime: MountConstants.MS_RELATIME,
  noatime: MountConstants.MS_NOATIME,
};

/** An overlay's options as mount(2) takes them: flag words, and the data string's key=value rest. */
function overlayParts(id: string, options: string[]): { flags: number; lowers: string[]; upper?: string; work?: string; rest: string[] } {
  let flags = 0;
  const rest: string[] = [];
  let lowers: string[] = [];
  let upper: string | undefined;
  let work: string | undefined;
  for (const o of options) {
    if (o in FLAG_WORDS) flags |= FLAG_WORDS[o]!;
    else if (o.startsWith('lowerdir=')) lowers = o.slice(9).split(':');
    else if (o.startsWith('upperdir=')) upper = o.slice(9);
    else if (o.startsWith('workdir=')) work = o.slice(8);
    else rest.push(o);
  }
  if (!lowers.length || lowers.some((l) => !l)) throw new SpecError(`task ${id}: overlay rootfs without lowerdir`);
  // containerd shortens a long option string with paths relative to a directory it changes
  // into; those cannot be told apart from here.
  if (lowers.some((l) => !l.startsWith('/')) || (upper && !upper.startsWith('/')) || (work && !work.startsWith('/'))) throw new SpecError(`task ${id}: overlay rootfs with relative layer paths (too many layers for one mount option string) is not supported in a vNode`);
  return { flags, lowers, upper, work, rest };
}

/** The data string of an overlay of these parts over `lowers` (its own, or their idmapped binds). */
function overlayData(p: { upper?: string; work?: string; rest: string[] }, lowers: string[]): string {
  return [...p.rest, ...(p.upper ? [`upperdir=${p.upper}`] : []), ...(p.work ? [`workdir=${p.work}`] : []), `lowerdir=${lowers.join(':')}`].join(',');
}

/** Containerd's overlay as the runc shim would have mounted it (a sandbox that keeps it). */
export async function mountLeftOverlay(id: string, target: string, options: string[]): Promise<void> {
  const p = overlayParts(id, options);
  try {
    await mount('overlay', target, 'overlay', p.flags, overlayData(p, p.lowers));
  } catch (e) {
    throw new SpecError(`task ${id}: cannot mount its rootfs: ${(e as Error).message}`);
  }
}

/**
 * The container's overlay with its read-only lower layers bound through idmapped mounts (disk
 * uid 0 shows as the vNode's root) and its fresh, empty upper and work dirs chowned: O(layers),
 * whatever the image size. The overlay keeps private clones of its layers, so the idmapped binds
 * are unmounted at once and nothing is left to clean up but the overlay itself, which the runc
 * shim unmounts at Delete as it would its own. `replace`: containerd's overlay is mounted at the
 * target and is unmounted first (which syncs the upper's whole file system).
 */
async function mountIdmappedOverlay(vnode: VNode, id: string, target: string, options: string[], replace: boolean, marks?: number[]): Promise<void> {
  const mark = (): void => void marks?.push(performance.now());
  const p = overlayParts(id, options);
  const usernsFd = openSync(vnode.namespaces.user, 'r');
  const dir = idmapDir(vnode, id);
  // Quick syscalls are made synchronously here (a thread-pool trip each cost more than the call),
  // and on success the idmapped layer binds are let go after the answer, off the create's path.
  let made = false;
  const layerBinds = p.lowers.map((_l, i) => join(dir, `l${i}`));
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const t of layerBinds) mkdirSync(t);
    for (const d of [p.upper, p.work]) if (d) chownSync(d, vnode.idRange.uidStart, vnode.idRange.gidStart);
    mark();
    // The layer binds, the unmount of containerd's overlay (replace) and the new overlay in one
    // trip to the thread pool (addon/src/mount.cc, idmapOverlay): a trip each cost 0.1-1 ms while
    // runc and containerd kept both CPUs busy.
    // The binds' paths (~115 bytes each) are longer than containerd's own layer paths: for an image
    // of 30-odd layers they no longer fit in mount(2)'s one page of options, so the overlay then
    // names them relative to their directory (l0, l1, ...; 127 layers take ~650 bytes).
    let data = overlayData(p, layerBinds);
    let dataCwd: string | undefined;
    if (Buffer.byteLength(data) > MOUNT_DATA_MAX) {
      data = overlayData(p, layerBinds.map((b) => basename(b)));
      dataCwd = dir;
      if (Buffer.byteLength(data) > MOUNT_DATA_MAX) throw new SpecError(`task ${id}: its overlay's options take ${Buffer.byteLength(data)} bytes even with short layer names, more than mount(2) takes (${MOUNT_DATA_MAX})`);
    }
    try {
      await idmapOverlay(p.lowers, layerBinds, usernsFd, target, replace, p.flags, data, dataCwd);
      mark();
    } catch (e) {
      throw new SpecError(`task ${id}: cannot mount its idmapped rootfs: ${(e as Error).message}`);
    }
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

/**
 * The container's rootfs owned by the vNode's root without a recursive chown (idmapped lower
 * layers, mountIdmappedOverlay). `left`: the overlay the runc shim left unmounted
 * (leftRootfsMount), mounted so at once. Otherwise the runc shim mounted containerd's snapshot at
 * <bundle>/rootfs: its overlay is replaced (its unmount syncs the upper's file system), and a bind
 * rootfs (native snapshotter) gets an idmapped clone of itself stacked on top.
 */
export async function idmapRootfs(vnode: VNode, id: string, target: string, marks?: number[], mounts: MountInfo[] = readMountInfo(), left?: { options: string[] }): Promise<void> {
  if (left) {
    marks?.push(performance.now());
    return mountIdmappedOverlay(vnode, id, target, left.options, false, marks);
  }
  const m = mounts.filter((x) => x.mountPoint === target).pop();
  marks?.push(performance.now());
  if (!m) return; // the bundle's rootfs was prepared by the caller, not mounted by the runc shim
  if (m.fsType === 'overlay') {
    const flagWords = m.options.filter((o) => o in FLAG_WORDS && o !== 'rw');
    return mountIdmappedOverlay(vnode, id, target, [...flagWords, ...m.superOptions.filter((o) => o !== 'rw' && o !== 'ro')], true, marks);
  }
  const usernsFd = openSync(vnode.namespaces.user, 'r');
  try {
    await bindIdmapped(target, target, usernsFd, { recursive: true });
  } finally {
    closeSync(usernsFd);
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
