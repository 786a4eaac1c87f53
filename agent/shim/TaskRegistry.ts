// What the central shim knows about containerd's tasks: which pod (and so which runc shim) each
// task id belongs to, the containerd that started it, and short-lived tombstones of deleted tasks
// so that containerd's `shim delete` after every Task.Delete is answered at once (bounded in age
// and count, see below). Tasks and pod shims are persisted under
// <stateDir>/shim so a restarted manager finds its runc shims again.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../common/atomicWrite.js';
import { CONTAINER_ID } from '../common/containerId.js';
import type { Logger } from '../common/log.js';

/** What `containerd-shim-vnode-v2 start` told us about a task before its Create. */
export const StartInfoSchema = z.object({
  id: z.string().min(1),
  namespace: z.string().min(1),
  bundle: z.string().startsWith('/'),
  containerdAddress: z.string().min(1),
  ttrpcAddress: z.string().min(1),
  publishBinary: z.string(),
});
export type StartInfo = z.infer<typeof StartInfoSchema>;

export const TaskRecordSchema = StartInfoSchema.extend({
  podId: z.string().min(1),
  /** True for the pod's sandbox (pause) container. */
  sandbox: z.boolean(),
  createdAt: z.number(),
});
export type TaskRecord = z.infer<typeof TaskRecordSchema>;

export const PodShimRecordSchema = z.object({
  podId: z.string().min(1),
  namespace: z.string().min(1),
  address: z.string().min(1),
  dir: z.string().startsWith('/'),
  pid: z.number().int().nonnegative(),
});
export type PodShimRecord = z.infer<typeof PodShimRecordSchema>;

export interface Tombstone {
  /** The pod the task belonged to: Shutdown(id) after Delete still reaches its runc shim. */
  podId: string | undefined;
  pid: number;
  exitStatus: number;
  exitedAt: { seconds: number; nanos: number } | null;
  at: number;
}

/*
 * Bounds, so that nothing here grows with pod churn:
 * - a tombstone routes the Shutdown that follows Task.Delete and then answers containerd's
 *   `shim delete`, which runs once, when containerd closes the task's connection right after
 *   that Shutdown (../shared/containerd-facts.md §3): the answer consumes it. One that is never
 *   asked for (containerd died in between) is kept 5 minutes, and at most the 1,024 newest are
 *   kept (at 5 pods/s with 2 tasks each, 100 s of deletions);
 * - a start (containerd-shim-vnode-v2 start) becomes a task at Create; one that never does is
 *   forgotten at its `shim delete`, or after 10 minutes.
 */
export const TOMBSTONE_TTL_MS = 5 * 60_000;
export const MAX_TOMBSTONES = 1024;
export const START_TTL_MS = 10 * 60_000;

export class TaskRegistry {
  private readonly starts = new Map<string, { info: StartInfo; at: number }>();
  private readonly tasks = new Map<string, TaskRecord>();
  private readonly pods = new Map<string, PodShimRecord>();
  private readonly tombstones = new Map<string, Tombstone>();
  private readonly taskDir: string;
  private readonly podDir: string;

  constructor(
    stateDir: string,
    private readonly log: Logger,
  ) {
    this.taskDir = join(stateDir, 'shim/tasks');
    this.podDir = join(stateDir, 'shim/pods');
    mkdirSync(this.taskDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.podDir, { recursive: true, mode: 0o700 });
  }

  /** Loads persisted tasks and pod shims; unreadable entries are logged and dropped. */
  load(): { tasks: TaskRecord[]; pods: PodShimRecord[] } {
    const read = <T>(dir: string, schema: z.ZodType<T>): T[] => {
      const out: T[] = [];
      for (const f of readdirSync(dir)) {
        if (!f.endsWith('.json')) continue;
        try {
          out.push(schema.parse(JSON.parse(readFileSync(join(dir, f), 'utf8'))));
        } catch (e) {
          this.log.warn('dropping unreadable shim state', { file: join(dir, f), error: (e as Error).message });
          rmSync(join(dir, f), { force: true });
        }
      }
      return out;
    };
    const tasks = read(this.taskDir, TaskRecordSchema);
    const pods = read(this.podDir, PodShimRecordSchema);
    for (const t of tasks) this.tasks.set(t.id, t);
    for (const p of pods) this.pods.set(p.podId, p);
    return { tasks, pods };
  }

