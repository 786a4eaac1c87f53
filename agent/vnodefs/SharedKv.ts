// A small string key/value table in a SharedArrayBuffer, shared by the FUSE worker threads and
// the main thread (which runs the load sampler): per-vNode /proc/sys values, pod start times and load
// averages live here, so a worker never needs a message from another thread (a worker blocked in
// read(/dev/fuse) could not receive one) and never waits on the main loop.
// Open addressing with tombstones; one lock word, held only for a copy of a slot or two.
// Deleted slots are tombstones that lookups must step over: once they make up a quarter of the
// table (or an insert would leave less than an eighth of it empty) the table is rebuilt in place
// under the lock, so a node that has churned through many pods probes as little as a new one.

const KEY_MAX = 192;
const VAL_MAX = 248;
const SLOT = 8 + KEY_MAX + VAL_MAX; // state:i32 keyLen:u16 valLen:u16 key value
const HDR_INTS = 4; // lock, used, tombstones, spare

const EMPTY = 0;
const USED = 1;
const DEAD = 2;

export class SharedKvError extends Error {}

/** The table has no free slot: the caller decides what gives (evict, fall back, refuse). */
export class SharedKvFullError extends SharedKvError {}

export interface SharedKvStats {
  capacity: number;
  used: number;
  /** Tombstones (deleted slots not yet reclaimed by a rebuild). */
  dead: number;
}

