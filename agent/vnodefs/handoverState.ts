// Keeping a vnodefs FUSE connection across a manager restart: how its handover (VnodeFs.handover)
// is stored. The device fds go to a long-lived fd keeper under the names `vnodefs.<i>`; the INIT
// terms go to a small JSON file beside the manager's state. A new manager loads both and calls
// VnodeFs.adopt (docs/vnodefs.md, "Surviving a manager restart").
import { readFileSync } from 'node:fs';
import { MountConstants, umount2 } from '../../addon/mount.js';
import { rawCloseQuietly } from '../../addon/rawfd.js';
import { writeFileAtomic } from '../common/atomicWrite.js';
import type { FdKeeper } from '../common/FdKeeper.js';
import type { Logger } from '../common/log.js';
import { isMountPoint } from '../common/mountinfo.js';

import type { VnodeFs, VnodeFsConnection, VnodeFsHandover } from './VnodeFs.js';

/** Prefix of the keeper entries that hold the connection's device fds. */
export const KEEPER_PREFIX = 'vnodefs.';

/** Writes the state atomically (a reader never sees half a file). */
export function saveConnectionState(path: string, state: VnodeFsConnection): void {
  writeFileAtomic(path, `${JSON.stringify(state)}\n`, { mode: 0o600 });
}

/** The saved state, or null when there is none (no connection to adopt: mount afresh). */
export function loadConnectionState(path: string): VnodeFsConnection | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const s = JSON.parse(text) as Partial<VnodeFsConnection>;
  const nums = ['connection', 'minor', 'flags', 'kernelFlags2', 'maxWrite', 'maxReadahead', 'epoch', 'mountedAt'] as const;
  if (s.version !== 1 || typeof s.mountpoint !== 'string' || nums.some((k) => typeof s[k] !== 'number')) throw new Error(`${path}: not a vnodefs connection state`);
  return s as VnodeFsConnection;
}

/** The keeper entries for a handover: `vnodefs.0` (the session fd), `vnodefs.1`, ... */
export function keeperEntries(h: VnodeFsHandover): { name: string; fd: number }[] {
  return h.fds.map((fd, i) => ({ name: `${KEEPER_PREFIX}${i}`, fd }));
}

/** The handover from a keeper's entries (others are ignored), in index order; null when the
 * keeper holds none. */
export function fromKeeperEntries(entries: readonly { name: string; fd: number }[], state: VnodeFsConnection): VnodeFsHandover | null {
  const mine = entries
    .filter((e) => e.name.startsWith(KEEPER_PREFIX) && /^\d+$/.test(e.name.slice(KEEPER_PREFIX.length)))
    .sort((a, b) => Number(a.name.slice(KEEPER_PREFIX.length)) - Number(b.name.slice(KEEPER_PREFIX.length)));
  return mine.length ? { fds: mine.map((e) => e.fd), state } : null;
}

/**
 * Brings vnodefs up for a manager: adopts the live connection an earlier manager left in the
 * keeper (its fds there, its INIT terms in `statePath`), or mounts afresh (nothing kept, or the
 * kept connection cannot be taken: then the old mount is detached first, and containers started
 * before keep binds of a dead mount). Then hands the connection to the keeper for the next one.
 * Register vNodes and start times on `fs` before calling: the first requests see them.
 */
export async function serveVnodefs(fs: VnodeFs, keeper: FdKeeper | undefined, statePath: string, log: Logger): Promise<'adopted' | 'mounted'> {
  let how: 'adopted' | 'mounted' = 'mounted';
  /** Names of the entries an earlier manager left (their fds are closed or adopted below). */
  let keptNames: string[] = [];
  if (keeper) {
    let state: VnodeFsConnection | null = null;
    try {
      state = loadConnectionState(statePath);
    } catch (e) {
      log.warn('vnodefs: unreadable connection state; mounting afresh', { error: (e as Error).message });
    }
    const entries = keeper.takeAll(KEEPER_PREFIX);
    keptNames = entries.map((e) => e.name);
    const h = state ? fromKeeperEntries(entries, state) : null;
    if (!h) for (const e of entries) rawCloseQuietly(e.fd);
    if (h) {
      try {
        await fs.adopt(h);
        how = 'adopted';
      } catch (e) {
        for (const fd of h.fds) rawCloseQuietly(fd);
        log.error('vnodefs: cannot take over the kept FUSE connection; mounting afresh (containers started before it read a dead mount)', { error: (e as Error).message });
      }
    } else if (state) log.warn('vnodefs: a connection state but no kept fds (the keeper was restarted): the old mount is dead; mounting afresh');
  }
  if (how === 'mounted') {
    if (isMountPoint(fs.mountpoint)) await umount2(fs.mountpoint, MountConstants.MNT_DETACH).catch(() => undefined);
    await fs.mount();
  }
  if (keeper) {
    const ho = fs.handover();
    saveConnectionState(statePath, ho.state);
    const keep = keeperEntries(ho);
    for (const e of keep) keeper.put(e.name, e.fd);
    // Entries beyond this server's fds (an earlier one had more workers) go.
    for (const name of keptNames) if (!keep.some((k) => k.name === name)) keeper.drop(name);
  }
  return how;
}
