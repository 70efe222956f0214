import { requireArgs } from './args.js';
import { runtimeOf, type Command } from './command.js';
import { writeStdout } from '../stdio.js';

export const state: Command = {
  name: 'state',
  usage: 'tsrun state <container-id>',
  description: 'output the state of a container',
  flags: [],
  async run(g, _flags, args) {
    requireArgs('state', args, 1);
    writeStdout(JSON.stringify(runtimeOf(g).load(args[0]).state(), null, "  "));
    return 0;
  },
};
