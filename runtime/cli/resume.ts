import { requireArgs } from './args.js';
import { runtimeOf, type Command } from './command.js';
import { rootlessCgroups } from '../rootless.js';
import { log } from '../log.js';

export const resume: Command = {
  name: 'resume',
  usage: 'tsrun resume <container-id>',
  description: 'resumes all processes that have been previously paused',
  flags: [],
  async run(g, _flags, args) {
    // runc's warning: without a cgroup of its own (rootless) the container cannot be frozen.
    if (rootlessCgroups(g.rootless, g.systemdCgroup)) log.warn("tsrun resume may fail if you don't have the full access to cgroups");
    requireArgs('resume', args, 1);
    await runtimeOf(g).load(args[0]).resume();
    return 0;
  },
};
