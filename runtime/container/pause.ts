import { TsrunError } from '../errors.js';
import { cgroupManagerFromState } from '../cgroups/index.js';
import { lockContainer } from './lock.js';
import { loadState } from './state.js';
import { containerStatus } from './status.js';

/** Freezes (pause) or thaws (resume) every process of the container through its cgroup. */
export async function setPaused(root: string, id: string, paused: boolean): Promise<void> {
  const release = await lockContainer(root, id);
  try {
    const state = loadState(root, id);
    const status = containerStatus(root, state);
    if (status === 'stopped') throw TsrunError.precondition('container not running');
    if (!state.cgroup) throw TsrunError.precondition('container has no cgroup to freeze');
    const cgroups = cgroupManagerFromState(state.cgroup);
    if (paused) {
      // runc 1.1 pauses created containers too.
      if (status !== 'running' && status !== 'created') throw TsrunError.precondition(`container not running or created: ${status}`);
      await cgroups.freeze();
    } else {
      if (status !== 'paused') throw TsrunError.precondition('container not paused');
      cgroups.thaw();
    }
  } finally {
    release();
  }
}
