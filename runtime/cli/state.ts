import { requireArgs } from './args.js';
import type { Command } from './command.js';
import { QuickRuntime } from './quick-runtime.js';
import { writeStdout } from '../stdio.js';

export const state: Command = {
  name: 'state',
  usage: 'tsrun state <container-id>',
  description: 'output the state of a container',
  flags: [],
  async run(g, _flags, args) {
    requireArgs('state', args, 1);
    writeStdout(JSON.stringify(new QuickRuntime(g).state(args[0]), null, "  "));
    return 0;
  },
};
