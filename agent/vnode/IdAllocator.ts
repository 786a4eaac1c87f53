// Exclusive host id ranges for vNodes: blocks of 65536 uids (and the same gids) from the
// configured pool, never overlapping a host user's /etc/subuid or /etc/subgid range, a host
// user's or group's own id, or another vNode's block. Allocations are persisted atomically
// (StateStore) so they survive a manager restart.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ID_RANGE_SIZE } from '../common/config.js';
import type { StateStore } from './StateStore.js';

export interface IdRange {
  /** First host uid; container uid 0 maps here. */
  uidStart: number;
  gidStart: number;
  size: typeof ID_RANGE_SIZE;
}

export interface IdPoolConfig {
  start: number;
  count: number;
  subuidFile: string;
  subgidFile: string;
  passwdFile: string;
  groupFile: string;
}

/** A host interval [start, end) that no vNode block may touch, and where it comes from. */
export interface ReservedInterval {
  start: number;
  end: number;
  source: string;
}

export class IdPoolExhaustedError extends Error {
  readonly code = 'EIDPOOL';
  constructor(pool: IdPoolConfig, inUse: number, reserved: number) {
    super(
      `vNode id pool exhausted: all ${pool.count} blocks of ${ID_RANGE_SIZE} ids from ${pool.start} are taken ` +
        `(${inUse} by vNodes, ${reserved} overlap host ids from ${pool.subuidFile}, ${pool.subgidFile}, ${pool.passwdFile} or ${pool.groupFile}); ` +
        `raise idPool.count or move idPool.start`,
    );
    this.name = 'IdPoolExhaustedError';
  }
}

const STATE_FILE = 'idranges.json';

const IdStateSchema = z.object({
  version: z.literal(1),
  /** owner -> first host id of its block */
  ranges: z.record(z.string(), z.number().int().nonnegative()),
  /** Next-fit cursor: where the next search starts, so a released block is not handed out again
   * at once (files a gone vNode left behind stay unowned by a new tenant as long as possible). */
  cursor: z.number().int().nonnegative(),
});
type IdState = z.infer<typeof IdStateSchema>;

/** Parses /etc/subuid-style lines "name:start:count"; bad lines are skipped. */
export function parseSubIds(text: string, source: string): ReservedInterval[] {
  const out: ReservedInterval[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const parts = t.split(':');
    if (parts.length < 3) continue;
    const start = Number(parts[1]);
    const count = Number(parts[2]);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count <= 0) continue;
    out.push({ start, end: start + count, source: `${source} (${parts[0]})` });
  }
  return out;
}

/** Parses /etc/passwd or /etc/group: the id in the third field of each line. */
export function parseIdsFile(text: string, source: string): ReservedInterval[] {
  const out: ReservedInterval[] = [];
  for (const line of text.split('\n')) {
    const parts = line.split(':');
    if (parts.length < 3) continue;
    const id = Number(parts[2]);
    if (!Number.isSafeInteger(id) || id < 0) continue;
    out.push({ start: id, end: id + 1, source: `${source} (${parts[0]})` });
  }
  return out;
}

/** Small files (/etc/subuid, /etc/passwd, ...): read at once, no thread-pool hop each. */
function readOptional(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}

const overlaps = (a: number, aEnd: number, b: number, bEnd: number): boolean => a < bEnd && b < aEnd;

export class IdAllocator {
  private state: IdState;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly store: StateStore,
    readonly pool: IdPoolConfig,
    state: IdState | undefined,
  ) {
    this.state = state ?? { version: 1, ranges: {}, cursor: 0 };
  }

  static async load(store: StateStore, pool: IdPoolConfig): Promise<IdAllocator> {
    return new IdAllocator(store, pool, await store.readJson(STATE_FILE, IdStateSchema));
  }

  /** Host ids no block may overlap, read fresh on every allocation (users come and go). */
  async reserved(): Promise<ReservedInterval[]> {
    const p = this.pool;
    return [
      ...parseSubIds(readOptional(p.subuidFile), p.subuidFile),
      ...parseSubIds(readOptional(p.subgidFile), p.subgidFile),
      ...parseIdsFile(readOptional(p.passwdFile), p.passwdFile),
      ...parseIdsFile(readOptional(p.groupFile), p.groupFile),
    ];
  }

  get(owner: string): IdRange | undefined {
    const s = this.state.ranges[owner];
    return s === undefined ? undefined : { uidStart: s, gidStart: s, size: ID_RANGE_SIZE };
  }

  entries(): Array<[string, IdRange]> {
    return Object.keys(this.state.ranges)
      .sort()
      .map((o) => [o, this.get(o)!]);
  }

  /** The owner's block, allocating one if it has none; resolves once it is on disk. */
  async allocate(owner: string): Promise<IdRange> {
    const { range, committed } = await this.reserve(owner);
    await committed;
    return range;
  }

  /**
   * The owner's block, taken at once (no other owner gets it from now on), with the promise of
   * its commit to disk: the caller overlaps the fsync with its own work and waits for it before
   * it records anything that names the block. A failed commit leaves the block taken in memory:
   * the caller's cleanup releases it (release()).
   */
  reserve(owner: string): Promise<{ range: IdRange; committed: Promise<void> }> {
    return this.serialize(async () => {
      const have = this.get(owner);
      if (have) return { range: have, committed: Promise.resolve() };
      const reserved = await this.reserved();
      const taken = Object.values(this.state.ranges);
      const { start, count } = this.pool;
      let reservedBlocks = 0;
      for (let k = 0; k < count; k++) {
        const i = (this.state.cursor + k) % count;
        const s = start + i * ID_RANGE_SIZE;
        const e = s + ID_RANGE_SIZE;
        if (taken.some((t) => overlaps(s, e, t, t + ID_RANGE_SIZE))) continue;
        if (reserved.some((r) => overlaps(s, e, r.start, r.end))) {
          reservedBlocks++;
          continue;
        }
        const next: IdState = { version: 1, ranges: { ...this.state.ranges, [owner]: s }, cursor: (i + 1) % count };
        this.state = next;
        const committed = this.store.writeJson(STATE_FILE, next);
        committed.catch(() => undefined); // the caller awaits it
        return { range: this.get(owner)!, committed };
      }
      throw new IdPoolExhaustedError(this.pool, taken.length, reservedBlocks);
    });
  }

  /** Frees the owner's block; false when it had none. */
  release(owner: string): Promise<boolean> {
    return this.serialize(async () => {
      if (this.state.ranges[owner] === undefined) return false;
      const ranges = { ...this.state.ranges };
      delete ranges[owner];
      await this.commit({ ...this.state, ranges });
      return true;
    });
  }

  private async commit(next: IdState): Promise<void> {
    await this.store.writeJson(STATE_FILE, next);
    this.state = next;
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
