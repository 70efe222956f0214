import { requireArgs } from './args.js';
import type { Command } from './command.js';
import { QuickRuntime } from './quick-runtime.js';

export const start: Command = {
  name: 'start',
  usage: 'tsrun start <container-id>',
  description: 'executes the user defined process in a created container',
  flags: [],
  async run(g, _flags, args) {
    requireArgs('start', args, 1);
    const runtime = new QuickRuntime(g);
    runtime.load(args[0]);
    await runtime.start(args[0]);
    return 0;
  },
};
