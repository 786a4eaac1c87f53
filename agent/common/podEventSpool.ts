// The manager's refusals of pods, on their way to the Kubernetes API as Events. The manager has no
// Kubernetes credentials (it runs on the host, in the host's namespaces, and answers the syscalls
// of untrusted pods: a service account token there would be one more thing to steal), so it
// appends each refusal as a JSON line to a spool file in its state dir (root's, 0700), and the
// installer, which holds the DaemonSet's service account, takes the file and posts the Events
// (installer/PodEventForwarder.ts). Bounded: past MAX_SPOOL_BYTES new lines are dropped (and
// logged) until the installer takes the file. Best effort, as Events are.
import { appendFileSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { z } from 'zod';

export const POD_EVENT_SPOOL = 'pod-events.jsonl';
export const MAX_SPOOL_BYTES = 256 * 1024;

export const PodEventSchema = z.object({
  /** ms since the epoch, when the manager refused */
  at: z.number(),
  pod: z.object({ namespace: z.string(), name: z.string(), uid: z.string() }),
  reason: z.string().regex(/^[A-Z][A-Za-z]{0,127}$/),
  message: z.string().max(4096),
});
export type PodEvent = z.infer<typeof PodEventSchema>;

/** Appends one refusal; false when the spool is full (the installer is not taking it). */
export function appendPodEvent(file: string, e: PodEvent): boolean {
  let size = 0;
  try {
    size = statSync(file).size;
  } catch {
    // none yet
  }
  const line = `${JSON.stringify(PodEventSchema.parse(e))}\n`;
  if (size + line.length > MAX_SPOOL_BYTES) return false;
  appendFileSync(file, line, { mode: 0o600 });
  return true;
}

/** Takes the spool (rename, read, remove): the entries written so far, malformed lines skipped. */
export function takePodEvents(file: string): { events: PodEvent[]; malformed: number } {
  const taken = `${file}.taking`;
  try {
    renameSync(file, taken);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  let text = '';
  try {
    text = readFileSync(taken, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { events: [], malformed: 0 };
    throw e;
  }
  rmSync(taken, { force: true });
  const events: PodEvent[] = [];
  let malformed = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      events.push(PodEventSchema.parse(JSON.parse(line)));
    } catch {
      malformed++;
    }
  }
  return { events, malformed };
}
