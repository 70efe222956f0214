import { requireArgs } from './args.js';
import { runtimeOf, type Command } from './command.js';

export const CREATE_FLAGS = [
  { name: 'bundle', short: 'b', type: 'string', usage: 'path to the root of the bundle directory, defaults to the current directory' },
  { name: 'console-socket', type: 'string', usage: 'path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console\'s pseudoterminal' },
  { name: 'pid-file', type: 'string', usage: 'specify the file to write the process id to' },
  { name: 'no-pivot', type: 'bool', usage: 'do not use pivot root to jail process inside rootfs' },
  { name: 'no-new-keyring', type: 'bool', usage: 'do not create a new session keyring for the container' },
  { name: 'preserve-fds', type: 'int', usage: 'Pass N additional file descriptors to the container', default: '0' },
] as const;

export const create: Command = {
  name: 'create',
  usage: 'tsrun create [command options] <container-id>',
  description: 'create a container',
  flags: [...CREATE_FLAGS],
  async run(g, flags, args) {
    requireArgs('create', args, 1);
    await runtimeOf(g).create(args[0], (flags.bundle as string | undefined) ?? process.cwd(), {
      pidFile: flags['pid-file'] as string | undefined, consoleSocket: flags['console-socket'] as string | undefined,
      noPivot: !!flags['no-pivot'], noNewKeyring: !!flags['no-new-keyring'], preserveFds: flags['preserve-fds'] as number,
      detached: true,
    });
    return 0;
  },
};
