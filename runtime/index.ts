// The public face of tsrun's runtime library: `require('<checkout>')` loads the CommonJS build
// of this file (bin/tsrun-lib.cjs, made by `make`). The CLI and the containerd shim stand on
// the same classes.
export { Runtime, Container, ExecProcess } from './runtime.js';
export type { RuntimeOptions, CreateOptions, ExecOptions, Stdio, StdioSpec, ExitInfo, Status, ProcessSpec, ContainerEvents, HostTerminal, Logger, LogConfig, LogLevel, CheckpointOptions, RestoreOptions } from './runtime.js';
export { RuncLogger, functionLogger } from './log.js';
export { TRANSITIONS, allowed, type Operation } from './container/transitions.js';
export { TsrunError, errorKind } from './errors.js';
export type { ErrorKind } from './errors.js';
export { Reaper } from './reaper.js';

import { syscalls } from './sys/syscalls.js';
/**
 * Makes this process a child subreaper (PR_SET_CHILD_SUBREAPER), which a long-running caller
 * (the shim) needs for the exits of its containers to come to it: it is process-wide, so the
 * library leaves the choice to the caller.
 */
export function becomeChildSubreaper(): void {
  syscalls().setChildSubreaper();
}
