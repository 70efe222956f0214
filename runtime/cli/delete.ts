import { requireArgs } from './args.js';
import { runtimeOf, type Command } from './command.js';

export const del: Command = {
  name: 'delete',
  usage: 'tsrun delete [command options] <container-id>',
  description: 'delete any resources held by the container often used with detached container',
  flags: [{ name: 'force', short: 'f', type: 'bool', usage: 'Forcibly deletes the container if it is still running (uses SIGKILL)' }],
  async run(g, flags, args) {
    requireArgs('delete', args, 1);
    await runtimeOf(g).container(args[0]).delete({ force: !!flags.force });
    return 0;
  },
};
