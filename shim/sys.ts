// The few system calls the shim needs that Node has no API for: mounting the rootfs containerd
// sends, the pipes and dups of its processes' stdio, and the group lock. koffi is loaded on first
// use, as everywhere in tsrun.
import { koffi as loadKoffi } from '../runtime/sys/koffi.js';

type Fn = (...args: unknown[]) => number;
let fns: { mount: Fn; umount2: Fn; dup: Fn; pipe2: Fn; flock: Fn; errno: () => number } | undefined;

function load() {
  if (fns) return fns;
  const koffi = loadKoffi();
  const libc = koffi.load('libc.so.6');
  fns = {
    mount: libc.func('int mount(const char *, const char *, const char *, unsigned long, const char *)'),
    umount2: libc.func('int umount2(const char *, int)'),
    dup: libc.func('int dup(int)'),
    pipe2: libc.func('int pipe2(void *, int)'),
    flock: libc.func('int flock(int, int)'),
    errno: () => koffi.errno(),
  };
  return fns;
}

const ERRNO: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 16: 'EBUSY', 22: 'EINVAL', 20: 'ENOTDIR' };

function fail(call: string, target: string, errno: number): never {
  const err = new Error(`${call} ${target}: errno ${errno}`) as NodeJS.ErrnoException;
  err.code = ERRNO[errno] ?? `E${errno}`;
  err.errno = errno;
  throw err;
}

export function mount(source: string, target: string, type: string | null, flags: number, data: string | null): void {
  const f = load();
  if (f.mount(source, target, type, flags, data) !== 0) fail('mount', target, f.errno());
}

export const MNT_DETACH = 2;
export function umount(target: string, flags = 0): void {
  const f = load();
  if (f.umount2(target, flags) !== 0) fail('umount', target, f.errno());
}

export function dup(fd: number): number {
  const f = load();
  const r = f.dup(fd);
  if (r < 0) fail('dup', String(fd), f.errno());
  return r;
}

const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;
/** flock(LOCK_EX | LOCK_NB): false when another process holds the lock. */
export function tryLockExclusive(fd: number, target: string): boolean {
  const f = load();
  if (f.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const errno = f.errno();
  if (errno === EWOULDBLOCK) return false;
  fail('flock', target, errno);
}

const O_CLOEXEC = 0o2000000;
/** A pipe, both ends close-on-exec: [read end, write end]. */
export function pipe(): [number, number] {
  const f = load();
  const fds = Buffer.alloc(8);
  if (f.pipe2(fds, O_CLOEXEC) < 0) fail('pipe2', '', f.errno());
  return [fds.readInt32LE(0), fds.readInt32LE(4)];
}
