import { setPaused } from '../container/pause.js';
import { requireArgs } from './args.js';
import type { Command } from './command.js';

export const pause: Command = {
  name: 'pause',
  usage: 'tsrun pause <container-id>',
  description: 'pause suspends all processes inside the container',
  flags: [],
  async run(g, _flags, args) {
    requireArgs('pause', args, 1);
    await setPaused(g.root, args[0], true);
    return 0;
  },
};
