import type { HookState } from '../plan/hooks.js';
import { existsSync } from 'node:fs';
import { execFifoPath, listContainerIds, loadState, stateDirOwner, type ContainerState } from './state.js';
import { processAlive, stillExecutor } from './proc.js';
import { cgroupManagerFromState } from '../cgroups/index.js';

export type Status = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export function containerStatus(root: string, state: ContainerState): Status {
  if (!processAlive(state.pid, state.pidStartTime)) return 'stopped';
  // A create killed after its init was made is over: the executor stops an init it can no longer
  // talk to unless it was ready, so a live init is what it is (waiting at the fifo: created).
  if (state.creating && !(state.creator && !processAlive(state.creator.pid, state.creator.startTime))) return 'creating';
  // A start killed after releasing the init leaves the fifo behind: the init tells the truth.
  if (existsSync(execFifoPath(root, state.id)) && stillExecutor(state.pid)) return 'created';
  if (isFrozen(state)) return 'paused';
  return 'running';
}

function isFrozen(state: ContainerState): boolean {
  if (!state.cgroup) return false;
  try { return cgroupManagerFromState(state.cgroup).isFrozen(); } catch { return false; }
}

/** Every container under root, with its OCI state and the uid that owns its state dir. */
export function listContainers(root: string): Array<Record<string, unknown> & { id: string; status: Status; ownerUid: number }> {
  const out: Array<Record<string, unknown> & { id: string; status: Status; ownerUid: number }> = [];
  for (const id of listContainerIds(root)) {
    try {
      const s = loadState(root, id);
      const status = containerStatus(root, s);
      out.push({ ...ociState(s, status), id, status, ownerUid: stateDirOwner(root, id) });
    } catch { /* deleted meanwhile */ }
  }
  return out;
}

/** The OCI state document as runc prints it. */
export function ociState(state: ContainerState, status: Status): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ociVersion: state.ociVersion,
    id: state.id,
    pid: status === 'stopped' ? 0 : state.pid,
    status,
    bundle: state.bundle,
    rootfs: state.rootfs,
    created: state.created,
    owner: state.owner,
  };
  if (state.annotations && Object.keys(state.annotations).length) out.annotations = state.annotations;
  return out;
}

/** The state hooks read on stdin (runtime-spec State; `runc state` prints more). */
export function hookState(state: ContainerState, status: HookState['status']): HookState {
  return { ociVersion: state.ociVersion, id: state.id, status, pid: state.pid, bundle: state.bundle, annotations: state.annotations };
}

/** RFC 3339 with nanoseconds, as Go prints time.Time in JSON. */
export function rfc3339Nano(date: Date, extraNanos = 0): string {
  const iso = date.toISOString();
  const nanos = date.getUTCMilliseconds() * 1_000_000 + extraNanos;
  const frac = nanos ? '.' + String(nanos).padStart(9, '0').replace(/0+$/, '') : '';
  return iso.replace(/\.\d+Z$/, `${frac}Z`);
}
