// What state, list, kill, start and delete do through a Runtime, without runtime.ts: it imports
// every operation (create's spec loader and plan compiler, seccomp, exec, CRIU...), and these
// commands run from bin/tsrun-quick.cjs, a bundle that holds none of that (scripts/build.mjs).
// Each method calls what the Runtime method it stands for calls, in the context a Runtime gives
// its operations: the process's own (setProcessContext), a CLI process running one command.
import { setProcessContext } from '../context.js';
import { parseRootlessFlag } from '../rootless.js';
import { SharedSystemdBus } from '../cgroups/systemd.js';
import { loadState } from '../container/state.js';
import { containerStatus, listContainers, ociState, type Status } from '../container/status.js';
import { startContainer } from '../container/start.js';
import { killContainer } from '../container/kill.js';
import { deleteContainer } from '../container/delete.js';
import type { GlobalOptions } from './command.js';

export class QuickRuntime {
  private readonly root: string;

  constructor(g: GlobalOptions) {
    // As runtimeOf: a --rootless that is no boolean nor auto is refused by every command.
    parseRootlessFlag(g.rootless);
    this.root = g.root;
    setProcessContext({ logger: g.logger, systemdBus: g.systemdCgroup ? new SharedSystemdBus().get : undefined });
  }

  /** Runtime.load(id).state() */
  state(id: string): Record<string, unknown> {
    const s = loadState(this.root, id);
    return ociState(s, containerStatus(this.root, s));
  }

  /** Runtime.list() */
  list(): Array<Record<string, unknown> & { id: string; status: Status; ownerUid: number }> {
    return listContainers(this.root);
  }

  /** Runtime.load(id): not-found when there is no such container. */
  load(id: string): void {
    loadState(this.root, id);
  }

  /** Container.start() of a container loaded here */
  start(id: string): Promise<void> {
    return startContainer(this.root, id, false);
  }

  /** Container.kill() */
  kill(id: string, signal: number, all: boolean): Promise<void> {
    return killContainer(this.root, id, signal, all);
  }

  /** Runtime.container(id).delete() */
  delete(id: string, force: boolean): Promise<void> {
    return deleteContainer(this.root, id, force);
  }
}
