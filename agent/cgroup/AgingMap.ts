// A cache map whose entries go once unused for `ageMs` to 2 × `ageMs`, and which never holds more
// than `max`. Two generations: new entries and hits go to the young one, an entry found in the
// old one moves to the young one, and at each turn (every `ageMs`, or early when the young one
// holds half of `max`) the old generation is dropped whole. Its memory follows the working set,
// not the number of keys ever seen: on a node churning through pods, the entries of containers
// that are gone age out instead of filling the cache up to a bound.
export class AgingMap<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private turnedAt: number;

  constructor(
    private readonly ageMs: number,
    private readonly max: number,
    private readonly now: () => number = Date.now,
  ) {
    this.turnedAt = now();
  }

  get(k: K): V | undefined {
    const v = this.young.get(k);
    if (v !== undefined) return v;
    const o = this.old.get(k);
    if (o !== undefined) {
      this.old.delete(k);
      this.set(k, o);
    }
    return o;
  }

  set(k: K, v: V): void {
    const t = this.now();
    if (t - this.turnedAt >= this.ageMs || this.young.size >= this.max >> 1) {
      this.old = this.young;
      this.young = new Map();
      this.turnedAt = t;
    }
    this.old.delete(k);
    this.young.set(k, v);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }
}
