// What used to be process-global (the log, the executor's path) belongs to a Runtime: several can
// live in one process, each with its own. A Runtime runs its operations inside its context, and
// the code below it finds the context there instead of in module state. Outside any Runtime (unit
// tests, the CLI before it has parsed its flags) the defaults apply.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { SystemdBus } from './cgroups/types.js';

/** Where a Runtime's messages go (RuntimeOptions.logger). */
export interface Logger {
  readonly debugEnabled: boolean;
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  /** an error the operation survives (runc's logrus.Error) */
  error(msg: string): void;
  /** the error that ends a command */
  fatal(msg: string): void;
}

export interface RuntimeContext {
  logger?: Logger;
  /** the tsrun-executor binary (default: beside the bundle, or $TSRUN_EXECUTOR) */
  executorPath?: string;
  /** the Runtime's long-lived connection to systemd (the systemd cgroup driver) */
  systemdBus?: () => Promise<SystemdBus>;
}

const storage = new AsyncLocalStorage<RuntimeContext>();
let processContext: RuntimeContext | undefined;

/** The context of the Runtime whose operation is running, else the process's (setProcessContext), if any. */
export function currentContext(): RuntimeContext | undefined {
  return storage.getStore() ?? processContext;
}

/**
 * The context of whatever runs outside a Runtime's operations, from now on: a CLI process's, which
 * runs one command. Cheaper than running it inside withContext: the AsyncLocalStorage's first run
 * installs its promise hooks, ~0.5 ms of a command that needs none of it.
 */
export function setProcessContext(ctx: RuntimeContext): void {
  processContext = ctx;
}

/** Runs fn (and everything it awaits) inside ctx. */
export function withContext<T>(ctx: RuntimeContext, fn: () => T): T {
  return storage.run(ctx, fn);
}
