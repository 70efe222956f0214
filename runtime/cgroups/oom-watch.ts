// OOM notifications for a long-lived caller (the shim) that watches many containers at once,
// over the sources of cgroups/oom.ts. cgroup v2's memory.events is watched with inotify (the
// kernel notifies on every counter change), so nothing runs while nothing happens. cgroup v1's
// eventfd cannot be handed to Node's event loop (libuv only takes pipes, sockets, ttys and
// files), so one shared timer reads every v1 eventfd; the eventfd keeps the count meanwhile, so
// nothing is lost, only reported later. The caller asks for a last look when the init has been
// reaped: the OOM that killed it is then always reported before its exit.
import { watch, type FSWatcher } from 'node:fs';
import { posix } from 'node:path';
import { watchOom, type OomWatcher } from './oom.js';
import type { CgroupManager } from './types.js';

export interface OomSubscription {
  /** Reports what arrived since the last look (before an exit is made known). */
  check(): void;
  close(): void;
}

/** How often the v1 eventfds are read: only an OOM that spares the init waits for it. */
const V1_POLL_MS = 1000;

const polled = new Set<Subscription>();
let timer: ReturnType<typeof setInterval> | undefined;

function pollAll(): void {
  for (const s of polled) s.check();
}

class Subscription implements OomSubscription {
  private fsWatcher: FSWatcher | undefined;
  private closed = false;

  constructor(private readonly watcher: OomWatcher, private readonly onOom: () => void, private readonly onError: (err: unknown) => void) {}

  check(): void {
    if (this.closed) return;
    let n: number;
    try {
      n = this.watcher.poll();
    } catch (err) {
      this.close();
      this.onError(err);
      return;
    }
    for (let i = 0; i < n; i++) this.onOom();
    if (this.watcher.gone) this.close();
  }

  inotify(file: string): void {
    this.fsWatcher = watch(file, { persistent: false }, () => this.check());
    this.fsWatcher.on('error', () => this.fsWatcher?.close());
  }

  poll(): void {
    polled.add(this);
    if (!timer) {
      timer = setInterval(pollAll, V1_POLL_MS);
      timer.unref();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fsWatcher?.close();
    polled.delete(this);
    if (polled.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
    try { this.watcher.close(); } catch { /* already closed */ }
  }
}

/**
 * Calls onOom once per OOM notification of the container's memory cgroup until close() or the
 * cgroup is gone. Throws when the cgroup has no memory controller to watch.
 */
export function subscribeOom(m: CgroupManager, onOom: () => void, onError: (err: unknown) => void = () => undefined): OomSubscription {
  const s = new Subscription(watchOom(m), onOom, onError);
  if (m.version === 2) {
    try {
      s.inotify(posix.join(m.paths[''], 'memory.events'));
    } catch {
      s.poll();
    }
  } else {
    s.poll();
  }
  return s;
}
