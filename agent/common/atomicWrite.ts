// The one way a file or link is replaced in place (state files, task records, the rewritten
// config.json, the installer's host files and links): a temp entry in the same directory, the
// file fsynced, renamed over the old one, the directory fsynced. A reader sees the old or the new
// content, never half, and after a crash the rename is either on disk or not.
// `durable: false` keeps the rename and skips both fsyncs (2-5 ms on a virtual disk, and each
// queues behind containerd's own commits in the file system's journal): for files that mean
// nothing after a reboot (a bundle's config.json, a record of a running container, a vNode's pod
// list), a reader and a restarted process still see old or new, never half.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const TEMP_MARK = '.vnode-tmp-';

/**
 * The temp entry beside path: hidden and without the file's suffix, so no loader that reads a
 * directory by extension (CNI's .conflist, containerd's .toml, our .json) picks it up.
 */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}${TEMP_MARK}${process.pid}`);
}

/** Whether a directory entry is a temp entry of this helper for `name` (any name when omitted): left by a killed writer. */
export function isTempName(entry: string, name?: string): boolean {
  return name === undefined ? entry.startsWith('.') && entry.includes(TEMP_MARK) : entry.startsWith(`.${name}${TEMP_MARK}`);
}

/** Some file systems refuse fsync on directories; the rename is still atomic. */
function dirSyncRefused(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EINVAL' || code === 'ENOTSUP' || code === 'EROFS';
}

/** fsync of a directory, so a rename or unlink in it is on disk. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } catch (e) {
    if (!dirSyncRefused(e)) throw e;
  } finally {
    closeSync(fd);
  }
}

/** Writes the temp entry with `make` and renames it over path; the temp entry never outlives a failure. */
function replace(path: string, make: (tmp: string) => void, durable = true): void {
  const tmp = tempPathFor(path);
  rmSync(tmp, { force: true });
  try {
    make(tmp);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  if (durable) syncDir(dirname(path));
}

export interface AtomicWriteOptions {
  /** The new file's mode, as for open(2) (the umask applies); default 0o666 like writeFileSync. */
  mode?: number;
  /** false: no fsync of the file or the directory (a file whose meaning ends with the boot); default true. */
  durable?: boolean;
}

/** Replaces path with data: temp file in the same directory, fsync, rename, fsync of the directory. */
export function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const durable = opts.durable ?? true;
  replace(
    path,
    (tmp) => {
      const fd = openSync(tmp, 'wx', opts.mode ?? 0o666);
      try {
        writeFileSync(fd, data);
        if (durable) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    },
    durable,
  );
}

/**
 * writeFileAtomic on the thread pool: the two fsyncs (3-18 ms each on a virtual disk, behind
 * containerd's journal commits) no longer stop the event loop. The caller must not write the same
 * path twice at once (the temp entry is per path and process): StateStore queues per file.
 */
export async function writeFileAtomicAsync(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const durable = opts.durable ?? true;
  const tmp = tempPathFor(path);
  await rm(tmp, { force: true });
  try {
    const fh = await open(tmp, 'wx', opts.mode ?? 0o666);
    try {
      await fh.writeFile(data);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  if (durable) await syncDirAsync(dirname(path));
}

/** syncDir on the thread pool. */
export async function syncDirAsync(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } catch (e) {
    if (!dirSyncRefused(e)) throw e;
  } finally {
    await dh.close();
  }
}

/** Points path (a link, or nothing yet) at target by renaming a new link over it. */
export function symlinkAtomic(target: string, path: string): void {
  replace(path, (tmp) => symlinkSync(target, tmp));
}
