// Small-file reads for /proc and cgroupfs on hot paths: one open/read/close with a reused
// buffer (readFileSync stats first and allocates per call, which costs more than the read).
import { closeSync, existsSync, openSync, readSync } from 'node:fs';

let buf = Buffer.allocUnsafe(64 * 1024);

/** Reads fd to its end into the shared buffer (grown as needed); `fromStart`: pread from offset 0. */
function readAll(fd: number, fromStart: boolean): string {
  let n = 0;
  for (;;) {
    if (n === buf.length) {
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, n);
      buf = bigger;
    }
    const r = readSync(fd, buf, n, buf.length - n, fromStart ? n : null);
    if (r === 0) break;
    n += r;
  }
  return buf.toString('latin1', 0, n);
}

/** The whole file as latin1 text, or undefined when it does not exist (ENOENT/ENOTDIR/ESRCH). */
export function readText(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
  try {
    return readAll(fd, false);
  } catch (e) {
    // A process that exits between open and read gives ESRCH; treat it as gone.
    if (isMissing(e)) return undefined;
    throw e;
  } finally {
    closeSync(fd);
  }
}

export function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ESRCH' || code === 'ENODEV';
}

/**
 * Reads files that are read again and again (cgroup limits and counters) through descriptors
 * kept open: a pread at offset 0 makes cgroupfs and procfs generate the text afresh, and saves
 * the path walk of open(2), which costs more than the read. A removed cgroup's descriptor fails
 * (ENODEV) and is dropped. At most `max` descriptors are kept (least recently opened go first),
 * and once a second the oldest are checked and those of removed files closed (sweep()).
 */
export class OpenFileCache {
  private readonly fds = new Map<string, number>();
  private sweptAt = 0;

  constructor(
    private readonly max = 256,
    /** How often (ms) a read also checks the oldest `sweepBatch` paths and closes those gone. */
    private readonly sweepMs = 1000,
    private readonly sweepBatch = 64,
    private readonly now: () => number = Date.now,
  ) {}

  /** Descriptors open now. */
  get size(): number {
    return this.fds.size;
  }

  /**
   * Closes the descriptors of files that no longer exist among the oldest `sweepBatch`: a
   * removed cgroup's files would otherwise each hold a descriptor until evicted by size, so a
   * node that churns through pods would keep `max` of them open. Live ones go to the back.
   */
  sweep(): number {
    const batch: [string, number][] = [];
    for (const e of this.fds) {
      if (batch.length >= this.sweepBatch) break;
      batch.push(e);
    }
    let n = 0;
    for (const [path, fd] of batch) {
      this.fds.delete(path);
      if (existsSync(path)) {
        this.fds.set(path, fd);
      } else {
        closeSync(fd);
        n++;
      }
    }
    return n;
  }

  read(path: string): string | undefined {
    if (this.fds.size > 0) {
      const now = this.now();
      if (now - this.sweptAt >= this.sweepMs) {
        this.sweptAt = now;
        this.sweep();
      }
    }
    let fd = this.fds.get(path);
    if (fd === undefined) {
      try {
        fd = openSync(path, 'r');
      } catch (e) {
        if (isMissing(e)) return undefined;
        throw e;
      }
      if (this.fds.size >= this.max) {
        const [oldPath, oldFd] = this.fds.entries().next().value as [string, number];
        this.fds.delete(oldPath);
        closeSync(oldFd);
      }
      this.fds.set(path, fd);
    }
    try {
      return readAll(fd, true);
    } catch (e) {
      this.fds.delete(path);
      closeSync(fd);
      // The cgroup went away under the open descriptor: look again by path.
      if (isMissing(e)) return readText(path);
      throw e;
    }
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
