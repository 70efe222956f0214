import type { FlagSpec, FlagValues } from './args.js';

export interface GlobalOptions {
  root: string;
  debug: boolean;
  systemdCgroup: boolean;
  rootless: string;
  logFile?: string;
  logFormat: 'text' | 'json';
}

export interface Command {
  name: string;
  usage: string;
  description: string;
  flags: FlagSpec[];
  /** Returns the process exit status. */
  run(global: GlobalOptions, flags: FlagValues, args: string[]): Promise<number>;
}
