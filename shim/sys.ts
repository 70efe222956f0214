// The few system calls the shim needs that Node has no API for: mounting the rootfs containerd
// sends, and making a FIFO's fd blocking before a container inherits it. koffi is loaded on
// first use, as everywhere in tsrun.
import { koffi as loadKoffi } from '../runtime/sys/koffi.js';

type Fn = (...args: unknown[]) => number;
let fns: { mount: Fn; umount2: Fn; fcntl: Fn; errno: () => number } | undefined;

function load() {
  if (fns) return fns;
  const koffi = loadKoffi();
  const libc = koffi.load('libc.so.6');
  fns = {
    mount: libc.func('int mount(const char *, const char *, const char *, unsigned long, const char *)'),
    umount2: libc.func('int umount2(const char *, int)'),
    fcntl: libc.func('int fcntl(int, int, int)'),
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

const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;
export function setBlocking(fd: number, blocking: boolean): void {
  const f = load();
  const flags = f.fcntl(fd, F_GETFL, 0);
  if (flags < 0) fail('fcntl', String(fd), f.errno());
  f.fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK);
}

export function dup(fd: number): number {
  const f = load() as ReturnType<typeof load> & { dup?: Fn };
  const r = (f.dup ??= (loadKoffi().load('libc.so.6').func('int dup(int)') as Fn))(fd);
  if (r < 0) fail('dup', String(fd), f.errno());
  return r;
}
