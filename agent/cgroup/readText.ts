// Small-file reads for /proc and cgroupfs on hot paths: one open/read/close with a reused
// buffer (readFileSync stats first and allocates per call, which costs more than the read).
import { closeSync, openSync, readSync } from 'node:fs';

let buf = Buffer.allocUnsafe(64 * 1024);

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
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, n);
        buf = bigger;
      }
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
    }
    return buf.toString('latin1', 0, n);
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
