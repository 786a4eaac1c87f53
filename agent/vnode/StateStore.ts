// Small JSON state files under Config.stateDir, written atomically (writeFileAtomic: temp file,
// fsync, rename, fsync of the directory) so a crash leaves the old or the new content, never a torn file.
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { z } from 'zod';
import { isTempName, syncDirAsync, writeFileAtomic, writeFileAtomicAsync } from '../common/atomicWrite.js';

export class StateError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`state file ${file}: ${message}`);
    this.name = 'StateError';
  }
}

export class StateStore {
  constructor(readonly dir: string) {}

  path(name: string): string {
    if (name.includes('..') || name.startsWith('/')) throw new StateError(name, 'name must stay inside the state directory');
    return join(this.dir, name);
  }

  /** Writes in flight per file: each write of a file waits for the one before, so the file ends
   * as the last call had it, whatever the fsyncs take. */
  private readonly writing = new Map<string, Promise<void>>();

  /**
   * durable: false for a change whose meaning ends with the boot (writeFileAtomic, no fsync).
   * A durable write runs on the thread pool (writeFileAtomicAsync): the event loop goes on while
   * the disk syncs. The content is taken at the call.
   */
  async writeJson(name: string, value: unknown, opts: { durable?: boolean } = {}): Promise<void> {
    const file = this.path(name);
    const text = JSON.stringify(value, null, 2) + '\n';
    await this.inTurn(file, async () => {
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      if (opts.durable === false) writeFileAtomic(file, text, { mode: 0o600, durable: false });
      else await writeFileAtomicAsync(file, text, { mode: 0o600 });
    });
  }

  /** Runs fn once the file's earlier writes and removals are done. */
  private async inTurn(file: string, fn: () => Promise<void>): Promise<void> {
    const before = this.writing.get(file);
    const run = (async () => {
      if (before) await before.catch(() => undefined);
      await fn();
    })();
    this.writing.set(file, run);
    try {
      await run;
    } finally {
      if (this.writing.get(file) === run) this.writing.delete(file);
    }
  }

  /** undefined when the file does not exist; StateError when it is not valid. */
  async readJson<S extends z.ZodTypeAny>(name: string, schema: S): Promise<z.infer<S> | undefined> {
    const file = this.path(name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new StateError(file, `not JSON: ${(e as Error).message}`);
    }
    const r = schema.safeParse(raw);
    if (!r.success) throw new StateError(file, r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
    return r.data as z.infer<S>;
  }

  async remove(name: string): Promise<void> {
    const file = this.path(name);
    await this.inTurn(file, async () => {
      await rm(file, { force: true });
      await syncDirAsync(dirname(file));
    });
  }

  /** Names of the JSON files in a subdirectory; leftovers of interrupted writes are deleted. */
  async list(subdir: string): Promise<string[]> {
    const dir = this.path(subdir);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: string[] = [];
    for (const n of names) {
      // `.tmp-` names: the temp files of releases before writeFileAtomic.
      if (isTempName(n) || n.includes('.tmp-')) await rm(join(dir, n), { force: true });
      else if (n.endsWith('.json')) out.push(join(subdir, n));
    }
    return out.sort();
  }
}
