import { requireArgs } from './args.js';
import { runtimeOf, type Command } from './command.js';
import { log } from '../log.js';
import { rootlessEuid, runningInUserNS } from '../rootless.js';
import { CRIU_FLAGS, criuCommonOptions } from './criu-flags.js';
import { Foreground } from './foreground.js';

export const restore: Command = {
  name: 'restore',
  usage: 'tsrun restore [command options] <container-id>',
  description: 'restore a container from a previous checkpoint',
  flags: [
    { name: 'console-socket', type: 'string', usage: 'path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console\'s pseudoterminal' },
    { name: 'image-path', type: 'string', usage: 'path to criu image files for restoring' },
    CRIU_FLAGS['work-path'],
    CRIU_FLAGS['tcp-established'],
    CRIU_FLAGS['ext-unix-sk'],
    CRIU_FLAGS['shell-job'],
    CRIU_FLAGS['file-locks'],
    CRIU_FLAGS['manage-cgroups-mode'],
    { name: 'bundle', short: 'b', type: 'string', usage: 'path to the root of the bundle directory' },
    { name: 'detach', short: 'd', type: 'bool', usage: 'detach from the container\'s process' },
    { name: 'pid-file', type: 'string', usage: 'specify the file to write the process id to' },
    { name: 'no-subreaper', type: 'bool', usage: 'disable the use of the subreaper used to reap reparented processes' },
    { name: 'no-pivot', type: 'bool', usage: 'do not use pivot root to jail process inside rootfs.  This should be used whenever the rootfs is on top of a ramdisk' },
    CRIU_FLAGS['empty-ns'],
    CRIU_FLAGS['auto-dedup'],
    CRIU_FLAGS['lazy-pages'],
    { name: 'lsm-profile', type: 'string', usage: 'Specify an LSM profile to be used during restore in the form of TYPE:NAME.' },
    { name: 'lsm-mount-context', type: 'string', usage: 'Specify an LSM mount context to be used during restore.' },
  ],
  async run(g, flags, args) {
    requireArgs('restore', args, 1);
    if (rootlessEuid() || runningInUserNS()) log.warn('tsrun checkpoint is untested with rootless containers');
    const id = args[0];
    const detach = !!flags.detach;
    // The restored init is our child (CRIU restores it as criu's sibling): a foreground restore waits for it.
    const fg = detach ? undefined : new Foreground({ subreaper: true });
    try {
      const container = await runtimeOf(g).restore(id, (flags.bundle as string | undefined) ?? process.cwd(), {
        ...criuCommonOptions(flags),
        lsmProfile: flags['lsm-profile'] as string | undefined, lsmMountContext: flags['lsm-mount-context'] as string | undefined,
        pidFile: flags['pid-file'] as string | undefined, consoleSocket: flags['console-socket'] as string | undefined,
        detached: detach,
      });
      if (detach) return 0;
      const status = await fg!.wait(container.pid);
      try { await container.delete({ force: true }); } catch (err) { log.warn(`deleting ${id}: ${(err as Error).message}`); }
      return status;
    } finally {
      fg?.stop();
    }
  },
};
