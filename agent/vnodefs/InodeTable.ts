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
}

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

export class InodeTable {
  private readonly nodes = new Map<number, Inode>();
  /** paths that needed a salt (hash collisions), for the registry test */
  readonly collisions: string[] = [];

  constructor(files: readonly ProcFile[], emptyDirs: readonly string[] = []) {
    this.nodes.set(FUSE_ROOT_ID, { ino: FUSE_ROOT_ID, name: '', parent: FUSE_ROOT_ID, children: new Map(), file: null, lookups: 1 });
    for (const f of files) this.add(f.path, f);
    for (const d of emptyDirs) {
      this.add(d, null);
      if (this.byPath(d)!.children!.size) throw new Error(`vnodefs registry: empty directory ${d} has files`);
    }
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
    return this.nodes.get(ino);
  }

  lookup(parent: number, name: string): Inode | undefined {
    return this.nodes.get(parent)?.children?.get(name);
  }

  byPath(path: string): Inode | undefined {
    let n: Inode | undefined = this.nodes.get(FUSE_ROOT_ID);
    for (const p of path.split('/').filter(Boolean)) n = n?.children?.get(p);
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
    for (let n = this.nodes.get(ino); n && n.ino !== FUSE_ROOT_ID; n = this.nodes.get(n.parent)) parts.unshift(n.name);
    return this.nodes.has(ino) ? parts.join('/') : undefined;
  }
}
