import { loadState } from '../container/state.js';
import { containerStatus, ociState } from '../container/status.js';
import { requireArgs } from './args.js';
import type { Command } from './command.js';

export const state: Command = {
  name: 'state',
  usage: 'tsrun state <container-id>',
  description: 'output the state of a container',
  flags: [],
  async run(g, _flags, args) {
    requireArgs('state', args, 1);
    const s = loadState(g.root, args[0]);
    process.stdout.write(JSON.stringify(ociState(s, containerStatus(g.root, s)), null, "  "));
    return 0;
  },
};
