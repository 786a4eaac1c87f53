// Open-file contents shared by all FUSE workers. OPEN renders the file once into a slot of the
// opening worker's own partition (so allocation needs no lock); READ and RELEASE may arrive on
// any worker and find the slot from the file handle. A file too large for a slot, or a full
// partition, gets handle 0 and is rendered again on each READ.

const SLOT_HDR = 8; // state:i32 (generation<<1 | used) len:u32

export class HandleArena {
  readonly sab: SharedArrayBuffer;
  readonly slotSize: number;
  readonly slotsPerWorker: number;
  private readonly i32: Int32Array;
  private readonly buf: Buffer;
  private readonly nextFree: number[] = [];

  constructor(opts: { workers: number; slotsPerWorker: number; slotSize: number } | { sab: SharedArrayBuffer; slotsPerWorker: number; slotSize: number }) {
    this.slotSize = opts.slotSize;
    this.slotsPerWorker = opts.slotsPerWorker;
    this.sab = 'sab' in opts ? opts.sab : new SharedArrayBuffer(opts.workers * opts.slotsPerWorker * (SLOT_HDR + opts.slotSize));
    this.i32 = new Int32Array(this.sab);
    this.buf = Buffer.from(this.sab);
  }

  get maxContent(): number {
    return this.slotSize;
  }

  private off(slot: number): number {
    return slot * (SLOT_HDR + this.slotSize);
  }

  private get slots(): number {
    return Math.floor(this.sab.byteLength / (SLOT_HDR + this.slotSize));
  }

  /**
   * Stores content in a free slot of `worker`'s partition and returns its handle (>= 1), or 0
   * when it does not fit. Handles carry the slot's generation so a stale one never matches.
   */
  put(worker: number, content: Buffer | string): number {
    const len = typeof content === 'string' ? content.length : content.length;
    if (len > this.slotSize) return 0;
    const first = worker * this.slotsPerWorker;
    if (first + this.slotsPerWorker > this.slots) return 0;
    const start = this.nextFree[worker] ?? 0;
    for (let k = 0; k < this.slotsPerWorker; k++) {
      const idx = (start + k) % this.slotsPerWorker;
      const slot = first + idx;
      const o = this.off(slot);
      const st = Atomics.load(this.i32, o / 4);
      if (st & 1) continue;
      // Strings are latin1 (one byte per char): written straight into the slot, no copy.
      if (typeof content === 'string') this.buf.write(content, o + SLOT_HDR, len, 'latin1');
      else content.copy(this.buf, o + SLOT_HDR);
      this.buf.writeUInt32LE(len, o + 4);
      const gen = ((st >>> 1) + 1) & 0x3fffff;
      Atomics.store(this.i32, o / 4, (gen << 1) | 1);
      this.nextFree[worker] = (idx + 1) % this.slotsPerWorker;
      return gen * 2 ** 24 + slot + 1;
    }
    return 0;
  }

  private slotOf(fh: number): { slot: number; o: number } | null {
    if (!Number.isSafeInteger(fh) || fh <= 0) return null;
    const slot = (fh % 2 ** 24) - 1;
    const gen = Math.floor(fh / 2 ** 24);
    if (slot < 0 || slot >= this.slots) return null;
    const o = this.off(slot);
    const st = Atomics.load(this.i32, o / 4);
    if (!(st & 1) || st >>> 1 !== gen) return null;
    return { slot, o };
  }

  /** Bytes [offset, offset+size) of the handle's content, or null for an unknown handle. */
  read(fh: number, offset: number, size: number): Buffer | null {
    const s = this.slotOf(fh);
    if (!s) return null;
    const len = this.buf.readUInt32LE(s.o + 4);
    const from = Math.min(offset, len);
    const to = Math.min(len, from + size);
    return this.buf.subarray(s.o + SLOT_HDR + from, s.o + SLOT_HDR + to);
  }

  /** Frees the handle's slot; false when it was unknown (already freed or forged). */
  free(fh: number): boolean {
    const s = this.slotOf(fh);
    if (!s) return false;
    const st = Atomics.load(this.i32, s.o / 4);
    return Atomics.compareExchange(this.i32, s.o / 4, st, st & ~1) === st;
  }

  /** Slots in use (for tests and stats). */
  inUse(): number {
    let n = 0;
    for (let s = 0; s < this.slots; s++) if (Atomics.load(this.i32, this.off(s) / 4) & 1) n++;
    return n;
  }
}
