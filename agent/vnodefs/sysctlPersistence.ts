// The /proc/sys values vNodes wrote live in vnodefs' shared table, which dies with the manager.
// They are saved to <stateDir>/vnodefs-sysctl.json (atomically, within a second of a change, and
// at a clean stop) and put back by the next manager before it serves the FUSE connection, for the
// vNodes that still exist (keyed by their user namespace, which the holder keeps alive; a torn
// down vNode's inode may be reused, so only live ones are restored).
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../common/atomicWrite.js';
import type { Logger } from '../common/log.js';
import { usernsIdOfVNode, type VNode } from '../vnode/VNodeRecord.js';
import type { VnodeFs } from './VnodeFs.js';

const EVERY_MS = 1000;

/** The vNode's vnodefs id, or undefined when its user namespace is gone. */
function liveUsernsId(v: VNode): string | undefined {
  try {
    return usernsIdOfVNode(v);
  } catch {
    return undefined;
  }
}

export class SysctlPersistence {
  private last = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly fs: VnodeFs,
    private readonly file: string,
    private readonly log: Logger,
  ) {}

  /** Restores the saved values of live vNodes; then saves changes every second. */
  start(live: VNode[]): number {
    let n = 0;
    try {
      const snap = JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, Record<string, string>>;
      const ids = new Set(live.map(liveUsernsId).filter((x): x is string => !!x));
      n = this.fs.restoreSysctls(snap, (id) => ids.has(id));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn('vnodefs: saved /proc/sys values unreadable; starting without them', { error: (e as Error).message });
    }
    this.timer = setInterval(() => this.save(), EVERY_MS);
    this.timer.unref();
    return n;
  }

  save(): void {
    try {
      const text = JSON.stringify(this.fs.sysctlSnapshot());
      if (text === this.last) return;
      writeFileAtomic(this.file, text, { mode: 0o600 });
      this.last = text;
    } catch (e) {
      this.log.warn('vnodefs: cannot save /proc/sys values', { error: (e as Error).message });
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.save();
  }
}
