// What the manager knows about the container behind a listener: the lead's resolver returns it
// for runc's state message; it travels to the notification worker as plain data.
import { z } from 'zod';

/** runc's message with the listener fd (runc 1.1 `linux.seccomp.listenerPath`). */
export const ListenerStateSchema = z
  .object({
    ociVersion: z.string(),
    fds: z.array(z.string()).min(1),
    /** the process the filter was installed in: the container's init on create, the new process on exec */
    pid: z.number().int().positive(),
    metadata: z.string().optional(),
    state: z
      .object({
        ociVersion: z.string().optional(),
        id: z.string().min(1),
        status: z.string(),
        pid: z.number().int().nonnegative().optional(),
        bundle: z.string(),
        annotations: z.record(z.string()).optional(),
      })
      .passthrough(),
  })
  .passthrough();
export type ListenerState = z.infer<typeof ListenerStateSchema>;

export interface SeccompTarget {
  vnodeId: string;
  containerId: string;
  /** Host pid of the container's init (reboot stops the container through it). */
  rootPid: number;
  /** Host path of the vnodefs mount (files under proc/ and sys/); absent: nothing is emulated. */
  fsMountpoint?: string;
  /** When the container (pod) started, ms since the epoch; default: the init's start time. */
  startedAtMs?: number;
}

export const SeccompTargetSchema = z
  .object({
    vnodeId: z.string().min(1),
    containerId: z.string().min(1),
    rootPid: z.number().int().positive(),
    fsMountpoint: z.string().startsWith('/').optional(),
    startedAtMs: z.number().nonnegative().optional(),
  })
  .strict();
