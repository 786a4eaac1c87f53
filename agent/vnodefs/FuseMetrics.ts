// Per-request counters and latency histograms of the vnodefs workers, in shared memory. Each
// worker owns one region and only it writes there, with plain stores: no lock, no Atomics, no
// message on the FUSE path. The main thread sums the regions when metrics are scraped; a figure
// it reads may lag a request behind, never more.
import { Op } from './protocol/fuseAbi.js';

/** Operation classes, the `op` label: bounded whatever opcode a request carries. */
export const FUSE_OP_CLASSES = ['lookup', 'getattr', 'setattr', 'open', 'read', 'write', 'release', 'readdir', 'other'] as const;
export type FuseOpClass = (typeof FUSE_OP_CLASSES)[number];

/** Upper bounds (seconds) of the latency buckets; the last bucket, +Inf, is the count. */
export const FUSE_LATENCY_BUCKETS = [5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 1e-1] as const;

const CLASS_OF = new Uint8Array(64).fill(FUSE_OP_CLASSES.indexOf('other'));
const set = (ops: Op[], cls: FuseOpClass): void => ops.forEach((o) => (CLASS_OF[o] = FUSE_OP_CLASSES.indexOf(cls)));
set([Op.LOOKUP], 'lookup');
set([Op.GETATTR], 'getattr');
set([Op.SETATTR], 'setattr');
set([Op.OPEN, Op.OPENDIR], 'open');
set([Op.READ], 'read');
set([Op.WRITE], 'write');
set([Op.RELEASE, Op.RELEASEDIR, Op.FLUSH], 'release');
set([Op.READDIR, Op.READDIRPLUS], 'readdir');

// Per class: requests, errors (an errno reply), latency sum (s), then one count per bucket and one for +Inf.
const COUNT = 0;
const ERRORS = 1;
const SUM = 2;
const BUCKET0 = 3;
const STRIDE = BUCKET0 + FUSE_LATENCY_BUCKETS.length + 1;
const REGION = FUSE_OP_CLASSES.length * STRIDE;

export interface FuseOpFigures {
  requests: number;
  errors: number;
  sumSeconds: number;
  /** Cumulative counts per bucket bound (le), as Prometheus wants them; the +Inf one is `requests`. */
  buckets: number[];
}

export class FuseMetrics {
  readonly sab: SharedArrayBuffer;
  private readonly f: Float64Array;

  /** The main thread makes it for `workers` workers; a worker attaches to its sab. */
  constructor(src: { workers: number } | { sab: SharedArrayBuffer }) {
    this.sab = 'sab' in src ? src.sab : new SharedArrayBuffer(src.workers * REGION * 8);
    this.f = new Float64Array(this.sab);
  }

  get workers(): number {
    return this.f.length / REGION;
  }

  /** One answered request on `worker`: opcode from its header, seconds from read to reply written. */
  record(worker: number, opcode: number, seconds: number, error: boolean): void {
    const f = this.f;
    const b = worker * REGION + (opcode < 64 ? CLASS_OF[opcode]! : CLASS_OF[0]!) * STRIDE;
    f[b + COUNT]!++;
    if (error) f[b + ERRORS]!++;
    f[b + SUM]! += seconds;
    let i = 0;
    while (i < FUSE_LATENCY_BUCKETS.length && seconds > FUSE_LATENCY_BUCKETS[i]!) i++;
    f[b + BUCKET0 + i]!++;
  }

  /** Every worker's figures added up, by class. */
  totals(): Record<FuseOpClass, FuseOpFigures> {
    const out = {} as Record<FuseOpClass, FuseOpFigures>;
    FUSE_OP_CLASSES.forEach((cls, c) => {
      const fig: FuseOpFigures = { requests: 0, errors: 0, sumSeconds: 0, buckets: FUSE_LATENCY_BUCKETS.map(() => 0) };
      for (let w = 0; w < this.workers; w++) {
        const b = w * REGION + c * STRIDE;
        fig.requests += this.f[b + COUNT]!;
        fig.errors += this.f[b + ERRORS]!;
        fig.sumSeconds += this.f[b + SUM]!;
        let acc = 0;
        for (let i = 0; i < FUSE_LATENCY_BUCKETS.length; i++) {
          acc += this.f[b + BUCKET0 + i]!;
          fig.buckets[i]! += acc;
        }
      }
      out[cls] = fig;
    });
    return out;
  }
}

/** Whether a reply (fuse_out_header: len u32, error i32, unique u64) carries an errno. */
export function isErrorReply(out: Buffer | null): boolean {
  return out !== null && out.length >= 8 && out.readInt32LE(4) !== 0;
}
