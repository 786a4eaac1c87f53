// Runs slow handler work (namespace helpers) with bounded concurrency, taking turns between
// vNodes so that a flood of calls from one vNode cannot hold the others back: each vNode has its
// own FIFO queue and the scheduler takes one job from each in turn. Jobs with the same serial key
// (one mount namespace) never run at the same time: a check and the act that follows it must not
// interleave with another act on the same mount table.

interface Job {
  serial: string;
  run: () => Promise<void>;
}

export class FairScheduler {
  private readonly queues = new Map<string, Job[]>();
  private readonly busy = new Set<string>();
  private order: string[] = [];
  private cursor = 0;
  private running = 0;

  constructor(private readonly concurrency: number) {
    if (!(concurrency >= 1)) throw new RangeError(`FairScheduler: concurrency must be >= 1, got ${concurrency}`);
  }

  /** Queues fn for `group` (a vNode); resolves with its result. */
  run<T>(group: string, serial: string, fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let q = this.queues.get(group);
      if (!q) {
        q = [];
        this.queues.set(group, q);
        this.order.push(group);
      }
      q.push({ serial, run: () => fn().then(resolve, reject) });
      this.pump();
    });
  }

  /** Jobs waiting (not running) per group. */
  waiting(): Map<string, number> {
    return new Map([...this.queues].map(([g, q]) => [g, q.length]));
  }

  get active(): number {
    return this.running;
  }

  private pump(): void {
    while (this.running < this.concurrency && this.order.length) {
      let picked: { group: string; job: Job } | undefined;
      for (let i = 0; i < this.order.length; i++) {
        const idx = (this.cursor + i) % this.order.length;
        const group = this.order[idx]!;
        const q = this.queues.get(group)!;
        if (!this.busy.has(q[0]!.serial)) {
          picked = { group, job: q.shift()! };
          // The next turn starts after this group: round robin.
          this.cursor = idx + 1;
          if (!q.length) {
            this.queues.delete(group);
            this.order.splice(idx, 1);
            this.cursor = idx;
          }
          break;
        }
      }
      if (!picked) return;
      if (this.order.length) this.cursor %= this.order.length;
      else this.cursor = 0;
      const { job } = picked;
      this.running++;
      this.busy.add(job.serial);
      void job.run().finally(() => {
        this.running--;
        this.busy.delete(job.serial);
        this.pump();
      });
    }
  }
}
