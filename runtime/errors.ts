/**
 * Errors that reach the user. The message is what runc would print (callers such as
 * containerd, Docker and Podman match substrings of it); `exitCode` is the process status.
 */
export class TsrunError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'TsrunError';
    this.exitCode = exitCode;
  }
}

/** Adds context in front of an error's message, keeping its exit code. */
export function withContext(context: string, err: unknown): TsrunError {
  const message = err instanceof Error ? err.message : String(err);
  const exitCode = err instanceof TsrunError ? err.exitCode : 1;
  return new TsrunError(`${context}: ${message}`, exitCode);
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
