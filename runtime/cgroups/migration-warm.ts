// The first cgroup migration after a quiet spell (a write to any cgroup.procs) waits for an RCU
// grace period: the kernel's cgroup_threadgroup_rwsem is a percpu rwsem whose writers go through
// rcu_sync. Measured on this project's 2-core VM (cgroup v1): such a write took 7 ms (now and then
// 14-23 ms); one that starts within about a grace period of another's end took 0.2 ms. Every
// container's init is written into its cgroups by the executor (runc pays the same), so a caller
// that is about to make one can start the wait ahead, off its own path: this process writes its
// own pid into the cgroup it is already in (no move, no controller callbacks) on the thread pool,
// while it compiles the plan and starts the executor, which gets to its own write a few ms later
// (create.ts calls this once the container's cgroups are made and set, executor.ts again once the
// executor runs: a write within the window of the one before is quick and renews it). Not
// earlier: a cgroup.procs write holds cgroup_mutex through the wait (a mkdir or a limit written
// meanwhile would wait too), and one that ended more than about a grace period before the next
// does not help it. Opt-in (the shim, the CLI): a library user's process gets no write it did not ask for.
import { close, constants, openSync, readFileSync, write } from 'node:fs';
import { detectCgroupLayout, ownProcsFile, parseProcCgroup } from './layout.js';

let enabled = false;
/** writes on the thread pool that have not returned yet */
let inFlight = 0;
const settled: (() => void)[] = [];

/** From now on, create() and the executor's start begin the grace period ahead of its write. */
export function enableCgroupMigrationWarmUp(): void {
  enabled = true;
}

/**
 * When enabled: starts the grace period now and returns at once. Nothing happens where there is no
 * cgroup file to use. The cgroup is read anew each time: a shim joins its shim_cgroup after start.
 */
export function warmCgroupMigration(): void {
  if (!enabled) return;
  let procsFile: string | undefined;
  try {
    procsFile = ownProcsFile(detectCgroupLayout(), parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8')));
  } catch {
    return;
  }
  if (procsFile === undefined) return;
  // Opened here (quick: no cgroup lock; close-on-exec, as every fd Node opens) so that the write
  // is one call on the thread pool: each step of an asynchronous open-write-close would wait for
  // this thread between them, and it has the container to prepare first. A failure (a read-only
  // or foreign cgroup file system) only means no head start.
  let fd: number;
  try { fd = openSync(procsFile, constants.O_WRONLY); } catch { return; }
  inFlight++;
  write(fd, String(process.pid), () => close(fd, () => {
    if (--inFlight === 0) for (const resolve of settled.splice(0)) resolve();
  }));
}

/**
 * Resolves once no such write is on its way. Whoever moves this process to another cgroup must
 * move it in the same turn as it finds none (a write still queued would put the process back):
 * `while (cgroupMigrationWarmUpsInFlight()) await cgroupMigrationWarmUpsSettled(); move();`
 */
export function cgroupMigrationWarmUpsSettled(): Promise<void> {
  if (inFlight === 0) return Promise.resolve();
  return new Promise((resolve) => settled.push(resolve));
}

export function cgroupMigrationWarmUpsInFlight(): number {
  return inFlight;
}
