import { requireArgs } from './args.js';
import { runtimeOf, type Command } from './command.js';
import { log } from '../log.js';
import { rootlessEuid, runningInUserNS } from '../rootless.js';
import { CRIU_FLAGS, criuCommonOptions } from './criu-flags.js';

export const checkpoint: Command = {
  name: 'checkpoint',
  usage: 'tsrun checkpoint [command options] <container-id>',
  description: 'checkpoint a running container',
  flags: [
    { name: 'image-path', type: 'string', usage: 'path for saving criu image files' },
    CRIU_FLAGS['work-path'],
    { name: 'parent-path', type: 'string', usage: 'path for previous criu image files in pre-dump' },
    { name: 'leave-running', type: 'bool', usage: 'leave the process running after checkpointing' },
    CRIU_FLAGS['tcp-established'],
    { name: 'tcp-skip-in-flight', type: 'bool', usage: 'skip in-flight tcp connections' },
    { name: 'link-remap', type: 'bool', usage: 'allow one to link unlinked files back when possible' },
    CRIU_FLAGS['ext-unix-sk'],
    CRIU_FLAGS['shell-job'],
    CRIU_FLAGS['lazy-pages'],
    { name: 'status-fd', type: 'int', usage: 'criu writes \\0 to this FD once lazy-pages is ready', default: '-1' },
    { name: 'page-server', type: 'string', usage: 'ADDRESS:PORT of the page server' },
    CRIU_FLAGS['file-locks'],
    { name: 'pre-dump', type: 'bool', usage: 'dump container\'s memory information only, leave the container running after this' },
    CRIU_FLAGS['manage-cgroups-mode'],
    CRIU_FLAGS['empty-ns'],
    CRIU_FLAGS['auto-dedup'],
  ],
  async run(g, flags, args) {
    requireArgs('checkpoint', args, 1);
    if (rootlessEuid() || runningInUserNS()) log.warn('tsrun checkpoint is untested with rootless containers');
    await runtimeOf(g).load(args[0]).checkpoint({
      ...criuCommonOptions(flags),
      parentPath: flags['parent-path'] as string | undefined, leaveRunning: !!flags['leave-running'],
      tcpSkipInFlight: !!flags['tcp-skip-in-flight'], linkRemap: !!flags['link-remap'],
      statusFd: flags['status-fd'] as number, pageServer: flags['page-server'] as string | undefined, preDump: !!flags['pre-dump'],
    });
    return 0;
  },
};
