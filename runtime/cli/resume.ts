import { setPaused } from '../container/pause.js';
import { requireArgs } from './args.js';
import type { Command } from './command.js';

export const resume: Command = {
  name: 'resume',
  usage: 'tsrun resume <container-id>',
  description: 'resumes all processes that have been previously paused',
  flags: [],
  async run(g, _flags, args) {
    requireArgs('resume', args, 1);
    await setPaused(g.root, args[0], false);
    return 0;
  },
};