function fnv1a(b: Buffer, len: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < len; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

export class SharedKv {
  readonly sab: SharedArrayBuffer;
  private readonly i32: Int32Array;
  private readonly buf: Buffer;
  private readonly cap: number;
  private readonly base = HDR_INTS * 4;
  private readonly keyBuf = Buffer.alloc(KEY_MAX);

  constructor(capacityOrSab: number | SharedArrayBuffer) {
    this.sab = typeof capacityOrSab === 'number' ? new SharedArrayBuffer(HDR_INTS * 4 + capacityOrSab * SLOT) : capacityOrSab;
    this.cap = Math.floor((this.sab.byteLength - HDR_INTS * 4) / SLOT);
    this.i32 = new Int32Array(this.sab);
    this.buf = Buffer.from(this.sab);
    // A new table is touched once, whole (one write per page): its memory is all resident from
    // the start, rather than growing page by page as keys hash all over it (8192 entries: 3.6 MB).
    if (typeof capacityOrSab === 'number') for (let o = 0; o < this.buf.length; o += 4096) this.buf[o] = 0;
  }

  private lock(): void {
    for (let spins = 0; Atomics.compareExchange(this.i32, 0, 0, 1) !== 0; spins++) {
      if (spins > 100) Atomics.wait(this.i32, 0, 1, 1);
    }
  }

  private unlock(): void {
    Atomics.store(this.i32, 0, 0);
    Atomics.notify(this.i32, 0, 1);
  }

  private encodeKey(key: string): number {
    const n = this.keyBuf.write(key, 'utf8');
    if (Buffer.byteLength(key) > KEY_MAX) throw new SharedKvError(`key longer than ${KEY_MAX} bytes: ${key.slice(0, 40)}...`);
    return n;
  }

  private slotOff(i: number): number {
    return this.base + i * SLOT;
  }

  private state(i: number): number {
    return this.buf.readInt32LE(this.slotOff(i));
  }

  private keyEquals(i: number, klen: number): boolean {
    const o = this.slotOff(i);
    if (this.buf.readUInt16LE(o + 4) !== klen) return false;
    return this.buf.compare(this.keyBuf, 0, klen, o + 8, o + 8 + klen) === 0;
  }

  /** Slot holding the key, or -1. Caller holds the lock. */
  private find(klen: number): number {
    let i = fnv1a(this.keyBuf, klen) % this.cap;
    for (let n = 0; n < this.cap; n++, i = (i + 1) % this.cap) {
      const s = this.state(i);
      if (s === EMPTY) return -1;
      if (s === USED && this.keyEquals(i, klen)) return i;
    }
    return -1;
  }

  get(key: string): string | undefined {
    const klen = this.encodeKey(key);
    this.lock();
    try {
      const i = this.find(klen);
      return i < 0 ? undefined : this.valueAt(i);
    } finally {
      this.unlock();
    }
  }

  set(key: string, value: string): void {
    this.write(key, value, true);
  }

  /** Stores the value unless the key has one; returns the key's value after the call (the
   * earlier one if there was). Throws SharedKvFullError when a new key finds no room. */
  setIfAbsent(key: string, value: string): string {
    return this.write(key, value, false);
  }

  /** The one writer: a new key takes a slot (rebuilding first when dead slots crowd the table);
   * an existing one is replaced only when `replace`. Returns the key's value after the call. */
  private write(key: string, value: string, replace: boolean): string {
    const klen = this.encodeKey(key);
    const v = Buffer.from(value, 'utf8');
    if (v.length > VAL_MAX) throw new SharedKvError(`value for ${key} longer than ${VAL_MAX} bytes`);
    this.lock();
    try {
      let i = this.find(klen);
      if (i >= 0 && !replace) return this.valueAt(i);
      if (i < 0) {
        if (this.size >= this.cap) throw new SharedKvFullError(`shared table full (${this.cap} entries), cannot add ${key.slice(0, 60)}`);
        const dead = Atomics.load(this.i32, 2);
        if (dead > 0 && this.size + dead + 1 > this.cap - (this.cap >> 3)) this.rebuild();
        i = this.place(this.keyBuf, klen);
      }
      const o = this.slotOff(i);
      this.buf.writeUInt16LE(v.length, o + 6);
      v.copy(this.buf, o + 8 + KEY_MAX);
      return value;
    } finally {
      this.unlock();
    }
  }

  /** Claims the first empty or dead slot on the key's probe path (lock held, a free slot exists). */
  private place(key: Buffer, klen: number): number {
    let i = fnv1a(key, klen) % this.cap;
    while (this.state(i) === USED) i = (i + 1) % this.cap;
    if (this.state(i) === DEAD) Atomics.sub(this.i32, 2, 1);
    Atomics.add(this.i32, 1, 1);
    const o = this.slotOff(i);
    this.buf.writeUInt16LE(klen, o + 4);
    key.copy(this.buf, o + 8, 0, klen);
    this.buf.writeInt32LE(USED, o);
    return i;
  }

  /** Rebuilds the table without tombstones (lock held): every live entry is placed again. */
  private rebuild(): void {
    const live: { key: Buffer; value: Buffer }[] = [];
    for (let i = 0; i < this.cap; i++) {
      const o = this.slotOff(i);
      if (this.state(i) === USED) {
        live.push({
          key: Buffer.from(this.buf.subarray(o + 8, o + 8 + this.buf.readUInt16LE(o + 4))),
          value: Buffer.from(this.buf.subarray(o + 8 + KEY_MAX, o + 8 + KEY_MAX + this.buf.readUInt16LE(o + 6))),
        });
      }
      this.buf.writeInt32LE(EMPTY, o);
    }
    Atomics.store(this.i32, 1, 0);
    Atomics.store(this.i32, 2, 0);
    for (const e of live) {
      const o = this.slotOff(this.place(e.key, e.key.length));
      this.buf.writeUInt16LE(e.value.length, o + 6);
      e.value.copy(this.buf, o + 8 + KEY_MAX);
    }
  }

  /** After deletions (lock held): rebuild once tombstones are a quarter of the table. */
  private reclaim(): void {
    if (Atomics.load(this.i32, 2) >= this.cap >> 2) this.rebuild();
  }

  delete(key: string): boolean {
    const klen = this.encodeKey(key);
    this.lock();
    try {
      const i = this.find(klen);
      if (i < 0) return false;
      this.kill(i);
      this.reclaim();
      return true;
    } finally {
      this.unlock();
    }
  }

  private kill(i: number): void {
    this.buf.writeInt32LE(DEAD, this.slotOff(i));
    Atomics.sub(this.i32, 1, 1);
    Atomics.add(this.i32, 2, 1);
  }

  /** Every entry whose key starts with prefix. */
  entries(prefix = ''): [string, string][] {
    const out: [string, string][] = [];
    this.lock();
    try {
      for (let i = 0; i < this.cap; i++) {
        if (this.state(i) !== USED) continue;
        const k = this.keyAt(i);
        if (k.startsWith(prefix)) out.push([k, this.valueAt(i)]);
      }
    } finally {
      this.unlock();
    }
    return out;
  }

  /** Removes every entry whose key starts with prefix; returns how many. */
  deletePrefix(prefix: string): number {
    let n = 0;
    this.lock();
    try {
      for (let i = 0; i < this.cap; i++) {
        if (this.state(i) !== USED) continue;
        if (this.keyAt(i).startsWith(prefix)) {
          this.kill(i);
          n++;
        }
      }
      this.reclaim();
    } finally {
      this.unlock();
    }
    return n;
  }

  /** The key and value of slot i (lock held): [klen u16 at +4, vlen u16 at +6, key at +8, value at +8+KEY_MAX]. */
  private keyAt(i: number): string {
    const o = this.slotOff(i);
    return this.buf.toString('utf8', o + 8, o + 8 + this.buf.readUInt16LE(o + 4));
  }

  private valueAt(i: number): string {
    const o = this.slotOff(i);
    return this.buf.toString('utf8', o + 8 + KEY_MAX, o + 8 + KEY_MAX + this.buf.readUInt16LE(o + 6));
  }

  get size(): number {
    return Atomics.load(this.i32, 1);
  }

  get capacity(): number {
    return this.cap;
  }

  stats(): SharedKvStats {
    return { capacity: this.cap, used: this.size, dead: Atomics.load(this.i32, 2) };
  }
}
