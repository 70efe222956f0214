// When a group shim may exit. containerd calls Shutdown after each container's Delete, but one
// shim serves a whole group, so it exits only when no container is left and none is on its way:
// `start` (native/shim-launcher.c) reserves a place for each new container over the control socket
// before it hands containerd the shim's address, and a reservation lasts until that container's
// Create is over, or expires (containerd may give up between start and Create).
//
// A `start` that gets no reservation decides, under the group's lock, that nobody serves the group
// and binds a new shim. An exiting shim takes the same lock before it commits to exit and removes
// its files, so every `start` either reserves a place here first or finds the group free.
import { closeSync, fstatSync, openSync, rmSync, statSync } from 'node:fs';
import { TtrpcError, Code } from './ttrpc/index.js';

export interface LifetimeOptions {
  /** the containers this shim serves, created or being created */
  size: () => number;
  /** how long a reservation waits for its Create */
  reserveMs: number;
  /** the group's lock file, which `start` made; none when the daemon was started otherwise */
  lockPath?: string;
  /** files this shim removes when it exits, each only while it is still the one it was given */
  paths: string[];
  /** closes the servers and ends the process */
  exit: () => Promise<void>;
  log?: (msg: string) => void;
  /** flock(LOCK_EX|LOCK_NB) (shim/sys.ts); a test double in unit tests */
  tryLock: (fd: number, path: string) => boolean;
  /** how often an exiting shim retries the lock a `start` holds */
  lockRetryMs?: number;
}

/** A file's identity: its inode, and its change time since inode numbers are soon reused. */
const identityOf = (path: string): string | undefined => {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.dev}:${st.ino}:${st.ctimeNs}`;
  } catch { return undefined; }
};

export class ShimLifetime {
  private readonly pending = new Map<string, NodeJS.Timeout>();
  /** containerd asked for Shutdown, or a reservation ran out, since the last Create */
  private mayExit = false;
  private state: 'serving' | 'locking' | 'exiting' = 'serving';
  private readonly identities: Map<string, string | undefined>;

  constructor(private readonly o: LifetimeOptions) {
    this.identities = new Map(o.paths.map((p) => [p, identityOf(p)]));
  }

  get exiting(): boolean { return this.state === 'exiting'; }

  /** `start` promises containerd this shim for container `id`. */
  reserve(id: string): void {
    if (this.state === 'exiting') throw new TtrpcError(Code.Unavailable, 'shim is exiting');
    clearTimeout(this.pending.get(id));
    this.pending.set(id, setTimeout(() => {
      this.pending.delete(id);
      this.o.log?.(`no Create came for ${id} within ${this.o.reserveMs} ms of its start`);
      this.mayExit = true;
      this.check();
    }, this.o.reserveMs));
  }

  /** The Create of `id` is over; `created` when the shim now serves it. */
  settled(id: string, created: boolean): void {
    clearTimeout(this.pending.get(id));
    this.pending.delete(id);
    if (created) this.mayExit = false;
    this.check();
  }

  /** containerd's Shutdown found no container here. */
  shutdown(): void {
    this.mayExit = true;
    this.check();
  }

  private idle(): boolean { return this.o.size() === 0 && this.pending.size === 0; }

  private check(): void {
    if (this.state === 'serving' && this.mayExit && this.idle()) void this.leave();
  }

  /** Exits now, whatever is pending (SIGTERM). */
  async terminate(): Promise<void> {
    if (this.state === 'exiting') return;
    this.state = 'exiting';
    this.removeFiles(-1);
    await this.o.exit();
  }

  private async leave(): Promise<void> {
    this.state = 'locking';
    const fd = await this.lockGroup();
    // a `start` may have reserved a place while this shim waited for the lock
    if (!this.idle() || this.state !== 'locking') {
      if (fd >= 0) closeSync(fd);
      if (this.state === 'locking') this.state = 'serving';
      return;
    }
    this.state = 'exiting';
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.removeFiles(fd);
    await this.o.exit(); // the lock goes with the process
  }

  /** The group's lock, or -1 when there is no lock file (then no `start` can hold it either). */
  private async lockGroup(): Promise<number> {
    const path = this.o.lockPath;
    if (!path) return -1;
    for (;;) {
      let fd: number;
      try { fd = openSync(path, 'r+'); } catch { return -1; }
      if (this.o.tryLock(fd, path)) {
        // a lock file removed and made again meanwhile is not the group's lock any more
        try { if (statSync(path).ino === fstatSync(fd).ino) return fd; } catch { /* removed */ }
        closeSync(fd);
        continue;
      }
      closeSync(fd);
      await new Promise((r) => setTimeout(r, this.o.lockRetryMs ?? 5));
      if (this.state !== 'locking') return -1;
    }
  }

  private removeFiles(lockFd: number): void {
    for (const [path, identity] of this.identities) {
      if (identity !== undefined && identityOf(path) === identity) rmSync(path, { force: true });
    }
    if (lockFd >= 0 && this.o.lockPath) rmSync(this.o.lockPath, { force: true });
  }
}
