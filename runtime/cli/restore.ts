import { requireArgs } from './args.js';
import type { Command } from './command.js';
import { log } from '../log.js';
import { rootlessEuid, runningInUserNS } from '../rootless.js';
import { restoreContainer } from '../container/restore.js';
import { deleteContainer } from '../container/delete.js';
import type { CgroupsMode } from '../container/checkpoint.js';
import { Foreground } from './foreground.js';

export const restore: Command = {
  name: 'restore',
  usage: 'tsrun restore [command options] <container-id>',
  description: 'restore a container from a previous checkpoint',
  flags: [
    { name: 'console-socket', type: 'string', usage: 'path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console\'s pseudoterminal' },
    { name: 'image-path', type: 'string', usage: 'path to criu image files for restoring' },
    { name: 'work-path', type: 'string', usage: 'path for saving work files and logs' },
    { name: 'tcp-established', type: 'bool', usage: 'allow open tcp connections' },
    { name: 'ext-unix-sk', type: 'bool', usage: 'allow external unix sockets' },
    { name: 'shell-job', type: 'bool', usage: 'allow shell jobs' },
    { name: 'file-locks', type: 'bool', usage: 'handle file locks, for safety' },
    { name: 'manage-cgroups-mode', type: 'string', usage: 'cgroups mode: soft|full|strict|ignore (default: soft)' },
    { name: 'bundle', short: 'b', type: 'string', usage: 'path to the root of the bundle directory' },
    { name: 'detach', short: 'd', type: 'bool', usage: 'detach from the container\'s process' },
    { name: 'pid-file', type: 'string', usage: 'specify the file to write the process id to' },
    { name: 'no-subreaper', type: 'bool', usage: 'disable the use of the subreaper used to reap reparented processes' },
    { name: 'no-pivot', type: 'bool', usage: 'do not use pivot root to jail process inside rootfs.  This should be used whenever the rootfs is on top of a ramdisk' },
    { name: 'empty-ns', type: 'list', usage: 'create a namespace, but don\'t restore its properties' },
    { name: 'auto-dedup', type: 'bool', usage: 'enable auto deduplication of memory images' },
    { name: 'lazy-pages', type: 'bool', usage: 'use userfaultfd to lazily restore memory pages' },
    { name: 'lsm-profile', type: 'string', usage: 'Specify an LSM profile to be used during restore in the form of TYPE:NAME.' },
    { name: 'lsm-mount-context', type: 'string', usage: 'Specify an LSM mount context to be used during restore.' },
  ],
  async run(g, flags, args) {
    requireArgs('restore', args, 1);
    if (rootlessEuid() || runningInUserNS()) log.warn('tsrun checkpoint is untested with rootless containers');
    const id = args[0];
    const detach = !!flags.detach;
    // The restored init is our child (CRIU restores it as criu's sibling): a foreground restore waits for it.
    const fg = detach ? undefined : new Foreground();
    try {
      const { state } = await restoreContainer({
        root: g.root, id, bundle: (flags.bundle as string | undefined) ?? process.cwd(),
        imagePath: flags['image-path'] as string | undefined, workPath: flags['work-path'] as string | undefined,
        tcpEstablished: !!flags['tcp-established'], extUnixSk: !!flags['ext-unix-sk'], shellJob: !!flags['shell-job'],
        fileLocks: !!flags['file-locks'], manageCgroupsMode: (flags['manage-cgroups-mode'] as CgroupsMode | undefined) ?? '',
        emptyNs: flags['empty-ns'] as string[], autoDedup: !!flags['auto-dedup'], lazyPages: !!flags['lazy-pages'],
        lsmProfile: flags['lsm-profile'] as string | undefined, lsmMountContext: flags['lsm-mount-context'] as string | undefined,
        pidFile: flags['pid-file'] as string | undefined, consoleSocket: flags['console-socket'] as string | undefined,
        foreground: !detach, systemdCgroup: g.systemdCgroup,
      });
      if (detach) return 0;
      const status = await fg!.wait(state.pid);
      try { await deleteContainer(g.root, id, true); } catch (err) { log.warn(`deleting ${id}: ${(err as Error).message}`); }
      return status;
    } finally {
      fg?.stop();
    }
  },
};
