// The install tree on the host: <installDir>/versions/<version>/{bin,lib,VERSION} and a `current`
// symlink to one of them. A version directory is copied under a temp name and renamed into place
// complete, and `current` is switched by renaming a new link over it, so a node never sees half a
// version and an upgrade is one rename. containerd's runtime_path and the CNI link go through
// `current`, so they need no change when the version does.
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { symlinkAtomic, syncDir } from '../agent/common/atomicWrite.js';
import type { HostRoot } from './HostRoot.js';

const MANIFEST = '.vnode-tree';

export interface TreeEntry {
  path: string;
  kind: 'dir' | 'file' | 'link';
  mode: number;
  /** sha256 of a file, the target of a link. */
  content: string;
}

/** The staged tree's entries in a stable order (what the version hash covers). */
export function scanTree(dir: string): TreeEntry[] {
  const out: TreeEntry[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      if (rel === '' && name === MANIFEST) continue;
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(dir, r));
      if (st.isSymbolicLink()) out.push({ path: r, kind: 'link', mode: 0o777, content: readlinkSync(join(dir, r)) });
      else if (st.isDirectory()) {
        out.push({ path: r, kind: 'dir', mode: st.mode & 0o7777, content: '' });
        walk(r);
      } else if (st.isFile()) out.push({ path: r, kind: 'file', mode: st.mode & 0o7777, content: createHash('sha256').update(readFileSync(join(dir, r))).digest('hex') });
    }
  };
  walk('');
  return out;
}

export function treeHash(entries: TreeEntry[]): string {
  const h = createHash('sha256');
  for (const e of entries) h.update(`${e.kind} ${e.mode.toString(8)} ${e.path} ${e.content}\n`);
  return h.digest('hex');
}

/** "<VERSION>-<first 12 hex of the content hash>": two builds of one version never share a dir. */
export function treeVersion(stagedDir: string, entries = scanTree(stagedDir)): string {
  let v = 'unversioned';
  try {
    v = readFileSync(join(stagedDir, 'VERSION'), 'utf8').trim() || v;
  } catch {
    // a tree without VERSION still installs, under its hash
  }
  if (!/^[0-9A-Za-z._+-]+$/.test(v)) throw new Error(`${stagedDir}/VERSION: "${v}" is not a usable directory name`);
  return `${v}-${treeHash(entries).slice(0, 12)}`;
}

export interface TreeInstall {
  version: string;
  /** Host path of the version directory. */
  versionDir: string;
  copied: boolean;
  switched: boolean;
  /** The version `current` pointed to before, if any. */
  previous?: string;
}

export class HostTree {
  constructor(private readonly host: HostRoot, readonly installDir: string) {}

  get currentLink(): string {
    return posix.join(this.installDir, 'current');
  }

  versionDir(version: string): string {
    return posix.join(this.installDir, 'versions', version);
  }

  /** The version `current` points to, or undefined. */
  current(): string | undefined {
    const target = this.host.readLink(this.currentLink);
    return target === undefined ? undefined : posix.basename(target);
  }

  versions(): string[] {
    return this.host.list(posix.join(this.installDir, 'versions')).filter((n) => !n.startsWith('.'));
  }

  /** A version dir is complete when its manifest matches its content hash. */
  isComplete(version: string): boolean {
    const dir = this.host.path(this.versionDir(version));
    try {
      const want = readFileSync(join(dir, MANIFEST), 'utf8').trim();
      return want === treeHash(scanTree(dir));
    } catch {
      return false;
    }
  }

  /** Copies the staged tree in as a complete version dir (no-op when it is already there). */
  stage(stagedDir: string): { version: string; copied: boolean } {
    const entries = scanTree(stagedDir);
    const version = treeVersion(stagedDir, entries);
    const versionsDir = this.host.path(posix.join(this.installDir, 'versions'));
    mkdirSync(versionsDir, { recursive: true });
    if (this.isComplete(version)) return { version, copied: false };
    const final = join(versionsDir, version);
    const tmp = join(versionsDir, `.tmp-${version}-${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { mode: 0o755 });
    for (const e of entries) {
      const dst = join(tmp, e.path);
      if (e.kind === 'dir') mkdirSync(dst, { mode: e.mode });
      else if (e.kind === 'link') symlinkSync(e.content, dst);
      else {
        copyFileSync(join(stagedDir, e.path), dst);
        chmodSync(dst, e.mode);
        const fd = openSync(dst, 'r');
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      }
    }
    for (const e of entries) if (e.kind === 'dir') chmodSync(join(tmp, e.path), e.mode);
    writeFileSync(join(tmp, MANIFEST), `${treeHash(entries)}\n`);
    // An incomplete dir under the final name (copied by hand, or a foreign tool) is replaced.
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
    syncDir(versionsDir);
    return { version, copied: true };
  }

  /** Points `current` at a version by renaming a new link over the old one. */
  switchTo(version: string): boolean {
    if (this.current() === version) return false;
    symlinkAtomic(`versions/${version}`, join(this.host.path(this.installDir), 'current'));
    return true;
  }

  install(stagedDir: string): TreeInstall {
    const previous = this.current();
    const { version, copied } = this.stage(stagedDir);
    const switched = this.switchTo(version);
    return { version, versionDir: this.versionDir(version), copied, switched, ...(previous ? { previous } : {}) };
  }

  /** Removes interrupted copies and all but the newest `keep` versions besides `current`. */
  gc(keep = 1, protect: string[] = []): string[] {
    const versionsDir = posix.join(this.installDir, 'versions');
    const removed: string[] = [];
    for (const n of this.host.list(versionsDir)) {
      if (n.startsWith('.tmp-')) {
        this.host.remove(posix.join(versionsDir, n));
        removed.push(n);
      }
    }
    const cur = this.current();
    const others = this.versions()
      .filter((v) => v !== cur && !protect.includes(v))
      .map((v) => ({ v, mtime: lstatSync(this.host.path(this.versionDir(v))).mtimeMs }))
      .sort((a, b) => b.mtime - a.mtime);
    for (const { v } of others.slice(keep)) {
      this.host.remove(this.versionDir(v));
      removed.push(v);
    }
    return removed;
  }

  /** Removes `current`, every version and the install dir itself when nothing else is in it. */
  removeAll(): boolean {
    let changed = this.host.remove(this.currentLink);
    changed = this.host.remove(posix.join(this.installDir, 'versions')) || changed;
    for (const n of this.host.list(this.installDir)) if (n.startsWith('.current-')) this.host.remove(posix.join(this.installDir, n));
    if (this.host.exists(this.installDir) && this.host.list(this.installDir).length === 0) changed = this.host.remove(this.installDir) || changed;
    return changed;
  }
}
