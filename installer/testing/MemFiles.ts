// An in-memory host file tree for planning tests: host path -> text.
import { posix } from 'node:path';
import { globToRegExp } from '../HostRoot.js';
import type { ConfigFiles, FileEdit } from '../containerdConfig.js';

export class MemFiles implements ConfigFiles {
  readonly files = new Map<string, string>();

  constructor(init: Record<string, string> = {}) {
    for (const [k, v] of Object.entries(init)) this.files.set(k, v);
  }

  readText(p: string): string | undefined {
    return this.files.get(p);
  }

  glob(pattern: string): string[] {
    const dir = posix.dirname(pattern);
    const re = globToRegExp(posix.basename(pattern));
    return [...this.files.keys()].filter((p) => posix.dirname(p) === dir && re.test(posix.basename(p))).sort();
  }

  apply(edits: FileEdit[]): void {
    for (const e of edits) {
      if (this.files.get(e.path) !== e.before) throw new Error(`${e.path} changed since the plan`);
      if (e.after === undefined) this.files.delete(e.path);
      else this.files.set(e.path, e.after);
    }
  }

  snapshot(): Record<string, string> {
    return Object.fromEntries([...this.files.entries()].sort());
  }
}
