// close(2) for descriptors Node did not open itself (received over SCM_RIGHTS).
import { fn } from './native.js';

export const rawClose = fn<(fd: number) => void>('rawClose');

export function rawCloseQuietly(fd: number): void {
  try {
    rawClose(fd);
  } catch {
    // already closed
  }
}
