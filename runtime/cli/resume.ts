import { requireArgs } from './args.js';
import { runtimeOf, type Command } from './command.js';

export const resume: Command = {
  name: 'resume',
  usage: 'tsrun resume <container-id>',
  description: 'resumes all processes that have been previously paused',
  flags: [],
  async run(g, _flags, args) {
    requireArgs('resume', args, 1);
    await runtimeOf(g).load(args[0]).resume();
    return 0;
  },
};
