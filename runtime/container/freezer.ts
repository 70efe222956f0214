import { readFileSync } from 'node:fs';
import type { ContainerState } from './state.js';

/** Whether the container's cgroup is frozen (v1 freezer.state or v2 cgroup.freeze). */
export function isFrozen(state: ContainerState): boolean {
  const paths = (state.cgroup as { paths?: Record<string, string> } | undefined)?.paths;
  if (!paths) return false;
  try {
    if (paths.freezer) return readFileSync(`${paths.freezer}/freezer.state`, 'utf8').trim() === 'FROZEN';
    if (paths['']) return readFileSync(`${paths['']}/cgroup.freeze`, 'utf8').trim() === '1';
  } catch { /* gone */ }
  return false;
}
