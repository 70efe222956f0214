import { existsSync } from 'node:fs';
import { TsrunError } from '../errors.js';
import { log } from '../log.js';
import { cgroupManagerFromState } from '../cgroups/index.js';
import { planUpdate, restoreResources, type UpdateRequest } from '../cgroups/update.js';
import { lockContainer } from './lock.js';
import { loadState, saveState } from './state.js';
import { containerStatus } from './status.js';
import { requireStatus } from './transitions.js';

export interface RdtRequest { l3CacheSchema: string; memBwSchema: string }

/** resctrl with the feature's info dir, as runc's intelrdt.IsCATEnabled / IsMBAEnabled look for it. */
function rdtEnabled(feature: 'L3' | 'MB'): boolean {
  return existsSync(`/sys/fs/resctrl/info/${feature}`);
}

/** `update`: writes the merged resources through the container's cgroup driver and saves them. */
export async function updateContainer(root: string, id: string, req: UpdateRequest, rdt: RdtRequest = { l3CacheSchema: '', memBwSchema: '' }): Promise<void> {
  const release = await lockContainer(root, id);
  try {
    const state = loadState(root, id);
    const plan = planUpdate(state.resources, req);
    for (const w of plan.warnings) log.warn(w);
    if (rdt.l3CacheSchema !== '' && !rdtEnabled('L3')) throw TsrunError.unsupported('Intel RDT/CAT: l3 cache schema is not enabled');
    if (rdt.memBwSchema !== '' && !rdtEnabled('MB')) throw TsrunError.unsupported('Intel RDT/MBA: memory bandwidth schema is not enabled');
    if (rdt.l3CacheSchema !== '' || rdt.memBwSchema !== '') throw TsrunError.unsupported('Intel RDT is not supported by tsrun');
    requireStatus('update', containerStatus(root, state), id);
    if (!state.cgroup) throw TsrunError.precondition('container has no cgroup to update');
    const cgroups = cgroupManagerFromState(state.cgroup);
    try {
      if (cgroups.applyUnitProperties) for (const w of await cgroups.applyUnitProperties(plan.apply)) log.warn(w);
      for (const w of cgroups.apply(plan.apply)) log.warn(w);
    } catch (err) {
      // As runc: put the previous settings back so the cgroup matches the saved state again.
      try {
        const previous = restoreResources(state.resources);
        if (cgroups.applyUnitProperties) await cgroups.applyUnitProperties(previous);
        cgroups.apply(previous);
      } catch (err2) {
        log.warn(`Setting back cgroup configs failed due to error: ${(err2 as Error).message}, your state.json and actual configs might be inconsistent.`);
      }
      throw err;
    }
    state.resources = plan.save;
    saveState(root, state);
  } finally {
    release();
  }
}
