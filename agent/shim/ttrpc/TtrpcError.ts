// TTRPC errors travel as a google.rpc.Status-shaped message with gRPC status codes. TtrpcError is
// the one error type of this boundary: a handler throws it to choose the code, a client call
// rejects with it carrying the peer's code and message unchanged.

/** gRPC status codes (what Go's ttrpc and containerd's errdefs use). */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type Code = (typeof Code)[keyof typeof Code];

const codeNames = new Map<number, string>(Object.entries(Code).map(([k, v]) => [v, k]));

export function codeName(code: number): string {
  return codeNames.get(code) ?? `CODE_${code}`;
}

/** A google.protobuf.Any as protobufjs gives it (its bundled Any keeps the name type_url). */
export interface AnyMessage {
  type_url: string;
  value: Uint8Array;
}

export class TtrpcError extends Error {
  override readonly name = 'TtrpcError';

  constructor(
    readonly code: number,
    /** The status message exactly as sent or received (no code prefix). */
    readonly details: string,
    readonly statusDetails: AnyMessage[] = [],
    options?: { cause?: unknown },
  ) {
    super(`ttrpc ${codeName(code)}: ${details}`, options);
  }

  /** The connection closed before an answer came (Go ttrpc's ErrClosed). */
  static closed(reason: string): TtrpcError {
    return new TtrpcError(Code.UNAVAILABLE, `ttrpc: closed: ${reason}`);
  }
}

/** Node errno names mapped like Go ttrpc maps os errors (convertCode), so callers see the same code. */
const errnoCodes: Record<string, Code> = {
  ENOENT: Code.NOT_FOUND,
  EEXIST: Code.ALREADY_EXISTS,
  EACCES: Code.PERMISSION_DENIED,
  EPERM: Code.PERMISSION_DENIED,
  EINVAL: Code.INVALID_ARGUMENT,
};

/** The status a server sends for whatever a handler threw. */
export function statusOf(err: unknown): { code: number; message: string; details: AnyMessage[] } {
  if (err instanceof TtrpcError) return { code: err.code, message: err.details, details: err.statusDetails };
  if (err instanceof Error) {
    const errno = (err as NodeJS.ErrnoException).code;
    const mapped = errno ? errnoCodes[errno] : undefined;
    const code = mapped ?? (err.name === 'AbortError' ? Code.CANCELLED : Code.UNKNOWN);
    return { code, message: err.message, details: [] };
  }
  return { code: Code.UNKNOWN, message: String(err), details: [] };
}
