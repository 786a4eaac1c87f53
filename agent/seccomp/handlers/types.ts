// The contract between the notification loop and the handlers: one handler per syscall, a pure
// decision from the call and its environment to an answer (or a promise of one).
import type { NsActionRequest, NsActionResult } from '../../../addon/nsaction.js';
import type { Logger } from '../../common/log.js';
import type { ContainerFacts } from '../ContainerFacts.js';
import type { SeccompTarget } from '../SeccompTarget.js';
import type { Abi } from '../syscallTable.js';
import type { TargetMemory } from '../TargetMemory.js';

export type Answer =
  | { kind: 'value'; val: bigint | number }
  | { kind: 'errno'; errno: number }
  | { kind: 'continue' }
  /** Already answered by the handler's action with a new descriptor (ADDFD|SEND): nothing to send. */
  | { kind: 'sent'; fd: number };

export const ok = (val: bigint | number = 0): Answer => ({ kind: 'value', val });
export const fail = (errno: number): Answer => ({ kind: 'errno', errno });
export const CONTINUE: Answer = { kind: 'continue' };
export const sent = (fd: number): Answer => ({ kind: 'sent', fd });

export interface TrappedCall {
  id: bigint;
  /** The caller's host tid. */
  tid: number;
  abi: Abi;
  name: string;
  /** Arguments; for 32-bit ABIs already cut to 32 bits (pointers and ints alike). */
  args: readonly bigint[];
}

/** The caller's /proc/<tid>/status facts handlers use. */
export interface CallerStatus {
  capEff: bigint;
  umask: number;
  /** The caller's tid and process id in its own pid namespace (last NSpid, NStgid fields). */
  nsTid: number;
  nsTgid: number;
}

export const CAP_SYS_ADMIN = 21;
export const CAP_SYS_BOOT = 22;
export const CAP_MKNOD = 27;

export const hasCap = (s: CallerStatus, cap: number): boolean => ((s.capEff >> BigInt(cap)) & 1n) === 1n;

/** What the manager emulates in this container (absent: nothing, i.e. no vnodefs). */
export interface Emulation {
  /** [major, minor] of the vnodefs superblock: its mounts are the emulated files. */
  protect: [number, number];
  /** (host file or directory, path inside a new proc mount) */
  procOverlays: [string, string][];
  /** (host file or directory, path inside a new sysfs mount) */
  sysOverlays: [string, string][];
}

export interface HandlerEnv {
  readonly call: TrappedCall;
  readonly target: SeccompTarget;
  readonly facts: ContainerFacts;
  readonly emulation: Emulation | undefined;
  readonly log: Logger;
  /** The caller's memory (process_vm_readv/writev): read, then ensureValid(), then act or write. */
  memory(): TargetMemory;
  /** Throws CallerGone when the notification is no longer pending (read before you act). */
  ensureValid(): void;
  status(): CallerStatus;
  /** Runs a namespace action for the caller, fairly scheduled and serialised per mount namespace. */
  nsAction(req: Omit<NsActionRequest, 'pid' | 'listener' | 'id'>): Promise<NsActionResult>;
}

export interface SyscallHandler {
  readonly name: string;
  handle(env: HandlerEnv): Answer | Promise<Answer>;
}

/** The caller went away (killed, or its notification answered elsewhere): answer nothing. */
export class CallerGone extends Error {
  constructor(what: string) {
    super(`caller gone: ${what}`);
    this.name = 'CallerGone';
  }
}

/** The pointer-sized arguments of the ABI (i386 longs are 4 bytes; x32 uses 64-bit kernel longs). */
export const longSize = (abi: Abi): 4 | 8 => (abi === 'i386' ? 4 : 8);
