// OOM notification for `events`, from the same kernel sources runc 1.1.5 uses: on v1 an eventfd
// registered on memory.oom_control through cgroup.event_control, on v2 the oom_kill counter of
// memory.events. Both are polled, never waited on, so the caller can check the counter one last
// time after the container is gone and report the OOM that killed it.
import { closeSync, constants, openSync, readSync, existsSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { TsrunError, describeSystemError } from '../errors.js';
import { eventfd } from '../sys/eventfd.js';
import { errnoOf } from './fsio.js';
import type { CgroupManager } from './types.js';

export interface OomWatcher {
  /** How many OOM notifications arrived since the last call (v1: coalesced by the eventfd, so 0 or 1). */
  poll(): number;
  /** The cgroup is gone: no more notifications can come. */
  readonly gone: boolean;
  close(): void;
}

class V1OomWatcher implements OomWatcher {
  gone = false;
  private readonly buf = Buffer.alloc(8);

  constructor(private readonly dir: string, private readonly efd: number, private readonly ofd: number) {}

  poll(): number {
    if (this.gone) return 0;
    try {
      readSync(this.efd, this.buf, 0, 8, null);
    } catch (err) {
      if (errnoOf(err) === 'EAGAIN') return 0;
      throw err;
    }
    // Removing the cgroup also signals the eventfd: that is not an OOM.
    if (!existsSync(posix.join(this.dir, 'cgroup.event_control'))) {
      this.gone = true;
      return 0;
    }
    return 1;
  }

  close(): void {
    closeSync(this.efd);
    closeSync(this.ofd);
  }
}

/** oom_kill of memory.events, or undefined when the cgroup is gone. */
function oomKillCount(dir: string, read: (file: string) => string | undefined): bigint | undefined {
  const text = read(posix.join(dir, 'memory.events'));
  if (text === undefined) return undefined;
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? BigInt(m[1]) : 0n;
}

class V2OomWatcher implements OomWatcher {
  gone = false;

  constructor(private readonly dir: string, private last: bigint, private readonly read: (file: string) => string | undefined) {}

  poll(): number {
    if (this.gone) return 0;
    const n = oomKillCount(this.dir, this.read);
    if (n === undefined) {
      this.gone = true;
      return 0;
    }
    const before = this.last;
    this.last = n;
    return n > before ? 1 : 0;
  }

  close(): void {}
}

function readIfExists(file: string): string | undefined {
  try {
    const fd = openSync(file, constants.O_RDONLY);
    try {
      const chunks: Buffer[] = [];
      const buf = Buffer.alloc(4096);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        chunks.push(Buffer.from(buf.subarray(0, n)));
      }
      return Buffer.concat(chunks).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENODEV') return undefined;
    throw err;
  }
}

/** Starts watching the container's memory cgroup for OOM events. */
export function watchOom(m: CgroupManager, opts: { eventfd?: () => number; read?: (file: string) => string | undefined } = {}): OomWatcher {
  const read = opts.read ?? readIfExists;
  if (m.version === 2) {
    const dir = m.paths[''];
    const n = oomKillCount(dir, read);
    if (n === undefined) throw new TsrunError(`unable to add inotify watch: ${posix.join(dir, 'memory.events')}: no such file or directory`);
    return new V2OomWatcher(dir, n, read);
  }
  const dir = m.paths.memory;
  if (!dir) throw new TsrunError('memory controller missing');
  let ofd: number;
  try {
    ofd = openSync(posix.join(dir, 'memory.oom_control'), constants.O_RDONLY);
  } catch (err) {
    throw new TsrunError(describeSystemError(err));
  }
  let efd: number;
  try {
    efd = (opts.eventfd ?? eventfd)();
  } catch (err) {
    closeSync(ofd);
    throw err;
  }
  try {
    writeFileSync(posix.join(dir, 'cgroup.event_control'), `${efd} ${ofd}`);
  } catch (err) {
    closeSync(efd);
    closeSync(ofd);
    throw new TsrunError(describeSystemError(err));
  }
  return new V1OomWatcher(dir, efd, ofd);
}
