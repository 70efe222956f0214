import type { Hook, Hooks } from '../spec/types.js';
import { Tag, type PlanRecord } from './records.js';

/** What every hook reads on stdin: runtime-spec's State, in the field order runc's JSON has. */
export interface HookState {
  ociVersion: string;
  id: string;
  status: 'creating' | 'created' | 'running' | 'stopped';
  pid: number;
  bundle: string;
  annotations?: Record<string, string>;
}

function headAndTail(s: Omit<HookState, 'pid'>): { head: string; tail: string } {
  const head = JSON.stringify({ ociVersion: s.ociVersion, id: s.id, status: s.status });
  const rest: Record<string, unknown> = { bundle: s.bundle };
  if (s.annotations && Object.keys(s.annotations).length) rest.annotations = s.annotations;
  const tail = JSON.stringify(rest);
  return { head: head.slice(0, -1) + ',"pid":', tail: ',' + tail.slice(1) };
}

export function hookStateJson(s: HookState): string {
  const { head, tail } = headAndTail(s);
  // runc's State has `pid,omitempty`.
  return s.pid ? head + s.pid + tail : head.slice(0, -',"pid":'.length) + tail;
}

/** A hook's argv: runc (Go's exec.Cmd) runs `path` alone when args is empty. */
export function hookArgs(hook: Hook): string[] {
  return hook.args?.length ? hook.args : [hook.path];
}

/**
 * createContainer and startContainer hooks run inside the container, by its init (runc does the
 * same): they become records the executor carries out. The state's pid is the init's own pid as
 * it sees it, filled in by the executor.
 */
export function planInitHooks(hooks: Hooks | undefined, base: Omit<HookState, 'pid' | 'status'>): { createContainer: PlanRecord[]; startContainer: PlanRecord[] } {
  const records = (list: Hook[] | undefined, tag: typeof Tag.HOOK_CREATE_CONTAINER | typeof Tag.HOOK_START_CONTAINER, status: HookState['status']): PlanRecord[] => {
    const { head, tail } = headAndTail({ ...base, status });
    return (list ?? []).map((hook, index) => ({
      tag, index, timeout: hook.timeout ?? 0, path: hook.path, args: hookArgs(hook), env: hook.env, stateHead: head, stateTail: tail,
    }));
  };
  return {
    createContainer: records(hooks?.createContainer, Tag.HOOK_CREATE_CONTAINER, 'creating'),
    startContainer: records(hooks?.startContainer, Tag.HOOK_START_CONTAINER, 'created'),
  };
}
