// Keeping a vnodefs FUSE connection across a manager restart: how its handover (VnodeFs.handover)
// is stored. The device fds go to a long-lived fd keeper under the names `vnodefs.<i>`; the INIT
// terms go to a small JSON file beside the manager's state. A new manager loads both and calls
// VnodeFs.adopt (docs/vnodefs.md, "Surviving a manager restart").
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

import type { VnodeFsConnection, VnodeFsHandover } from './VnodeFs.js';

/** Prefix of the keeper entries that hold the connection's device fds. */
export const KEEPER_PREFIX = 'vnodefs.';

/** Writes the state atomically (a reader never sees half a file). */
export function saveConnectionState(path: string, state: VnodeFsConnection): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(state)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
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
