import { TsrunError } from '../errors.js';
import { log } from '../log.js';
import { cgroupManagerFromState } from '../cgroups/index.js';
import { lockContainer } from './lock.js';
import { existsSync } from 'node:fs';
import { checkContainerId, loadState, removeStateDir, stateDir, statePath } from './state.js';
import { containerStatus, hookState } from './status.js';
import { processAlive, waitForExit } from './proc.js';
import { runHooksWarnOnly } from './hooks.js';
import { faultPoint } from '../fault.js';
import { detachHostMounts } from './host-mounts.js';
import { requireStatus } from './transitions.js';
import { mark } from '../timing.js';

export async function deleteContainer(root: string, id: string, force: boolean): Promise<void> {
  checkContainerId(id);
  if (!existsSync(stateDir(root, id))) {
    if (force) return;
    throw TsrunError.notFound('container does not exist');
  }
  const release = await lockContainer(root, id);
  try {
    if (!existsSync(statePath(root, id))) {
      // create holds the lock until its state is written: a dir without state under the lock
      // is what a create killed in its first steps leaves, before it made anything else.
      if (existsSync(stateDir(root, id))) {
        removeStateDir(root, id);
        return;
      }
      if (force) return;
      throw TsrunError.notFound('container does not exist');
    }
    const state = loadState(root, id);
    const status = containerStatus(root, state);
    requireStatus(force ? 'delete-force' : 'delete', status, id);
    const cgroups = state.cgroup ? cgroupManagerFromState(state.cgroup) : undefined;
    if (processAlive(state.pid, state.pidStartTime)) {
      try { process.kill(state.pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
      // A frozen process does not die of SIGKILL until it is thawed.
      if (status === 'paused') cgroups?.thaw();
      if (!(await waitForExit(state.pid, state.pidStartTime, 10_000))) {
        throw new TsrunError('container init still running');
      }
    }
    mark('delete:killed');
    faultPoint('delete:1');
    detachHostMounts(state.hostMounts);
    // A frozen cgroup keeps SIGKILLed processes alive: destroy thaws and kills what is left.
    if (cgroups) await cgroups.destroy();
    mark('delete:cgroups');
    faultPoint('delete:2');
    removeStateDir(root, id);
    if (status !== 'creating') await runHooksWarnOnly(state.hooks, 'poststop', hookState(state, 'stopped'));
  } catch (err) {
    if (force && err instanceof TsrunError && err.kind === 'not-found') return;
    throw err;
  } finally {
    release();
  }
  log.debug(`deleted container ${id}`);
}
