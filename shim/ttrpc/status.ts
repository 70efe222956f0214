// gRPC status codes as ttrpc carries them in google.rpc.Status, and the errors that map to them.

/** google.golang.org/grpc/codes. */
export const Code = {
  OK: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const;
export type Code = number;

const NAMES = Object.fromEntries(Object.entries(Code).map(([k, v]) => [v, k])) as Record<number, string>;

export function codeName(code: number): string {
  return NAMES[code] ?? `Code(${code})`;
}

/**
 * An error with a status code. Thrown by a handler, its code and description are what the caller
 * receives; returned by the client, it is what the server answered. `message` reads as Go's
 * status errors do: `rpc error: code = NotFound desc = container not created`.
 */
export class TtrpcError extends Error {
  override name = 'TtrpcError';
  constructor(readonly code: number, readonly desc: string, readonly details: { type_url: string; value: Uint8Array }[] = []) {
    super(`rpc error: code = ${codeName(code)} desc = ${desc}`);
  }
}

/** The connection closed (or was never open): Go's ttrpc.ErrClosed. */
export class TtrpcClosedError extends Error {
  override name = 'TtrpcClosedError';
  constructor() {
    super('ttrpc: closed');
  }
}

/**
 * The status a handler's error becomes. A TtrpcError keeps its code; an error with a numeric
 * `grpcCode` property (the runtime library's typed errors may carry one) gets that code; Node's
 * file errors map as Go's ttrpc maps os errors (ENOENT → NotFound, EEXIST → AlreadyExists,
 * EACCES/EPERM → PermissionDenied); anything else is Unknown with the error's message.
 */
export function statusFromError(err: unknown): { code: number; message: string; details: { type_url: string; value: Uint8Array }[] } {
  if (err instanceof TtrpcError) return { code: err.code, message: err.desc, details: err.details };
  const e = err as { grpcCode?: unknown; code?: unknown; message?: unknown; name?: unknown; desc?: unknown; details?: unknown } | null;
  // one from another bundle of this code (the gRPC transport is a file of its own)
  if (e?.name === 'TtrpcError' && typeof e.code === 'number' && typeof e.desc === 'string') {
    return { code: e.code, message: e.desc, details: Array.isArray(e.details) ? e.details : [] };
  }
  const message = e && typeof e.message === 'string' ? e.message : String(err);
  if (e && typeof e.grpcCode === 'number') return { code: e.grpcCode, message, details: [] };
  switch (e?.code) {
    case 'ENOENT': return { code: Code.NotFound, message, details: [] };
    case 'EEXIST': return { code: Code.AlreadyExists, message, details: [] };
    case 'EACCES': case 'EPERM': return { code: Code.PermissionDenied, message, details: [] };
  }
  return { code: Code.Unknown, message, details: [] };
}
