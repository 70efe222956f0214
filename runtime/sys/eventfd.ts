// eventfd(2), which Node has no API for: cgroup v1 OOM notification registers one with
// cgroup.event_control. koffi is loaded on first use only (see syscalls.ts).
import { koffi as loadKoffi } from './koffi.js';

const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;

let eventfdFn: ((initval: number, flags: number) => number) | undefined;
let errnoFn: (() => number) | undefined;

/**
 * A non-blocking, close-on-exec eventfd. Read it with fs.readSync (8 bytes: the counter, reset
 * by the read); EAGAIN means nothing happened since the last read.
 */
export function eventfd(): number {
  if (!eventfdFn) {
    const koffi = loadKoffi();
    const libc = koffi.load('libc.so.6');
    eventfdFn = libc.func('int eventfd(unsigned int, int)');
    errnoFn = () => koffi.errno();
  }
  const fd = eventfdFn!(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw new Error(`eventfd: errno ${errnoFn!()}`);
  return fd;
}
