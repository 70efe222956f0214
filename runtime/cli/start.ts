import { startContainer } from '../container/start.js';
import { requireArgs } from './args.js';
import type { Command } from './command.js';

export const start: Command = {
  name: 'start',
  usage: 'tsrun start <container-id>',
  description: 'executes the user defined process in a created container',
  flags: [],
  async run(g, _flags, args) {
    requireArgs('start', args, 1);
    await startContainer(g.root, args[0]);
    return 0;
  },
};
