// The mount's directory tree, built once from the file registry: directories for every path
// prefix and every empty directory asked for (they hide host directories), one inode per file.
// Inode numbers are fixed for the mount's life, so FORGET only lowers a counter and nothing is
// ever freed or reused.
//
// A node id is a function of the path alone (nodeIdOf), not of the registry's order: the kernel
// keeps the ids it was given (dentries, open files, bind mounts) across a manager restart, and the
// server that adopts the connection (VnodeFs.adopt) must resolve each one to the same file, also
// when its registry gained or lost entries. The kernel's lookup counts are not known to a new
// server; nothing depends on them (no node is ever freed).
//
// Below `containers/` each container has its own copy of the files the kernel may cache
// (`containers/<container id>/proc/meminfo`, ...; docs/vnodefs.md, "Per-container files"): one
// inode, so one page cache, per container. Their node ids are computed, not stored: 2^44 + 64 *
// (a 46-bit hash of the container id) + the file's index in the per-container tree, so any
// server resolves an id the kernel kept from an earlier one. Two ids that hash alike share one
// inode; the page-cache pin (VnodeFsOps) keeps that correct, only slower.
import { CONTAINER_ID } from '../common/containerId.js';
import { FUSE_ROOT_ID } from './protocol/fuseAbi.js';
import type { ProcFile } from './ProcFile.js';

export interface Inode {
  ino: number;
  name: string;
  parent: number;
  /** directory children by name; null for files */
  children: Map<string, Inode> | null;
  file: ProcFile | null;
  /** kernel lookup count (LOOKUP and READDIRPLUS add, FORGET subtracts) */
  lookups: number;
  /** under containers/<id>/: the container's hash (its node ids' common part), else absent */
  container?: number;
  /** a per-container file's place among them (0, 1, ...) */
  fileIndex?: number;
}

/** The directory holding one directory per container, named by the container id. */
export const CONTAINERS_DIR = 'containers';
const PER_CONTAINER_BASE = 2 ** 44;
const PER_CONTAINER_NODES = 64;
/** A container id (common/containerId.ts), which is also a file name. */
export function isContainerName(name: string): boolean {
  return CONTAINER_ID.test(name);
}
/** Per-container subtrees kept built (each is a handful of objects, rebuilt when evicted). */
const BUILT_CONTAINERS = 1024;

/** FNV-1a, 32 bits. */
function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * The node id of a path in the mount ('' is the root): a 32-bit hash of the path (the decoder
 * takes node ids below 2^32), never 0 or the root's 1. `salt` > 0 only for a path whose hash
 * another path already has (InodeTable adds them in registry order; the registry test asserts
 * there is none).
 */
export function nodeIdOf(path: string, salt = 0): number {
  if (path === '') return FUSE_ROOT_ID;
  const h = fnv1a32(salt ? `${path}\0${salt}` : path);
  return h <= FUSE_ROOT_ID ? h + 2 : h;
}

/** The hash of a container id in its node ids: 46 bits from two FNV-1a rounds. */
export function containerHash(name: string): number {
  return fnv1a32(name) * 2 ** 14 + (fnv1a32(`\u0001${name}`) & 0x3fff);
}

interface TemplateNode {
  name: string;
  /** index of the parent in the template; -1 for the container's own directory */
  parent: number;
  file: ProcFile | null;
  isDir: boolean;
}

export class InodeTable {
  private readonly nodes = new Map<number, Inode>();
  /** paths that needed a salt (hash collisions), for the registry test */
  readonly collisions: string[] = [];
  /** the per-container tree: index 0 is the container's directory */
  private readonly template: TemplateNode[] = [{ name: '', parent: -1, file: null, isDir: true }];
  private readonly built = new Map<number, Inode[]>();
  private readonly containersIno: number;

  /** perContainer: the files every container gets its own copy of under containers/<id>/. */
  constructor(files: readonly ProcFile[], emptyDirs: readonly string[] = [], perContainer: readonly ProcFile[] = []) {
    this.nodes.set(FUSE_ROOT_ID, { ino: FUSE_ROOT_ID, name: '', parent: FUSE_ROOT_ID, children: new Map(), file: null, lookups: 1 });
    for (const f of files) this.add(f.path, f);
    for (const d of [...emptyDirs, CONTAINERS_DIR]) {
      this.add(d, null);
      if (this.byPath(d)!.children!.size) throw new Error(`vnodefs registry: empty directory ${d} has files`);
    }
    this.containersIno = this.byPath(CONTAINERS_DIR)!.ino;
    for (const f of perContainer) {
      let parent = 0;
      f.path.split('/').forEach((name, i, parts) => {
        const last = i === parts.length - 1;
        let at = this.template.findIndex((t) => t.parent === parent && t.name === name);
        if (at < 0) {
          at = this.template.push({ name, parent, file: last ? f : null, isDir: !last }) - 1;
        } else if (last || !this.template[at]!.isDir) {
          throw new Error(`vnodefs registry: per-container ${f.path} collides with another entry`);
        }
        parent = at;
      });
    }
    if (this.template.length > PER_CONTAINER_NODES) throw new Error(`vnodefs registry: ${this.template.length} per-container nodes, at most ${PER_CONTAINER_NODES}`);
  }

