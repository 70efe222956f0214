// What state, list, kill, start and delete do through a Runtime, without runtime.ts: it imports
// every operation (create's spec loader and plan compiler, seccomp, exec, CRIU...), and these
// commands run from bin/tsrun-quick.cjs, a bundle that holds none of that (scripts/build.mjs).
// Each method calls what the Runtime method it stands for calls, in the context a Runtime sets.
import { withContext, type RuntimeContext } from '../context.js';
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
  private readonly context: RuntimeContext;

  constructor(g: GlobalOptions) {
    // As runtimeOf: a --rootless that is no boolean nor auto is refused by every command.
    parseRootlessFlag(g.rootless);
    this.root = g.root;
    this.context = { logger: g.logger, systemdBus: g.systemdCgroup ? new SharedSystemdBus().get : undefined };
  }

  private run<T>(fn: () => T): T {
    return withContext(this.context, fn);
  }

  /** Runtime.load(id).state() */
  state(id: string): Record<string, unknown> {
    const s = this.run(() => loadState(this.root, id));
    return ociState(s, containerStatus(this.root, s));
  }

  /** Runtime.list() */
  list(): Array<Record<string, unknown> & { id: string; status: Status; ownerUid: number }> {
    return listContainers(this.root);
  }

  /** Runtime.load(id): not-found when there is no such container. */
  load(id: string): void {
    this.run(() => loadState(this.root, id));
  }

  /** Container.start() of a container loaded here */
  async start(id: string): Promise<void> {
    await this.run(() => startContainer(this.root, id, false));
  }

  /** Container.kill() */
  async kill(id: string, signal: number, all: boolean): Promise<void> {
    await this.run(() => killContainer(this.root, id, signal, all));
  }

  /** Runtime.container(id).delete() */
  async delete(id: string, force: boolean): Promise<void> {
    await this.run(() => deleteContainer(this.root, id, force));
  }
}
