// Listening sockets that outlive the manager. The launcher socket and the seccomp listener socket
// are bound once and held by the fd keeper (FdKeeper.ts) under `sock:<name>`: a manager that dies
// leaves them listening, so a launcher (vnode-runc's create, vnode-cni) or a runc handing over a
// seccomp listener (every `runc exec`) that connects meanwhile waits in the backlog until the next
// manager accepts, instead of failing with ECONNREFUSED.
import { existsSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { rawCloseQuietly } from '../../addon/rawfd.js';
import { unixListen } from '../../addon/unixListen.js';
import type { FdKeeper } from './FdKeeper.js';
import type { Logger } from './log.js';

const BACKLOG = 1024;

/**
 * The fd of a socket listening on `path` (mode 0600): the one an earlier manager left in the
 * keeper, if it still is the socket file at `path`, else a new one, put in the keeper. The caller
 * owns the fd (the keeper holds its own copy). Without a keeper: a new socket, not kept.
 */
export function keptListeningSocket(keeper: FdKeeper | undefined, name: string, path: string, log: Logger): { fd: number; kept: boolean } {
  const key = `sock:${name}`;
  if (keeper) {
    try {
      let mine: number | undefined;
      for (const k of keeper.takeAll(key)) {
        if (k.name === key && mine === undefined) mine = k.fd;
        else rawCloseQuietly(k.fd);
      }
      if (mine !== undefined) {
        if (existsSync(path) && lstatSync(path).isSocket()) return { fd: mine, kept: true };
        // Its file was removed: nobody can connect to it any more.
        rawCloseQuietly(mine);
        keeper.drop(key);
      }
    } catch (e) {
      log.warn('cannot take a kept socket back; binding a new one', { socket: name, error: (e as Error).message });
    }
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o711 });
  rmSync(path, { force: true });
  const fd = unixListen(path, BACKLOG);
  if (keeper) {
    try {
      keeper.put(key, fd);
      return { fd, kept: true };
    } catch (e) {
      log.warn('socket not kept: connections during a manager restart will be refused', { socket: name, error: (e as Error).message });
    }
  }
  return { fd, kept: false };
}
