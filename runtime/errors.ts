/**
 * What kind of failure an error is, for callers that act on it rather than print it: the shim
 * maps kinds to containerd's error codes (not-found: NotFound, exists: AlreadyExists, invalid:
 * InvalidArgument, precondition: FailedPrecondition, unsupported: Unimplemented, internal:
 * Internal).
 */
export type ErrorKind = 'not-found' | 'exists' | 'invalid' | 'precondition' | 'unsupported' | 'internal';

/**
 * Errors that reach the user. The message is what runc would print (callers such as
 * containerd, Docker and Podman match substrings of it); `exitCode` is the CLI's status.
 */
export class TsrunError extends Error {
  readonly exitCode: number;
  readonly kind: ErrorKind;
  constructor(message: string, exitCode = 1, kind: ErrorKind = 'internal') {
    super(message);
    this.name = 'TsrunError';
    this.exitCode = exitCode;
    this.kind = kind;
  }

  /** A bad config.json or argument. */
  static invalid(message: string): TsrunError { return new TsrunError(message, 1, 'invalid'); }
  static notFound(message: string): TsrunError { return new TsrunError(message, 1, 'not-found'); }
  static exists(message: string): TsrunError { return new TsrunError(message, 1, 'exists'); }
  /** The container is in the wrong state for the operation. */
  static precondition(message: string): TsrunError { return new TsrunError(message, 1, 'precondition'); }
  static unsupported(message: string): TsrunError { return new TsrunError(message, 1, 'unsupported'); }
}

/** The kind of any error: a TsrunError's own, a system error's by its errno, else internal. */
export function errorKind(err: unknown): ErrorKind {
  if (err instanceof TsrunError) return err.kind;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'not-found';
  if (code === 'EEXIST') return 'exists';
  if (code === 'EINVAL') return 'invalid';
  return 'internal';
}

/** Adds context in front of an error's message, keeping its exit code and kind. */
export function withContext(context: string, err: unknown): TsrunError {
  const message = err instanceof Error ? err.message : String(err);
  const exitCode = err instanceof TsrunError ? err.exitCode : 1;
  return new TsrunError(`${context}: ${message}`, exitCode, errorKind(err));
}

/** The text of a Node system error as Go's os package would spell it: "open X: no such file or directory". */
export function describeSystemError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && typeof e.syscall === 'string') {
    const text = ERRNO_TEXT[e.code] ?? e.code.toLowerCase();
    return e.path ? `${e.syscall} ${e.path}: ${text}` : `${e.syscall}: ${text}`;
  }
  return err instanceof Error ? err.message : String(err);
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'file exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EINVAL: 'invalid argument',
  EBUSY: 'device or resource busy',
  ESRCH: 'no such process',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  ENOTEMPTY: 'directory not empty',
  ELOOP: 'too many levels of symbolic links',
  ENXIO: 'no such device or address',
};
