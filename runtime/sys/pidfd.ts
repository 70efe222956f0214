// Watching many processes' exits from one thread: a pidfd per process in one epoll set, waited
// on by a single koffi call on the thread pool, and the exit collected with a non-blocking
// waitid on the pidfd, which reaps that process only (never wait(-1), which would take
// libuv's own children from it). koffi is loaded on first use, as in syscalls.ts.
import type { ExitStatus } from './syscalls.js';
import { koffi as loadKoffi } from './koffi.js';

/** A finished waitid: the process's status, or why there is none yet. */
export type PidfdWait = ExitStatus | 'running' | 'not-child';

export interface ProcessWatchSyscalls {
  /** pidfd_open(2); throws an Error with `code` (ESRCH…) */
  pidfdOpen(pid: number): number;
  /** waitid(P_PIDFD, WEXITED | WNOHANG); 'not-child' when it is not (yet) ours to reap */
  waitPidfd(pidfd: number): PidfdWait;
  epollCreate(): number;
  epollAdd(epfd: number, fd: number): void;
  epollDelete(epfd: number, fd: number): void;
  /** epoll_wait on a worker thread: the ready fds; timeoutMs as epoll_wait's (-1: none) */
  epollWait(epfd: number, max: number, timeoutMs?: number): Promise<number[]>;
  /** an eventfd to wake epollWait with (non-blocking, close-on-exec) */
  eventfd(): number;
  close(fd: number): void;
}

const P_PIDFD = 3;
const WEXITED = 4;
const WNOHANG = 1;
const CLD_EXITED = 1;
const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLLIN = 1;
const EINTR = 4;
const ECHILD = 10;
// struct epoll_event is packed on x86_64 (12 bytes), naturally aligned elsewhere (16).
const EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
const DATA_OFFSET = process.arch === 'x64' ? 4 : 8;

const ERRNO_CODES: Record<number, string> = { 1: 'EPERM', 3: 'ESRCH', 9: 'EBADF', 10: 'ECHILD', 22: 'EINVAL', 24: 'EMFILE' };

type Fn = ((...args: unknown[]) => number) & { async: (...args: unknown[]) => void };

function errnoError(call: string, errno: number): Error {
  const err = new Error(`${call}: errno ${errno}`) as NodeJS.ErrnoException;
  err.code = ERRNO_CODES[errno] ?? `E${errno}`;
  err.errno = errno;
  return err;
}

class KoffiProcessWatch implements ProcessWatchSyscalls {
  private fns: Record<'pidfd_open' | 'waitid' | 'epoll_create1' | 'epoll_ctl' | 'epoll_wait' | 'eventfd' | 'close', Fn> & { errno: () => number } | undefined;

  private load() {
    if (this.fns) return this.fns;
    const koffi = loadKoffi();
    const libc = koffi.load('libc.so.6');
    this.fns = {
      pidfd_open: libc.func('int pidfd_open(int, unsigned int)'),
      // siginfo_t is 128 bytes; si_code at 8, si_pid at 16, si_status at 24 on x86_64/aarch64.
      waitid: libc.func('int waitid(int, int, _Out_ uint8_t *info, int)'),
      epoll_create1: libc.func('int epoll_create1(int)'),
      epoll_ctl: libc.func('int epoll_ctl(int, int, int, uint8_t *event)'),
      epoll_wait: libc.func('int epoll_wait(int, _Out_ uint8_t *events, int, int)'),
      eventfd: libc.func('int eventfd(unsigned int, int)'),
      close: libc.func('int close(int)'),
      errno: () => koffi.errno(),
    };
    return this.fns;
  }

  pidfdOpen(pid: number): number {
    const f = this.load();
    const fd = f.pidfd_open(pid, 0);
    if (fd < 0) throw errnoError('pidfd_open', f.errno());
    return fd;
  }

  waitPidfd(pidfd: number): PidfdWait {
    const f = this.load();
    const info = Buffer.alloc(128);
    for (;;) {
      if (f.waitid(P_PIDFD, pidfd, info, WEXITED | WNOHANG) === 0) break;
      const errno = f.errno();
      if (errno === EINTR) continue;
      if (errno === ECHILD) return 'not-child';
      throw errnoError('waitid', errno);
    }
    if (info.readInt32LE(16) === 0) return 'running';
    const code = info.readInt32LE(8);
    const status = info.readInt32LE(24);
    return code === CLD_EXITED ? { code: status, signal: 0 } : { code: 128 + status, signal: status };
  }

  epollCreate(): number {
    const f = this.load();
    const fd = f.epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) throw errnoError('epoll_create1', f.errno());
    return fd;
  }

  private ctl(epfd: number, op: number, fd: number): void {
    const f = this.load();
    const ev = Buffer.alloc(EVENT_SIZE);
    ev.writeUInt32LE(EPOLLIN, 0);
    ev.writeUInt32LE(fd, DATA_OFFSET);
    if (f.epoll_ctl(epfd, op, fd, ev) !== 0) throw errnoError('epoll_ctl', f.errno());
  }

  epollAdd(epfd: number, fd: number): void { this.ctl(epfd, EPOLL_CTL_ADD, fd); }
  epollDelete(epfd: number, fd: number): void { this.ctl(epfd, EPOLL_CTL_DEL, fd); }

  epollWait(epfd: number, max: number, timeoutMs = -1): Promise<number[]> {
    const f = this.load();
    const events = Buffer.alloc(EVENT_SIZE * max);
    return new Promise((resolve, reject) => {
      f.epoll_wait.async(epfd, events, max, timeoutMs, (err: Error | null, n: number) => {
        if (err) return reject(err);
        // EINTR (a signal Node handles): nothing is ready.
        if (n < 0) return resolve([]);
        const fds: number[] = [];
        for (let i = 0; i < n; i++) fds.push(events.readUInt32LE(i * EVENT_SIZE + DATA_OFFSET));
        resolve(fds);
      });
    });
  }

  eventfd(): number {
    const f = this.load();
    const fd = f.eventfd(0, 0o4000 | 0o2000000);
    if (fd < 0) throw errnoError('eventfd', f.errno());
    return fd;
  }

  close(fd: number): void { this.load().close(fd); }
}

let instance: ProcessWatchSyscalls | undefined;

export function processWatch(): ProcessWatchSyscalls {
  return (instance ??= new KoffiProcessWatch());
}
