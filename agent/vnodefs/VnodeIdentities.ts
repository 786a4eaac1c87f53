// Which vNode a FUSE caller belongs to, for the files that show a machine identity. The manager
// registers each vNode's name with its exclusive host id range; a caller is found by the uid in
// its request (always inside its vNode's range: a process in a user namespace has no other ids,
// also in a user namespace nested in the vNode's). Kept in the shared table, so every worker sees
// a registration at once; each worker parses the list again only after it changed (a generation
// counter in the table), so a lookup costs one table read.
import type { VnodeIdentity } from './render/renderIdentity.js';
import type { SharedKv } from './SharedKv.js';

const PREFIX = 'identity:';
const GENERATION = 'identity-generation';
const NAME_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export class VnodeIdentityError extends Error {
  override name = 'VnodeIdentityError';
}

export class VnodeIdentities {
  private cached: { generation: string | undefined; list: VnodeIdentity[] } | null = null;

  constructor(private readonly kv: SharedKv) {}

  /** Registers (or replaces) the vNode owning [uidStart, uidStart + size). */
  register(v: VnodeIdentity): void {
    if (!NAME_RE.test(v.name)) throw new VnodeIdentityError(`vNode name ${JSON.stringify(v.name)} is not a DNS label`);
    if (!Number.isInteger(v.uidStart) || v.uidStart <= 0 || !Number.isInteger(v.size) || v.size <= 0) {
      throw new VnodeIdentityError(`vNode ${v.name}: bad id range ${v.uidStart}+${v.size}`);
    }
    // Ranges are exclusive (IdAllocator); one that overlaps another registration is a stale entry
    // of a vNode that is gone (its block handed out again), and must not answer for the new one.
    for (const other of this.list()) {
      if (other.uidStart !== v.uidStart && other.uidStart < v.uidStart + v.size && v.uidStart < other.uidStart + other.size) this.kv.delete(PREFIX + other.uidStart);
    }
    this.kv.set(PREFIX + v.uidStart, `${v.size} ${v.name}`);
    this.bump();
  }

  /** Forgets the vNode whose range starts at uidStart (when it is deleted). */
  forget(uidStart: number): boolean {
    const had = this.kv.delete(PREFIX + uidStart);
    if (had) this.bump();
    return had;
  }

  /** The vNode whose range holds this host uid, or null (the host, or no registered vNode). */
  forUid(uid: number): VnodeIdentity | null {
    return this.list().find((v) => uid >= v.uidStart && uid < v.uidStart + v.size) ?? null;
  }

  list(): VnodeIdentity[] {
    const generation = this.kv.get(GENERATION);
    if (this.cached && this.cached.generation === generation) return this.cached.list;
    const list = this.kv.entries(PREFIX).map(([k, val]): VnodeIdentity => {
      const sp = val.indexOf(' ');
      return { uidStart: Number(k.slice(PREFIX.length)), size: Number(val.slice(0, sp)), name: val.slice(sp + 1) };
    });
    this.cached = { generation, list };
    return list;
  }

  private bump(): void {
    // Only its change matters; a counter that wraps would still change.
    this.kv.set(GENERATION, String((Number(this.kv.get(GENERATION) ?? 0) + 1) % 1e9));
  }
}
