import { TsrunError } from '../errors.js';
import { cgroupManagerFromState } from '../cgroups/index.js';
import { lockContainer } from './lock.js';
import { loadState } from './state.js';
import { containerStatus } from './status.js';
import { requireStatus } from './transitions.js';

/** Freezes (pause) or thaws (resume) every process of the container through its cgroup. */
export async function setPaused(root: string, id: string, paused: boolean): Promise<void> {
  const release = await lockContainer(root, id);
  try {
    const state = loadState(root, id);
    const status = containerStatus(root, state);
    if (status === 'stopped') requireStatus('pause', status, id);
    if (!state.cgroup) throw TsrunError.precondition('container has no cgroup to freeze');
    const cgroups = cgroupManagerFromState(state.cgroup);
    requireStatus(paused ? 'pause' : 'resume', status, id);
    if (paused) await cgroups.freeze();
    else cgroups.thaw();
  } finally {
    release();
  }
}
