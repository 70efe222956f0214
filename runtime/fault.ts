/**
 * Fault injection for tests: a build with TSRUN_FAULTS defined true (build/fault/tsrun, made by
 * scripts/build.mjs; never bin/tsrun, where the define is false and this is dead code) kills
 * itself with SIGKILL at the step named by TSRUN_FAULT_AT ("create:3"), as a crash would.
 */
declare const TSRUN_FAULTS: boolean;

export function faultPoint(step: string): void {
  if (typeof TSRUN_FAULTS !== 'undefined' && TSRUN_FAULTS && process.env.TSRUN_FAULT_AT === step) process.kill(process.pid, 'SIGKILL');
}

/** In a test build, the executor's own fault point (native: fault_point) passed on to it. */
export function executorFaultEnv(): Record<string, string> {
  if (typeof TSRUN_FAULTS !== 'undefined' && TSRUN_FAULTS && process.env.TSRUN_EXECUTOR_FAULT_AT) return { TSRUN_EXECUTOR_FAULT_AT: process.env.TSRUN_EXECUTOR_FAULT_AT };
  return {};
}
