import { requireArgs } from './args.js';
import { runtimeOf, type Command } from './command.js';

export const start: Command = {
  name: 'start',
  usage: 'tsrun start <container-id>',
  description: 'executes the user defined process in a created container',
  flags: [],
  async run(g, _flags, args) {
    requireArgs('start', args, 1);
    await runtimeOf(g).load(args[0]).start();
    return 0;
  },
};
