// The mount's directory tree, built once from the file registry: directories for every path
// prefix and every empty directory asked for (they hide host directories), one inode per file.
// Inode numbers are fixed for the mount's life, so FORGET only lowers a counter and nothing is
// ever freed or reused.
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

export class InodeTable {
  private readonly nodes: Inode[] = [];

  constructor(files: readonly ProcFile[], emptyDirs: readonly string[] = []) {
    this.nodes[FUSE_ROOT_ID] = { ino: FUSE_ROOT_ID, name: '', parent: FUSE_ROOT_ID, children: new Map(), file: null, lookups: 1 };
    for (const f of files) this.add(f.path, f);
    for (const d of emptyDirs) {
      this.add(d, null);
      if (this.byPath(d)!.children!.size) throw new Error(`vnodefs registry: empty directory ${d} has files`);
    }
  }

  /** Adds a file (or, with file null, a directory) and the directories above it. */
  private add(path: string, file: ProcFile | null): void {
    const parts = path.split('/');
    let dir = this.nodes[FUSE_ROOT_ID]!;
    parts.forEach((name, i) => {
      const last = i === parts.length - 1;
      const isDir = !last || file === null;
      let next = dir.children!.get(name);
      if (!next) {
        next = { ino: this.nodes.length, name, parent: dir.ino, children: isDir ? new Map() : null, file: last ? file : null, lookups: 0 };
        this.nodes.push(next);
        dir.children!.set(name, next);
      } else if (!isDir || next.children === null) {
        throw new Error(`vnodefs registry: ${path} collides with another entry`);
      }
      dir = next;
    });
  }

  get(ino: number): Inode | undefined {
    return ino > 0 ? this.nodes[ino] : undefined;
  }

  lookup(parent: number, name: string): Inode | undefined {
    return this.nodes[parent]?.children?.get(name);
  }

  byPath(path: string): Inode | undefined {
    let n: Inode | undefined = this.nodes[FUSE_ROOT_ID];
    for (const p of path.split('/').filter(Boolean)) n = n?.children?.get(p);
    return n;
  }

  forget(ino: number, n: number): void {
    const node = this.get(ino);
    if (node && ino !== FUSE_ROOT_ID) node.lookups = Math.max(0, node.lookups - n);
  }

  get size(): number {
    return this.nodes.length - 1;
  }
}
