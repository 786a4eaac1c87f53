// Open-file contents shared by all FUSE workers. OPEN renders the file once into a slot of the
// opening worker's own partition (so allocation needs no lock); READ and RELEASE may arrive on
// any worker and find the slot from the file handle. A file too large for a slot, or a full
// partition, gets handle 0 and is rendered again on each READ.
//
// A handle is (epoch, generation, slot): epoch * 2^32 + generation * 2^16 + slot + 1, below 2^53.
// The epoch names the server that issued it: after a manager restart the kernel still holds the
// handles of files opened from an earlier server (VnodeFs.adopt), and those must never match a
// slot of this one, whose slots start again at generation 1. A handle of another epoch is
// "foreign" (ours() is false); the operations render such a file again from its node id.

const SLOT_HDR = 16; // state:i32 (generation<<1 | used) len:u32 nodeid:u32 pad:u32
const GEN_MASK = 0xffff;
const MAX_SLOTS = 0xffff;
/** Epochs are in [1, MAX_EPOCH]. */
export const MAX_EPOCH = 2 ** 21 - 1;

export class HandleArena {
  readonly sab: SharedArrayBuffer;
  readonly slotSize: number;
  readonly slotsPerWorker: number;
  /** the issuing server's epoch, in every handle */
  readonly epoch: number;
  private readonly i32: Int32Array;
  private readonly buf: Buffer;
  private readonly nextFree: number[] = [];

  constructor(opts: ({ workers: number } | { sab: SharedArrayBuffer }) & { slotsPerWorker: number; slotSize: number; epoch?: number }) {
    this.slotSize = opts.slotSize;
    this.slotsPerWorker = opts.slotsPerWorker;
    this.epoch = opts.epoch ?? 1;
    if (!Number.isInteger(this.epoch) || this.epoch < 1 || this.epoch > MAX_EPOCH) throw new RangeError(`handle epoch ${this.epoch} is not in [1, ${MAX_EPOCH}]`);
    this.sab = 'sab' in opts ? opts.sab : new SharedArrayBuffer(opts.workers * opts.slotsPerWorker * (SLOT_HDR + opts.slotSize));
    this.i32 = new Int32Array(this.sab);
    this.buf = Buffer.from(this.sab);
    if (this.slots > MAX_SLOTS) throw new RangeError(`handle arena of ${this.slots} slots, at most ${MAX_SLOTS}`);
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

  /** The epoch a handle was issued in (0 for handle 0 or a value no arena issues). */
  static epochOf(fh: number): number {
    return Number.isSafeInteger(fh) && fh > 0 ? Math.floor(fh / 2 ** 32) : 0;
  }

  /** Whether this server issued the handle (same epoch), whether or not it is still open. */
  ours(fh: number): boolean {
    return HandleArena.epochOf(fh) === this.epoch;
  }

  /**
   * Stores content in a free slot of `worker`'s partition and returns its handle (>= 1), or 0
   * when it does not fit. Handles carry the slot's generation so a stale one never matches, and
   * the node id so a handle is only ever read for the file it was opened on.
   */
  put(worker: number, content: Buffer | string, nodeid = 0): number {
    const len = content.length;
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
      this.buf.writeUInt32LE(nodeid >>> 0, o + 8);
      let gen = ((st >>> 1) + 1) & GEN_MASK;
      if (gen === 0) gen = 1;
      Atomics.store(this.i32, o / 4, (gen << 1) | 1);
      this.nextFree[worker] = (idx + 1) % this.slotsPerWorker;
      return (this.epoch * 2 ** 16 + gen) * 2 ** 16 + slot + 1;
    }
    return 0;
  }

  private slotOf(fh: number, nodeid?: number): { slot: number; o: number } | null {
    if (!this.ours(fh)) return null;
    const slot = (fh % 2 ** 16) - 1;
    const gen = Math.floor(fh / 2 ** 16) % 2 ** 16;
    if (slot < 0 || slot >= this.slots) return null;
    const o = this.off(slot);
    const st = Atomics.load(this.i32, o / 4);
    if (!(st & 1) || st >>> 1 !== gen) return null;
    if (nodeid !== undefined && this.buf.readUInt32LE(o + 8) !== nodeid >>> 0) return null;
    return { slot, o };
  }

  /** Bytes [offset, offset+size) of the handle's content, or null for an unknown handle (or,
   * with `nodeid`, one opened on another node). */
  read(fh: number, offset: number, size: number, nodeid?: number): Buffer | null {
    const s = this.slotOf(fh, nodeid);
    if (!s) return null;
    const len = this.buf.readUInt32LE(s.o + 4);
    const from = Math.min(offset, len);
    const to = Math.min(len, from + size);
    return this.buf.subarray(s.o + SLOT_HDR + from, s.o + SLOT_HDR + to);
  }

  /** Frees the handle's slot; false when it was unknown (already freed, forged or foreign). */
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
