import { TsrunError } from '../errors.js';
import { log } from '../log.js';
import { closeSync } from 'node:fs';
import { Foreground } from './foreground.js';
import { HostConsole } from './host-terminal.js';
import { requireArgs } from './args.js';
import { CREATE_FLAGS } from './create.js';
import { runtimeOf, type Command } from './command.js';

export const run: Command = {
  name: 'run',
  usage: 'tsrun run [command options] <container-id>',
  description: 'create and run a container',
  flags: [
    ...CREATE_FLAGS,
    { name: 'detach', short: 'd', type: 'bool', usage: 'detach from the container\'s process' },
    { name: 'keep', type: 'bool', usage: 'do not delete the container after it exits' },
  ],
  async run(g, flags, args) {
    requireArgs('run', args, 1);
    const id = args[0];
    const detach = !!flags.detach;
    if (detach && flags.keep) throw new TsrunError('--detach and --keep cannot both be set');
    const runtime = runtimeOf(g);
    const fg = detach ? undefined : new Foreground();
    try {
      return await runContainer();
    } finally {
      fg?.stop();
    }

    async function runContainer(): Promise<number> {
      const container = await runtime.create(id, (flags.bundle as string | undefined) ?? process.cwd(), {
        pidFile: flags['pid-file'] as string | undefined, consoleSocket: flags['console-socket'] as string | undefined,
        noPivot: !!flags['no-pivot'], noNewKeyring: !!flags['no-new-keyring'], preserveFds: flags['preserve-fds'] as number,
        detached: detach, hostTerminal: detach ? undefined : () => HostConsole.find(),
      });
      const tty = container.master !== undefined && container.host ? { master: container.master, host: container.host as HostConsole } : undefined;
      try {
        await container.start();
      } catch (err) {
        if (tty) { closeSync(tty.master); tty.host.close(); }
        await container.delete({ force: true }).catch(() => undefined);
        throw err;
      }
      if (detach) return 0;

      const status = await fg!.wait(container.pid, tty);
      if (!flags.keep) {
        try { await container.delete({ force: true }); } catch (err) { log.warn(`deleting ${id}: ${(err as Error).message}`); }
      }
      return status;
    }
  },
};
