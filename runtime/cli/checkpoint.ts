import { requireArgs } from './args.js';
import { runtimeOf, type Command } from './command.js';
import { log } from '../log.js';
import { rootlessEuid, runningInUserNS } from '../rootless.js';
import type { CgroupsMode } from '../container/checkpoint.js';

export const checkpoint: Command = {
  name: 'checkpoint',
  usage: 'tsrun checkpoint [command options] <container-id>',
  description: 'checkpoint a running container',
  flags: [
    { name: 'image-path', type: 'string', usage: 'path for saving criu image files' },
    { name: 'work-path', type: 'string', usage: 'path for saving work files and logs' },
    { name: 'parent-path', type: 'string', usage: 'path for previous criu image files in pre-dump' },
    { name: 'leave-running', type: 'bool', usage: 'leave the process running after checkpointing' },
    { name: 'tcp-established', type: 'bool', usage: 'allow open tcp connections' },
    { name: 'tcp-skip-in-flight', type: 'bool', usage: 'skip in-flight tcp connections' },
    { name: 'link-remap', type: 'bool', usage: 'allow one to link unlinked files back when possible' },
    { name: 'ext-unix-sk', type: 'bool', usage: 'allow external unix sockets' },
    { name: 'shell-job', type: 'bool', usage: 'allow shell jobs' },
    { name: 'lazy-pages', type: 'bool', usage: 'use userfaultfd to lazily restore memory pages' },
    { name: 'status-fd', type: 'int', usage: 'criu writes \\0 to this FD once lazy-pages is ready', default: '-1' },
    { name: 'page-server', type: 'string', usage: 'ADDRESS:PORT of the page server' },
    { name: 'file-locks', type: 'bool', usage: 'handle file locks, for safety' },
    { name: 'pre-dump', type: 'bool', usage: 'dump container\'s memory information only, leave the container running after this' },
    { name: 'manage-cgroups-mode', type: 'string', usage: 'cgroups mode: soft|full|strict|ignore (default: soft)' },
    { name: 'empty-ns', type: 'list', usage: 'create a namespace, but don\'t restore its properties' },
    { name: 'auto-dedup', type: 'bool', usage: 'enable auto deduplication of memory images' },
  ],
  async run(g, flags, args) {
    requireArgs('checkpoint', args, 1);
    if (rootlessEuid() || runningInUserNS()) log.warn('tsrun checkpoint is untested with rootless containers');
    await runtimeOf(g).load(args[0]).checkpoint({
      imagePath: flags['image-path'] as string | undefined, workPath: flags['work-path'] as string | undefined,
      parentPath: flags['parent-path'] as string | undefined, leaveRunning: !!flags['leave-running'],
      tcpEstablished: !!flags['tcp-established'], tcpSkipInFlight: !!flags['tcp-skip-in-flight'], linkRemap: !!flags['link-remap'],
      extUnixSk: !!flags['ext-unix-sk'], shellJob: !!flags['shell-job'], lazyPages: !!flags['lazy-pages'],
      statusFd: flags['status-fd'] as number, pageServer: flags['page-server'] as string | undefined, fileLocks: !!flags['file-locks'],
      preDump: !!flags['pre-dump'], manageCgroupsMode: (flags['manage-cgroups-mode'] as CgroupsMode | undefined) ?? '',
      emptyNs: flags['empty-ns'] as string[], autoDedup: !!flags['auto-dedup'],
    });
    return 0;
  },
};
