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

/** The context of the Runtime whose operation is running, if any. */
export function currentContext(): RuntimeContext | undefined {
  return storage.getStore();
}

/** Runs fn (and everything it awaits) inside ctx. */
export function withContext<T>(ctx: RuntimeContext, fn: () => T): T {
  return storage.run(ctx, fn);
}
