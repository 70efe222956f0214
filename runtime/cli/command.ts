import { Runtime } from '../runtime.js';
import { parseRootlessFlag } from '../rootless.js';
import type { Logger } from '../log.js';
import type { FlagSpec, FlagValues } from './args.js';
import { enableCgroupMigrationWarmUp } from '../cgroups/migration-warm.js';

export interface GlobalOptions {
  root: string;
  debug: boolean;
  systemdCgroup: boolean;
  rootless: string;
  logFile?: string;
  logFormat: 'text' | 'json';
  logger: Logger;
}

export interface Command {
  name: string;
  usage: string;
  description: string;
  flags: FlagSpec[];
  /** Returns the process exit status. */
  run(global: GlobalOptions, flags: FlagValues, args: string[]): Promise<number>;
}

/** The library's Runtime for the global options (one per command). */
export function runtimeOf(g: GlobalOptions): Runtime {
  const rootless = parseRootlessFlag(g.rootless);
  // create, run and exec are on an engine's path: see runtime/cgroups/migration-warm.ts
  enableCgroupMigrationWarmUp();
  return new Runtime({
    root: g.root, systemdCgroup: g.systemdCgroup, rootless: rootless ?? 'auto', logger: g.logger,
    // A foreground command waits for its process itself, as the subreaper (foreground.ts).
    reapExits: false,
  });
}
