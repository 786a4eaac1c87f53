// Typed wrapper: a listening unix socket fd for a child process.
import { fn } from './native.js';

/** Binds and listens on `path` (mode 0600); returns the fd (close it after handing it over). */
export const unixListen = fn<(path: string, backlog?: number) => number>('unixListen');
