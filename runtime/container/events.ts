import { TsrunError } from '../errors.js';
import { log } from '../log.js';
import { cgroupManagerFromState, type CgroupManager } from '../cgroups/index.js';
import { cgroupStats, eventLine } from '../cgroups/stats.js';
import { watchOom } from '../cgroups/oom.js';
import { loadState } from './state.js';
import { containerStatus } from './status.js';
import { processAlive } from './proc.js';

export interface EventsOptions {
  intervalMs: number;
  /** Print the stats once and return (`--stats`). */
  once: boolean;
  write: (line: string) => void;
}

/** How often the OOM source and the container's liveness are checked while streaming. */
const POLL_MS = 100;

function managerOf(root: string, id: string): { m: CgroupManager; alive: () => boolean } {
  const state = loadState(root, id);
  if (containerStatus(root, state) === 'stopped') throw TsrunError.precondition(`container with id ${id} is not running`);
  if (!state.cgroup) throw TsrunError.precondition(`container with id ${id} has no cgroup`);
  return { m: cgroupManagerFromState(state.cgroup), alive: () => processAlive(state.pid, state.pidStartTime) };
}

/**
 * runc's `events`: one stats event, or a stream of stats every interval and an "oom" event per
 * OOM notification until the container stops.
 */
export async function containerEvents(root: string, id: string, opts: EventsOptions): Promise<void> {
  const { m, alive } = managerOf(root, id);
  if (opts.once) {
    opts.write(eventLine('stats', id, cgroupStats(m)));
    return;
  }
  const oom = watchOom(m);
  await new Promise<void>((resolve) => {
    const emitOoms = () => {
      if (oom.poll() > 0) opts.write(eventLine('oom', id));
    };
    const poller = setInterval(() => {
      try {
        emitOoms();
        if (oom.gone || !alive()) {
          // The OOM that killed the init may land after it died: one last look before ending.
          emitOoms();
          finish();
        }
      } catch (err) {
        log.error((err as Error).message);
        finish();
      }
    }, POLL_MS);
    const ticker = setInterval(() => {
      try {
        opts.write(eventLine('stats', id, cgroupStats(m)));
      } catch (err) {
        log.error((err as Error).message); // runc logs it and keeps going
      }
    }, opts.intervalMs);
    function finish() {
      clearInterval(poller);
      clearInterval(ticker);
      oom.close();
      resolve();
    }
  });
}
