import { TsrunError, describeSystemError } from '../errors.js';
import { cgroupManagerFromState } from '../cgroups/index.js';
import { loadState } from './state.js';
import { containerStatus } from './status.js';

export async function killContainer(root: string, id: string, signal: number, all: boolean): Promise<void> {
  const state = loadState(root, id);
  const status = containerStatus(root, state);
  if (status === 'stopped' && !all) throw new TsrunError('container not running');
  if (all) {
    if (state.cgroup) cgroupManagerFromState(state.cgroup).killAll(signal);
    else if (status !== 'stopped') process.kill(state.pid, signal);
    return;
  }
  try {
    process.kill(state.pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') throw new TsrunError('container not running');
    throw new TsrunError(`unable to signal init: ${describeSystemError(err).replace(/^kill: /, '')}`);
  }
  // A frozen process dies of SIGKILL only once thawed (v1): runc thaws for SIGKILL alone.
  if (signal === 9 && status === 'paused' && state.cgroup) cgroupManagerFromState(state.cgroup).thaw();
}
