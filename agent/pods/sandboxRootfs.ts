// A pod's sandbox (the pause process) keeps containerd's rootfs as it is: no idmapped remount.
// The pause process writes nothing (Kubernetes makes its root read-only) and only needs to run
// its binary, which any uid may when the image lets others read and execute it. What the vNode's
// root could not do in a rootfs of host-owned files is runc's part: create a mount point the image
// lacks (/proc, /sys, /etc/resolv.conf in a pause image built FROM scratch). Those are made here
// as the host's root, as runc itself makes them for a container without a user namespace.
// Anything else (a writable root, a binary others may not run, a symlink on the way to a mount
// point) leaves the sandbox to the idmapped remount (idmapRootfs), which handles every case.
// Nothing but the runc shim and this hook can see the rootfs at this point (runc has not started,
// the bundle is root's), so the checks below are not raced.
import { closeSync, lstatSync, mkdirSync, openSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { OciSpec } from '../spec/SpecRewriter.js';

/** Mount types whose mount point runc needs as a directory. */
const DIR_TYPES = new Set(['proc', 'sysfs', 'tmpfs', 'devpts', 'mqueue', 'cgroup', 'cgroup2']);
/** Mount points made here at most (a pause image lacks 3-4). */
const MAX_MADE = 16;

interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

/** Path components of an absolute container path; undefined for one with `.` or `..`. */
function components(path: string): string[] | undefined {
  if (!path.startsWith('/')) return undefined;
  const parts = path.split('/').filter(Boolean);
  return parts.some((p) => p === '.' || p === '..') ? undefined : parts;
}

function lstat(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}

/** Others may search it (the vNode's ids are "others" to host-owned files). */
const othersSearch = (s: Stats): boolean => s.isDirectory() && (s.mode & 0o001) !== 0;

/**
 * Makes the sandbox's rootfs usable as it is, by any vNode uid; false when it is not (nothing
 * else need be undone: a mount point made here is one runc would have made).
 */
export function sandboxRootfsAsIs(spec: OciSpec, rootfs: string): boolean {
  const root = spec.root as { readonly?: boolean } | undefined;
  const proc = spec.process as { args?: string[]; cwd?: string } | undefined;
  if (root?.readonly !== true) return false;
  const top = lstat(rootfs);
  if (!top || !othersSearch(top)) return false;
  // Directories on a path: each must exist (or be made, `make`), be a directory, not a symlink,
  // and let others search it.
  let made = 0;
  const walk = (parts: string[], make: boolean): string | undefined => {
    let at = rootfs;
    for (const p of parts) {
      at = join(at, p);
      let s = lstat(at);
      if (!s && make && made < MAX_MADE) {
        mkdirSync(at, { mode: 0o755 });
        made++;
        s = lstat(at);
      }
      if (!s || !othersSearch(s)) return undefined;
    }
    return at;
  };
  // The binary others must read and run.
  const bin = components(proc?.args?.[0] ?? '');
  if (!bin?.length) return false;
  const binDir = walk(bin.slice(0, -1), false);
  const binStat = binDir === undefined ? undefined : lstat(join(binDir, bin[bin.length - 1]!));
  if (!binStat?.isFile() || (binStat.mode & 0o005) !== 0o005) return false;
  const cwd = components(proc?.cwd ?? '/');
  if (!cwd || walk(cwd, false) === undefined) return false;
  // Mount points, in runc's order: below an earlier tmpfs (the container's /dev), runc makes
  // them in that tmpfs, owned by the vNode's root.
  const tmpfs: string[] = [];
  for (const m of (spec.mounts ?? []) as Mount[]) {
    const parts = components(m.destination);
    if (!parts) return false;
    const dest = `/${parts.join('/')}`;
    if (tmpfs.some((t) => dest.startsWith(`${t}/`))) continue;
    if (m.type === 'tmpfs' && dest !== '/') tmpfs.push(dest);
    if (!parts.length) return false; // a mount over the whole root
    const dir = walk(parts.slice(0, -1), true);
    if (dir === undefined) return false;
    const at = join(dir, parts[parts.length - 1]!);
    const isBind = m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
    let wantDir = DIR_TYPES.has(m.type ?? '');
    if (!isBind && !wantDir) return false; // a mount type not known here
    if (isBind) {
      const src = m.source?.startsWith('/') ? statSync(m.source, { throwIfNoEntry: false }) : undefined;
      if (!src) return false; // runc will say why; the remount path gets the same answer
      wantDir = src.isDirectory();
    }
    const s = lstat(at);
    if (s) {
      if (s.isSymbolicLink() || s.isDirectory() !== wantDir) return false;
      if (wantDir && !othersSearch(s)) return false;
      continue;
    }
    if (made >= MAX_MADE) return false;
    if (wantDir) mkdirSync(at, { mode: 0o755 });
    else closeSync(openSync(at, 'wx', 0o644));
    made++;
  }
  return true;
}