  noteStart(info: StartInfo, now = Date.now()): void {
    for (const [id, s] of this.starts) if (now - s.at > START_TTL_MS) this.starts.delete(id);
    this.starts.delete(info.id);
    this.starts.set(info.id, { info, at: now });
    this.tombstones.delete(info.id);
  }

  startInfo(id: string): StartInfo | undefined {
    return this.starts.get(id)?.info;
  }

  /** A start that never became a task (containerd ran `shim delete` for it). */
  forgetStart(id: string): void {
    this.starts.delete(id);
  }

  addTask(rec: TaskRecord): void {
    this.tasks.set(rec.id, rec);
    this.starts.delete(rec.id);
    writeRecord(join(this.taskDir, `${safeName(rec.id)}.json`), rec);
  }

  task(id: string): TaskRecord | undefined {
    return this.tasks.get(id);
  }

  tasksOfPod(podId: string): TaskRecord[] {
    return [...this.tasks.values()].filter((t) => t.podId === podId);
  }

  /** The task is gone from containerd's view; keep its exit for `shim delete`. */
  removeTask(id: string, tomb?: Omit<Tombstone, 'at' | 'podId'>, now = Date.now()): void {
    const podId = this.tasks.get(id)?.podId;
    this.tasks.delete(id);
    this.starts.delete(id);
    rmSync(join(this.taskDir, `${safeName(id)}.json`), { force: true });
    if (tomb) {
      // Re-inserted, so the map stays in age order (the oldest first).
      this.tombstones.delete(id);
      this.tombstones.set(id, { ...tomb, podId, at: now });
    }
    this.pruneTombstones(now);
  }

  tombstone(id: string): Tombstone | undefined {
    return this.tombstones.get(id);
  }

  /** The tombstone, removed: for `shim delete`, the last thing containerd asks about a task. */
  takeTombstone(id: string): Tombstone | undefined {
    const t = this.tombstones.get(id);
    this.tombstones.delete(id);
    return t;
  }

  setPod(rec: PodShimRecord): void {
    this.pods.set(rec.podId, rec);
    writeRecord(join(this.podDir, `${safeName(rec.podId)}.json`), rec);
  }

  pod(podId: string): PodShimRecord | undefined {
    return this.pods.get(podId);
  }

  removePod(podId: string): void {
    this.pods.delete(podId);
    rmSync(join(this.podDir, `${safeName(podId)}.json`), { force: true });
  }

  get taskCount(): number {
    return this.tasks.size;
  }

  /** Sizes of the in-memory tables (the manager's state entry). */
  stats(): { starts: number; tasks: number; pods: number; tombstones: number } {
    return { starts: this.starts.size, tasks: this.tasks.size, pods: this.pods.size, tombstones: this.tombstones.size };
  }

  /** Oldest first: those past the TTL, then any beyond the count bound. */
  private pruneTombstones(now: number): void {
    const old = now - TOMBSTONE_TTL_MS;
    let over = this.tombstones.size - MAX_TOMBSTONES;
    for (const [id, t] of this.tombstones) {
      if (t.at >= old && over <= 0) break;
      this.tombstones.delete(id);
      over--;
    }
  }
}

/** containerd ids (CONTAINER_ID); anything else is refused before it can name a file. */
export function safeName(id: string): string {
  if (!CONTAINER_ID.test(id)) throw new Error(`invalid task id ${JSON.stringify(id)}`);
  return id;
}

function writeRecord(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value), { mode: 0o600 });
}
