// One reaper per Runtime: the exits of the processes the runtime owns (container inits, exec'd
// processes), collected without a thread per process. Each watched process gets a pidfd in one
// epoll set; one call waits on the set from the thread pool, and a ready pidfd is reaped with a
// non-blocking waitid on that pidfd alone, so libuv's own children are never taken from it.
//
// A process is only ours to reap once it is our child: a container init is the executor's
// child until the executor exits, and the caller must be a child subreaper for orphans to come
// to it at all. A pidfd is readable as soon as the process has exited, child or not: one that
// is not ours yet is tried again a little later; one that never becomes ours (no subreaper)
// is reported with `unknown` set, since its status went to someone else.
import { readSync, writeSync } from 'node:fs';
import { processWatch, type ProcessWatchSyscalls } from './sys/pidfd.js';

export interface ExitInfo {
  /** the exit code, or 128 + the signal that killed it (runc's and containerd's convention) */
  exitStatus: number;
  /** the killing signal, or 0 */
  signal: number;
  exitedAt: Date;
  /** the process is gone but its status could not be had (it was not ours to reap) */
  unknown?: boolean;
}

/** How long an exited process that is not yet ours is retried (the executor exits in ms). */
const NOT_CHILD_RETRY_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
const UNKNOWN_STATUS = 255;

interface Watch { pid: number; pidfd: number; resolve: (info: ExitInfo) => void; tries: number }

export class Reaper {
  private readonly sys: ProcessWatchSyscalls;
  private epfd = -1;
  private wakeFd = -1;
  private waiting = false;
  /** prepare()'s wait: the set is not closed under it */
  private probing: Promise<void> | undefined;
  private closed = false;
  private readonly byFd = new Map<number, Watch>();
  private readonly byPid = new Map<number, Promise<ExitInfo>>();
  private readonly retries = new Set<ReturnType<typeof setTimeout>>();

  constructor(sys?: ProcessWatchSyscalls) {
    this.sys = sys ?? processWatch();
  }

  /**
   * Resolves once `pid` has exited and been reaped. Register as soon as the pid is known: an
   * exit before that is not lost (the process stays a zombie until reaped here). Watching the
   * same pid again gives the same promise until it has resolved.
   */
  watch(pid: number): Promise<ExitInfo> {
    const existing = this.byPid.get(pid);
    if (existing) return existing;
    if (this.closed) return Promise.reject(new Error('reaper is closed'));
    let pidfd: number;
    try {
      pidfd = this.sys.pidfdOpen(pid);
    } catch (err) {
      // Gone and reaped by someone else already (ESRCH): nothing to wait for, nothing to know.
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return Promise.resolve(unknownExit());
      return Promise.reject(err);
    }
    const done = new Promise<ExitInfo>((resolve) => {
      const w: Watch = { pid, pidfd, resolve, tries: 0 };
      this.ensureSet();
      this.byFd.set(pidfd, w);
      this.sys.epollAdd(this.epfd, pidfd);
    });
    this.byPid.set(pid, done);
    done.then(() => this.byPid.delete(pid), () => this.byPid.delete(pid));
    this.arm();
    return done;
  }

  /**
   * Does now what the first watch() would: koffi's functions, the epoll set, and the thread pool
   * with koffi's asynchronous call (a wait that returns at once), ~3 ms the first time. For a
   * caller with time to spare before it knows a pid (the shim while the executor runs).
   */
  prepare(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.probing) return this.probing;
    this.ensureSet();
    const done = () => {
      this.probing = undefined;
      if (this.closed && !this.waiting) this.closeSet();
    };
    return (this.probing = this.sys.epollWait(this.epfd, 1, 0).then(done, done));
  }

  /** Processes still being waited for. */
  get pending(): number { return this.byFd.size + this.retries.size; }

  /** Stops watching: pending waits never resolve. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.retries) clearTimeout(t);
    this.retries.clear();
    for (const w of this.byFd.values()) this.sys.close(w.pidfd);
    this.byFd.clear();
    this.wakeUp();
    if (!this.waiting) this.closeSet();
  }

  private ensureSet(): void {
    if (this.epfd >= 0) return;
    this.epfd = this.sys.epollCreate();
    this.wakeFd = this.sys.eventfd();
    this.sys.epollAdd(this.epfd, this.wakeFd);
  }

  private closeSet(): void {
    if (this.epfd < 0 || this.probing) return;
    this.sys.close(this.epfd);
    this.sys.close(this.wakeFd);
    this.epfd = this.wakeFd = -1;
  }

  /** One wait on the thread pool while anything is watched (a pending call keeps Node alive). */
  private arm(): void {
    if (this.waiting || this.closed || this.byFd.size === 0) return;
    this.waiting = true;
    this.sys.epollWait(this.epfd, 64).then((fds) => this.ready(fds), () => this.ready([]));
  }

  private ready(fds: number[]): void {
    this.waiting = false;
    if (this.closed) {
      this.closeSet();
      return;
    }
    for (const fd of fds) {
      if (fd === this.wakeFd) {
        drain(this.wakeFd);
        continue;
      }
      const w = this.byFd.get(fd);
      if (w) this.tryReap(w);
    }
    this.arm();
  }

  private tryReap(w: Watch): void {
    let result;
    try {
      result = this.sys.waitPidfd(w.pidfd);
    } catch {
      result = 'not-child' as const;
    }
    if (result === 'running') return;
    // Out of the set either way: a level-triggered pidfd of a process we cannot reap yet would
    // wake the wait again at once.
    this.byFd.delete(w.pidfd);
    this.sys.epollDelete(this.epfd, w.pidfd);
    if (result === 'not-child') {
      if (w.tries >= NOT_CHILD_RETRY_MS.length) {
        this.finish(w, unknownExit());
        return;
      }
      const t = setTimeout(() => {
        this.retries.delete(t);
        if (this.closed) return;
        this.byFd.set(w.pidfd, w);
        this.sys.epollAdd(this.epfd, w.pidfd);
        this.arm();
      }, NOT_CHILD_RETRY_MS[w.tries++]);
      this.retries.add(t);
      this.wakeIfIdle();
      return;
    }
    this.finish(w, { exitStatus: result.code, signal: result.signal, exitedAt: new Date() });
    this.wakeIfIdle();
  }

  private finish(w: Watch, info: ExitInfo): void {
    this.sys.close(w.pidfd);
    w.resolve(info);
  }

  /** The wait in flight must end when nothing is left to wait for, or it keeps Node alive. */
  private wakeIfIdle(): void {
    if (this.byFd.size === 0) this.wakeUp();
  }

  private wakeUp(): void {
    if (this.wakeFd < 0 || !this.waiting) return;
    const one = Buffer.alloc(8);
    one.writeBigUInt64LE(1n);
    try { writeSync(this.wakeFd, one); } catch { /* already woken */ }
  }
}

function drain(fd: number): void {
  try { readSync(fd, Buffer.alloc(8), 0, 8, null); } catch { /* EAGAIN */ }
}

function unknownExit(): ExitInfo {
  return { exitStatus: UNKNOWN_STATUS, signal: 0, exitedAt: new Date(), unknown: true };
}
