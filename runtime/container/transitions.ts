// Which operation each status allows, and runc's words when it does not: the one place the
// lifecycle's rules live, instead of a check in every operation.
import { TsrunError } from '../errors.js';
import type { Status } from './status.js';

export type Operation =
  | 'start' | 'start-after-create' | 'kill' | 'kill-all' | 'pause' | 'resume'
  | 'exec' | 'exec-ignore-paused' | 'update' | 'delete' | 'delete-force' | 'checkpoint';

/** null: allowed; a string: refused with that message ({id} and {status} filled in). */
type Rule = Record<Status, string | null>;

const NOT_RUNNING = 'container not running';

export const TRANSITIONS: Readonly<Record<Operation, Readonly<Rule>>> = {
  start: {
    creating: 'cannot start an already running container', created: null,
    running: 'cannot start an already running container', paused: 'cannot start an already running container',
    stopped: 'cannot start a container that has stopped',
  },
  // runc's Run does not look at the status first: an init that died after create is what it is.
  'start-after-create': {
    creating: 'cannot start an already running container', created: null,
    running: 'cannot start an already running container', paused: 'cannot start an already running container',
    stopped: 'container process is already dead',
  },
  kill: { creating: null, created: null, running: null, paused: null, stopped: NOT_RUNNING },
  // --all signals whatever is left in the cgroup, even after the init is gone.
  'kill-all': { creating: null, created: null, running: null, paused: null, stopped: null },
  // runc 1.1 pauses created containers too.
  pause: {
    creating: 'container not running or created: {status}', created: null, running: null,
    paused: 'container not running or created: {status}', stopped: NOT_RUNNING,
  },
  resume: {
    creating: 'container not paused', created: 'container not paused', running: 'container not paused',
    paused: null, stopped: NOT_RUNNING,
  },
  exec: {
    creating: 'cannot exec in a container that is being created', created: null, running: null,
    paused: 'cannot exec in a paused container (use --ignore-paused to override)', stopped: 'cannot exec in a stopped container',
  },
  'exec-ignore-paused': {
    creating: 'cannot exec in a container that is being created', created: null, running: null,
    paused: null, stopped: 'cannot exec in a stopped container',
  },
  update: { creating: null, created: null, running: null, paused: null, stopped: NOT_RUNNING },
  delete: {
    creating: 'cannot delete container {id} that is not stopped: {status}', created: null,
    running: 'cannot delete container {id} that is not stopped: {status}',
    paused: 'cannot delete container {id} that is not stopped: {status}', stopped: null,
  },
  'delete-force': { creating: null, created: null, running: null, paused: null, stopped: null },
  // runc's checkpoint command refuses before libcontainer would say "container not running".
  checkpoint: {
    creating: 'Container cannot be checkpointed in {status} state', created: 'Container cannot be checkpointed in {status} state',
    running: null, paused: null, stopped: 'Container cannot be checkpointed in {status} state',
  },
};

/** Whether `op` may run on a container in `status`. */
export function allowed(op: Operation, status: Status): boolean {
  return TRANSITIONS[op][status] === null;
}

/** Throws runc's precondition error when `op` may not run on a container in `status`. */
export function requireStatus(op: Operation, status: Status, id: string): void {
  const refusal = TRANSITIONS[op][status];
  if (refusal !== null) throw TsrunError.precondition(refusal.replace('{id}', id).replace('{status}', status));
}
