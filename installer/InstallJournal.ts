// What the installer did to this host, persisted before and after every step (temp file, fsync,
// rename), so a run killed at any point leaves a record the next run acts on: an install run
// finishes what is half done (every step is idempotent), an uninstall run undoes every step that
// was started, in reverse order. It lives on the host, not in the pod, because the next run is
// usually a new pod.
import { z } from 'zod';
import type { HostRoot } from './HostRoot.js';
import { posix } from 'node:path';

export const STEP_NAMES = ['tree', 'cniBin', 'shimLink', 'cliLink', 'cniDir', 'config', 'restart', 'label'] as const;
export type StepName = (typeof STEP_NAMES)[number];

const StepRecord = z.object({
  status: z.enum(['started', 'done']),
  /** What undo needs to know, recorded before the step touches the host. */
  data: z.record(z.unknown()).default({}),
  at: z.string(),
});
export type StepRecord = z.infer<typeof StepRecord>;

const JournalSchema = z.object({
  format: z.literal(1),
  /** The run in flight (absent once it finished). */
  op: z.object({ kind: z.enum(['install', 'uninstall']), pid: z.number(), startedAt: z.string() }).optional(),
  steps: z.record(z.enum(STEP_NAMES), StepRecord).default({}),
  /** containerd must still be restarted and see the handler present / absent. */
  pendingRestart: z.enum(['present', 'absent']).optional(),
  /** Tree version that is installed (for the report and upgrades). */
  version: z.string().optional(),
  /** Ancestors of the state dir the first save created (deepest last); clear() removes them when empty. */
  createdDirs: z.array(z.string()).optional(),
});
export type JournalState = z.infer<typeof JournalSchema>;

export class JournalError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'JournalError';
  }
}

export class InstallJournal {
  private state: JournalState;
  readonly file: string;

  constructor(private readonly host: HostRoot, stateDir: string) {
    this.file = posix.join(stateDir, 'journal.json');
    this.state = this.load();
  }

  private load(): JournalState {
    const text = this.host.readText(this.file);
    if (text === undefined) return { format: 1, steps: {} };
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new JournalError(this.file, `not JSON (${(e as Error).message}); it is written atomically, so something else wrote it`);
    }
    const r = JournalSchema.safeParse(raw);
    if (!r.success) throw new JournalError(this.file, r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    return r.data;
  }

  get snapshot(): Readonly<JournalState> {
    return structuredClone(this.state);
  }

  /** Anything recorded at all: a host the installer has touched and not fully cleaned. */
  get touched(): boolean {
    return Object.keys(this.state.steps).length > 0 || this.state.pendingRestart !== undefined;
  }

  step(name: StepName): StepRecord | undefined {
    return this.state.steps[name];
  }

  private save(): void {
    if (this.state.createdDirs === undefined && !this.host.exists(this.file)) {
      const created: string[] = [];
      for (let d = posix.dirname(this.file); d !== '/' && !this.host.exists(d); d = posix.dirname(d)) created.unshift(d);
      this.state.createdDirs = created;
    }
    this.host.writeAtomic(this.file, `${JSON.stringify(this.state, null, 2)}\n`, 0o600);
  }

  beginOp(kind: 'install' | 'uninstall'): JournalState['op'] | undefined {
    const interrupted = this.state.op;
    this.state.op = { kind, pid: process.pid, startedAt: new Date().toISOString() };
    this.save();
    return interrupted;
  }

  endOp(): void {
    delete this.state.op;
    this.save();
  }

  started(name: StepName, data: Record<string, unknown>): void {
    const prev = this.state.steps[name];
    this.state.steps[name] = { status: 'started', data: { ...(prev?.data ?? {}), ...data }, at: new Date().toISOString() };
    this.save();
  }

  done(name: StepName, data: Record<string, unknown> = {}): void {
    const prev = this.state.steps[name];
    this.state.steps[name] = { status: 'done', data: { ...(prev?.data ?? {}), ...data }, at: new Date().toISOString() };
    this.save();
  }

  forget(name: StepName): void {
    delete this.state.steps[name];
    this.save();
  }

  setPendingRestart(p: 'present' | 'absent' | undefined): void {
    if (p === undefined) delete this.state.pendingRestart;
    else this.state.pendingRestart = p;
    this.save();
  }

  get pendingRestart(): 'present' | 'absent' | undefined {
    return this.state.pendingRestart;
  }

  setVersion(v: string | undefined): void {
    if (v === undefined) delete this.state.version;
    else this.state.version = v;
    this.save();
  }

  /** After a complete uninstall: no record left, and the state dir removed when empty. */
  clear(): void {
    const created = this.state.createdDirs ?? [];
    this.host.remove(this.file);
    this.state = { format: 1, steps: {} };
    const dir = posix.dirname(this.file);
    for (const d of [...new Set([dir, ...created.slice().reverse()])]) {
      if (!this.host.exists(d) || this.host.list(d).length !== 0) continue;
      try {
        this.host.remove(d);
      } catch {
        // A mount point (a hostPath volume) stays; kubelet made it and owns it.
      }
    }
  }
}
