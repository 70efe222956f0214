import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { TsrunError, describeSystemError } from '../errors.js';
import { log } from '../log.js';
import { parseProcess } from '../spec/load.js';
import { checkEnvironment } from '../spec/semantic.js';
import { checkPlanCounts, checkPlanStrings } from '../spec/limits.js';
import { execProcessFromFlags, type Process } from '../plan/exec-plan.js';
import { Foreground } from './foreground.js';
import { HostConsole } from './host-terminal.js';
import { runtimeOf, type Command } from './command.js';
import type { FlagValues } from './args.js';

/** The process to run: the --process file (read at once: the caller deletes it) or the flags. */
export function execProcessSpec(flags: FlagValues, args: string[], base: () => Process | undefined): Process {
  const file = flags.process as string | undefined;
  if (file) {
    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch (err) { throw new TsrunError(describeSystemError(err)); }
    const { process, warnings } = parseProcess(text, file, { unknownCapabilities: 'warn' });
    for (const w of warnings) log.warn(w);
    return process;
  }
  if (flags.env) checkFlagEnvironment(flags.env as string[]);
  const proc = execProcessFromFlags(base(), {
    args, env: flags.env as string[], cwd: flags.cwd as string | undefined, user: flags.user as string | undefined,
    additionalGids: flags['additional-gids'] as string[], caps: flags.cap as string[], noNewPrivs: !!flags['no-new-privs'],
    apparmor: flags.apparmor as string | undefined, processLabel: flags['process-label'] as string | undefined, tty: !!flags.tty,
  }, (msg) => log.warn(msg));
  checkPlanCounts({ process: proc }, 'exec');
  checkPlanStrings(proc, 'exec', '/process');
  return proc;
}

/** runc's init refuses -e NAME without a value, with the prefix of errors from the init. */
function checkFlagEnvironment(env: string[]): void {
  try {
    checkEnvironment(env);
  } catch (err) {
    throw new TsrunError(`unable to start container process: ${(err as Error).message}`);
  }
}

export const exec: Command = {
  name: 'exec',
  usage: 'tsrun exec [command options] <container-id> <command> [command options]  || -p process.json <container-id>',
  description: 'execute new process inside the container',
  flags: [
    { name: 'console-socket', type: 'string', usage: 'path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console\'s pseudoterminal' },
    { name: 'cwd', type: 'string', usage: 'current working directory in the container' },
    { name: 'env', short: 'e', type: 'list', usage: 'set environment variables' },
    { name: 'tty', short: 't', type: 'bool', usage: 'allocate a pseudo-TTY' },
    { name: 'user', short: 'u', type: 'string', usage: 'UID (format: <uid>[:<gid>])' },
    { name: 'additional-gids', short: 'g', type: 'list', usage: 'additional gids' },
    { name: 'process', short: 'p', type: 'string', usage: 'path to the process.json' },
    { name: 'detach', short: 'd', type: 'bool', usage: 'detach from the container\'s process' },
    { name: 'pid-file', type: 'string', usage: 'specify the file to write the process id to' },
    { name: 'process-label', type: 'string', usage: 'set the asm process label for the process commonly used with selinux' },
    { name: 'apparmor', type: 'string', usage: 'set the apparmor profile for the process' },
    { name: 'no-new-privs', type: 'bool', usage: 'set the no new privileges value for the process' },
    { name: 'cap', short: 'c', type: 'list', usage: 'add a capability to the bounding set for the process' },
    { name: 'preserve-fds', type: 'int', usage: 'Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)', default: '0' },
    { name: 'cgroup', type: 'list', usage: 'run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>.' },
    { name: 'ignore-paused', type: 'bool', usage: 'allow exec in a paused container' },
  ],
  async run(g, flags, args) {
    if (args.length < 1) throw new TsrunError('tsrun: "exec" requires a minimum of 1 argument(s)');
    const pidFile = flags['pid-file'] ? resolve(flags['pid-file'] as string) : undefined;
    const preserveFds = flags['preserve-fds'] as number;
    try {
      if (preserveFds < 0) throw new TsrunError(`invalid --preserve-fds ${preserveFds}`);
      const detach = !!flags.detach;
      const container = runtimeOf(g).container(args[0]);
      const fg = detach ? undefined : new Foreground();
      try {
        const started = await container.exec((base) => execProcessSpec(flags, args.slice(1), () => base), {
          pidFile, preserveFds, ignorePaused: !!flags['ignore-paused'], subCgroups: flags.cgroup as string[],
          consoleSocket: flags['console-socket'] as string | undefined,
          detached: detach, hostTerminal: detach ? undefined : () => HostConsole.find(),
        });
        if (!fg) return 0;
        return await fg.wait(started.pid, started.master !== undefined && started.host ? { master: started.master, host: started.host as HostConsole } : undefined);
      } finally {
        fg?.stop();
      }
    } catch (err) {
      // runc reports every exec error with this prefix and status 255.
      const message = err instanceof TsrunError ? err.message : describeSystemError(err);
      throw new TsrunError(`exec failed: ${message}`, 255);
    }
  },
};
