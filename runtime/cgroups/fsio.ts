// Plain synchronous file I/O on cgroup files, with runc-style error messages.
import {
  closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmdirSync, writeSync,
} from 'node:fs';
import { posix } from 'node:path';
import { TsrunError, describeSystemError } from '../errors.js';
import type { CgroupHost } from './types.js';

export function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** "write: device or resource busy" (the path is already in the message around it). */
function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && typeof e.syscall === 'string') {
    return describeSystemError({ code: e.code, syscall: e.syscall });
  }
  return describeSystemError(err);
}

/** A failed cgroup file operation; `errno` lets drivers react to EINVAL, EBUSY, ENOENT, EPERM as runc does. */
export class CgroupError extends TsrunError {
  readonly errno: string | undefined;
  constructor(message: string, cause: unknown) {
    super(message);
    this.errno = errnoOf(cause);
  }
}

export class CgroupWriteError extends CgroupError {
  readonly file: string;
  readonly value: string;
  constructor(file: string, value: string, err: unknown) {
    super(`failed to write ${JSON.stringify(value)} to ${JSON.stringify(file)}: ${reason(err)}`, err);
    this.file = file;
    this.value = value;
  }
}

/** The errno of a Node error or of a CgroupError. */
export function errnoFrom(err: unknown): string | undefined {
  return err instanceof CgroupError ? err.errno : errnoOf(err);
}

/** Cgroup files are plain names inside the cgroup dir: never a path that could leave it. */
function checkName(file: string): void {
  if (file === '' || file.includes('/') || file === '.' || file === '..' || file.includes('\0')) {
    throw new TsrunError(`invalid cgroup file name ${JSON.stringify(file)}`);
  }
}

export class CgroupFs {
  constructor(readonly host: CgroupHost) {}

  /** Writes `value` to dir/file in one write(2); EINTR is retried. */
  write(dir: string, file: string, value: string): void {
    checkName(file);
    const path = posix.join(dir, file);
    const flags = this.host.fakeFiles
      ? constants.O_WRONLY | constants.O_TRUNC
      : constants.O_WRONLY;
    let fd: number;
    try {
      fd = openSync(path, flags, 0o644);
    } catch (err) {
      throw new CgroupWriteError(path, value, err);
    }
    try {
      const buf = Buffer.from(value);
      for (;;) {
        try {
          writeSync(fd, buf, 0, buf.length);
          break;
        } catch (err) {
          if (errnoOf(err) !== 'EINTR') throw new CgroupWriteError(path, value, err);
        }
      }
    } finally {
      closeSync(fd);
    }
    this.host.onWrite?.(path, value);
  }

  /** Reads dir/file; throws a TsrunError naming the file. */
  read(dir: string, file: string): string {
    checkName(file);
    const path = posix.join(dir, file);
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new TsrunError(`failed to read ${JSON.stringify(path)}: ${reason(err)}`);
    }
  }

  /** Reads dir/file, or undefined when it does not exist. */
  readIfExists(dir: string, file: string): string | undefined {
    checkName(file);
    try {
      return readFileSync(posix.join(dir, file), 'utf8');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw new TsrunError(`failed to read ${JSON.stringify(posix.join(dir, file))}: ${reason(err)}`);
    }
  }

  exists(path: string): boolean {
    return existsSync(path);
  }

  /**
   * mkdir of one level; returns true when it created the dir, false when it was there.
   */
  mkdir(dir: string): boolean {
    try {
      mkdirSync(dir, 0o755);
    } catch (err) {
      if (errnoOf(err) === 'EEXIST') return false;
      throw new CgroupError(`failed to create cgroup ${JSON.stringify(dir)}: ${reason(err)}`, err);
    }
    this.host.onMkdir?.(dir);
    return true;
  }

  /** rmdir; ENOENT counts as success. Other errors are thrown as the Node error (callers look at the code). */
  rmdir(dir: string): void {
    try {
      if (this.host.rmdir) this.host.rmdir(dir);
      else rmdirSync(dir);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
    }
  }

  /** Sub-directories (sub-cgroups) of dir; [] when dir is gone. */
  subdirs(dir: string): string[] {
    try {
      return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => posix.join(dir, d.name));
    } catch (err) {
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return [];
      throw new TsrunError(`failed to list ${JSON.stringify(dir)}: ${reason(err)}`);
    }
  }

  /** The pids in dir/cgroup.procs; [] when the cgroup is gone. */
  procs(dir: string): number[] {
    const text = this.readIfExists(dir, 'cgroup.procs');
    if (text === undefined) return [];
    const out: number[] = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const pid = Number(line);
      if (!Number.isInteger(pid)) throw new TsrunError(`unexpected line ${JSON.stringify(line)} in ${posix.join(dir, 'cgroup.procs')}`);
      out.push(pid);
    }
    return out;
  }

  /** Pids of dir and every sub-cgroup below it. */
  allProcs(dir: string): number[] {
    const out = this.procs(dir);
    for (const sub of this.subdirs(dir)) out.push(...this.allProcs(sub));
    return out;
  }

  kill(pid: number, signal: NodeJS.Signals | number): void {
    try {
      if (this.host.kill) this.host.kill(pid, signal);
      else process.kill(pid, signal);
    } catch (err) {
      if (errnoOf(err) !== 'ESRCH') throw new TsrunError(`failed to signal pid ${pid}: ${reason(err)}`);
    }
  }

  get selfPid(): number {
    return this.host.selfPid ?? process.pid;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Removes a cgroup dir: sub-cgroups first (deepest first), then the dir itself.
 * Throws the first failure (EBUSY while processes are still leaving).
 */
export function removeCgroupTree(fs: CgroupFs, dir: string): void {
  try {
    fs.rmdir(dir);
    return;
  } catch {
    // has sub-cgroups (or is busy): take the children first
  }
  for (const sub of fs.subdirs(dir)) removeCgroupTree(fs, sub);
  fs.rmdir(dir);
}

/**
 * Removes the leaf dirs (recursively, retrying busy ones with growing delays as runc does),
 * then the ancestors this manager created, deepest first, leaving those still in use
 * (another container below them).
 */
export async function removeCgroupDirs(fs: CgroupFs, leaves: string[], createdAncestors: string[], protect: Set<string>): Promise<void> {
  let pending = leaves.filter((d) => !protect.has(d));
  let delay = 10;
  let lastErr: unknown;
  for (let attempt = 0; attempt < 6 && pending.length > 0; attempt++) {
    if (attempt > 0) {
      await sleep(delay);
      delay *= 2;
    }
    const still: string[] = [];
    for (const dir of pending) {
      try {
        removeCgroupTree(fs, dir);
      } catch (err) {
        lastErr = err;
        if (fs.exists(dir)) still.push(dir);
      }
    }
    pending = still;
  }
  if (pending.length > 0) {
    throw new TsrunError(`failed to remove cgroup paths ${pending.map((p) => JSON.stringify(p)).join(', ')}: ${describeSystemError(lastErr)}`);
  }
  const ancestors = [...new Set(createdAncestors)].filter((d) => !protect.has(d));
  ancestors.sort((a, b) => b.split('/').length - a.split('/').length);
  for (const dir of ancestors) {
    try {
      fs.rmdir(dir);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'EBUSY' || code === 'ENOTEMPTY' || code === 'EEXIST') continue; // shared with someone else
      throw new TsrunError(`failed to remove cgroup ${JSON.stringify(dir)}: ${describeSystemError(err)}`);
    }
  }
}
