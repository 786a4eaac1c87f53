// The st_size (and st_blksize) each file reports. Not 0 as in /proc, for two kernel behaviours:
// - sendfile(2)/splice(2) from a FUSE file goes through the page cache even with FOPEN_DIRECT_IO
//   (kernels since 6.5, until "fuse: use copy_splice_read() for FOPEN_DIRECT_IO splice read"),
//   and stops at i_size: with size 0 busybox `cat` (it uses sendfile) prints nothing. With a
//   size the kernel asks us for the page, we refuse it (VnodeFsOps.read) and the caller falls
//   back to read(2); a page is never cached, so no container sees another's figures.
// - asynchronous direct reads (io_uring, aio) are cut at i_size.
// A size must also hold the whole content: Node's fs.readFileSync reads exactly st_size bytes of
// a regular file. So it is a power of two at least twice the host's own file (a container sees
// fewer CPUs, devices and lines than the host, never more), and st_blksize is the same value:
// GNU wc then reads the file instead of trusting st_size (its /proc and /sys rule), and stdio
// reads it in one read(2).
import { join } from 'node:path';

import { readText } from '../cgroup/readText.js';
import type { ProcFile } from './ProcFile.js';

export const MIN_FILE_SIZE = 4096;

export function fileSize(f: ProcFile, procRoot: string): number {
  if (f.kind === 'sysctl' || !f.path.startsWith('proc/')) return MIN_FILE_SIZE;
  const hostLen = readText(join(procRoot, f.path.slice('proc/'.length)))?.length ?? 0;
  let size = MIN_FILE_SIZE;
  while (size < 2 * hostLen) size *= 2;
  return size;
}

/** Sizes of every file, by path (computed once at mount, the same on every worker). */
export function fileSizes(files: readonly ProcFile[], procRoot: string): Record<string, number> {
  return Object.fromEntries(files.map((f) => [f.path, fileSize(f, procRoot)]));
}
