import { TsrunError, describeSystemError } from '../errors.js';
import { cgroupManagerFromState } from '../cgroups/index.js';
import { loadState } from './state.js';
import { containerStatus } from './status.js';
import { requireStatus } from './transitions.js';

export async function killContainer(root: string, id: string, signal: number, all: boolean): Promise<void> {
  const state = loadState(root, id);
  const status = containerStatus(root, state);
  requireStatus(all ? 'kill-all' : 'kill', status, id);
  if (all) {
    if (state.cgroup) await cgroupManagerFromState(state.cgroup).killAll(signal);
    else if (status !== 'stopped') process.kill(state.pid, signal);
    return;
  }
  try {
    process.kill(state.pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') throw TsrunError.precondition('container not running');
    // runc's words; EINVAL (a signal number the kernel does not know) is the caller's mistake.
    const text = `unable to signal init: ${describeSystemError(err).replace(/^kill: /, '')}`;
    throw (err as NodeJS.ErrnoException).code === 'EINVAL' ? TsrunError.invalid(text) : new TsrunError(text);
  }
  // A frozen init does not die of SIGKILL until thawed: runc thaws for SIGKILL only.
  if (status === 'paused' && signal === 9 && state.cgroup) cgroupManagerFromState(state.cgroup).thaw();
}
