// mknod(2) of a character or block device node (sync: a local filesystem call, no FUSE server
// behind it). Which devices, where and for whom is agent/pods/DeviceNodes.ts's decision.
import { fn } from './native.js';

/** Makes `path` a device node; the umask applies to `mode`, so callers chmod afterwards. */
export const mknodDevice = fn<(path: string, type: 'c' | 'b', mode: number, major: number, minor: number) => void>('mknodDevice');
