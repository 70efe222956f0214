import { requireArgs } from './args.js';
import { runtimeOf, type Command } from './command.js';

export const pause: Command = {
  name: 'pause',
  usage: 'tsrun pause <container-id>',
  description: 'pause suspends all processes inside the container',
  flags: [],
  async run(g, _flags, args) {
    requireArgs('pause', args, 1);
    await runtimeOf(g).load(args[0]).pause();
    return 0;
  },
};