  /** The node ids of one container's tree, built (and kept, bounded) on first use. */
  private container(hash: number): Inode[] {
    let tree = this.built.get(hash);
    if (tree) return tree;
    const base = PER_CONTAINER_BASE + hash * PER_CONTAINER_NODES;
    let files = 0;
    tree = this.template.map((t, i) => ({
      ino: base + i,
      name: i === 0 ? `#${hash}` : t.name,
      parent: t.parent < 0 ? this.containersIno : base + t.parent,
      children: t.isDir ? new Map<string, Inode>() : null,
      file: t.file,
      lookups: 0,
      container: hash,
      ...(t.file ? { fileIndex: files++ } : {}),
    }));
    this.template.forEach((t, i) => {
      if (t.parent >= 0) tree![t.parent]!.children!.set(t.name, tree![i]!);
    });
    if (this.built.size >= BUILT_CONTAINERS) this.built.delete(this.built.keys().next().value!);
    this.built.set(hash, tree);
    return tree;
  }

  /** The node ids of a container's per-container files (none for a name that is no container id). */
  containerFiles(name: string): number[] {
    return isContainerName(name) ? this.container(containerHash(name)).filter((n) => n.file).map((n) => n.ino) : [];
  }

  /** True for a node id under containers/<id>/ (the directory included). */
  static isPerContainer(ino: number): boolean {
    return ino >= PER_CONTAINER_BASE;
  }

  /** Adds a file (or, with file null, a directory) and the directories above it. */
  private add(path: string, file: ProcFile | null): void {
    const parts = path.split('/');
    let dir = this.nodes.get(FUSE_ROOT_ID)!;
    parts.forEach((name, i) => {
      const last = i === parts.length - 1;
      const isDir = !last || file === null;
      let next = dir.children!.get(name);
      if (!next) {
        const sub = parts.slice(0, i + 1).join('/');
        let ino = nodeIdOf(sub);
        for (let salt = 1; this.nodes.has(ino); salt++) ino = nodeIdOf(sub, salt);
        if (ino !== nodeIdOf(sub)) this.collisions.push(sub);
        next = { ino, name, parent: dir.ino, children: isDir ? new Map() : null, file: last ? file : null, lookups: 0 };
        this.nodes.set(ino, next);
        dir.children!.set(name, next);
      } else if (!isDir || next.children === null) {
        throw new Error(`vnodefs registry: ${path} collides with another entry`);
      }
      dir = next;
    });
  }

  get(ino: number): Inode | undefined {
    if (!InodeTable.isPerContainer(ino)) return this.nodes.get(ino);
    const rel = ino - PER_CONTAINER_BASE;
    const i = rel % PER_CONTAINER_NODES;
    if (!Number.isSafeInteger(ino) || i >= this.template.length) return undefined;
    return this.container((rel - i) / PER_CONTAINER_NODES)[i];
  }

  /** A name in a directory; in containers/, any valid container id is a directory. */
  lookup(parent: number, name: string): Inode | undefined {
    if (parent === this.containersIno) return isContainerName(name) ? this.container(containerHash(name))[0] : undefined;
    return this.get(parent)?.children?.get(name);
  }

  byPath(path: string): Inode | undefined {
    let n: Inode | undefined = this.nodes.get(FUSE_ROOT_ID);
    for (const p of path.split('/').filter(Boolean)) n = n ? this.lookup(n.ino, p) : undefined;
    return n;
  }

  forget(ino: number, n: number): void {
    const node = this.get(ino);
    if (node && ino !== FUSE_ROOT_ID) node.lookups = Math.max(0, node.lookups - n);
  }

  get size(): number {
    return this.nodes.size;
  }

  /** The path of a node ('' for the root). */
  pathOf(ino: number): string | undefined {
    const parts: string[] = [];
    for (let n = this.get(ino); n && n.ino !== FUSE_ROOT_ID; n = this.get(n.parent)) parts.unshift(n.name);
    return this.get(ino) ? parts.join('/') : undefined;
  }
}
