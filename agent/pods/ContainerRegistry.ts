// The vNode containers this node runs, as vnode-runc's hooks saw them: created (the create hook),
// gone (the delete hook, or found without runc state by reconcile). One file per container under
// <stateDir>/containers, written atomically, so a restarted manager knows which pod (and so which
// vNode) each running container belongs to. containerd talks to each pod's runc shim directly;
// nothing here is needed to serve a running container, only to place, inspect and release it.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../common/atomicWrite.js';
import { CONTAINER_ID } from '../common/containerId.js';
import type { Logger } from '../common/log.js';

export const ContainerRecordSchema = z.object({
  id: z.string().regex(CONTAINER_ID),
  podId: z.string().regex(CONTAINER_ID),
  /** The pod's sandbox (pause) container. */
  sandbox: z.boolean(),
  bundle: z.string().startsWith('/'),
  /** runc's state root the runc shim used (`--root`): the container exists while <root>/<id> does. */
  root: z.string().startsWith('/'),
  createdAt: z.number(),
});
export type ContainerRecord = z.infer<typeof ContainerRecordSchema>;

export class ContainerRegistry {
  private readonly records = new Map<string, ContainerRecord>();
  private readonly dir: string;

  constructor(
    stateDir: string,
    private readonly log: Logger,
  ) {
    this.dir = join(stateDir, 'containers');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith('.json')) continue;
      try {
        const r = ContainerRecordSchema.parse(JSON.parse(readFileSync(join(this.dir, f), 'utf8')));
        this.records.set(r.id, r);
      } catch (e) {
        this.log.warn('dropping an unreadable container record', { file: f, error: (e as Error).message });
        rmSync(join(this.dir, f), { force: true });
      }
    }
  }

  /** Not fsync'd: a record serves a manager restarted in the same boot (the page cache has it);
   * after a reboot no container of it runs, and an unreadable record is dropped at load. */
  add(r: ContainerRecord): void {
    const rec = ContainerRecordSchema.parse(r);
    writeFileAtomic(join(this.dir, `${rec.id}.json`), JSON.stringify(rec), { durable: false });
    this.records.set(rec.id, rec);
  }

  remove(id: string): ContainerRecord | undefined {
    const r = this.records.get(id);
    if (!r) return undefined;
    this.records.delete(id);
    rmSync(join(this.dir, `${id}.json`), { force: true });
    return r;
  }

  task(id: string): ContainerRecord | undefined {
    return this.records.get(id);
  }

  tasksOfPod(podId: string): ContainerRecord[] {
    return [...this.records.values()].filter((r) => r.podId === podId);
  }

  all(): ContainerRecord[] {
    return [...this.records.values()];
  }

  get taskCount(): number {
    return this.records.size;
  }

  /** Whether runc still holds state for the container (it may run, or be stopped but not deleted). */
  static exists(r: ContainerRecord): boolean {
    return existsSync(join(r.root, r.id, 'state.json'));
  }

  stats(): { tasks: number; pods: number } {
    return { tasks: this.records.size, pods: new Set([...this.records.values()].map((r) => r.podId)).size };
  }
}
