import { requireArgs } from './args.js';
import { runtimeOf, type Command } from './command.js';
import { rootlessCgroups } from '../rootless.js';
import { log } from '../log.js';

export const pause: Command = {
  name: 'pause',
  usage: 'tsrun pause <container-id>',
  description: 'pause suspends all processes inside the container',
  flags: [],
  async run(g, _flags, args) {
    // runc's warning: without a cgroup of its own (rootless) the container cannot be frozen.
    if (rootlessCgroups(g.rootless, g.systemdCgroup)) log.warn("tsrun pause may fail if you don't have the full access to cgroups");
    requireArgs('pause', args, 1);
    await runtimeOf(g).load(args[0]).pause();
    return 0;
  },
};
