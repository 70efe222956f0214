import { requireArgs } from './args.js';
import type { Command } from './command.js';
import { QuickRuntime } from './quick-runtime.js';

export const del: Command = {
  name: 'delete',
  usage: 'tsrun delete [command options] <container-id>',
  description: 'delete any resources held by the container often used with detached container',
  flags: [{ name: 'force', short: 'f', type: 'bool', usage: 'Forcibly deletes the container if it is still running (uses SIGKILL)' }],
  async run(g, flags, args) {
    requireArgs('delete', args, 1);
    await new QuickRuntime(g).delete(args[0], !!flags.force);
    return 0;
  },
};
