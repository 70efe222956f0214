import { resolve } from 'node:path';
import { TsrunError, describeSystemError } from '../errors.js';
import { RuncLogger, type Logger } from '../log.js';
import { setProcessContext } from '../context.js';
import { parseFlags, helpText, type FlagSpec } from './args.js';
import type { Command, GlobalOptions } from './command.js';
import { defaultStateRoot, prepareXdgStateRoot } from '../rootless.js';
import { mark, writeTiming } from '../timing.js';
import { writeStdout, writeStderr } from '../stdio.js';

declare const TSRUN_VERSION: string;
declare const TSRUN_COMMIT: string;

// runc's default root: $XDG_RUNTIME_DIR/runc for a plain user (or root of a user namespace).
const STATE_ROOT = defaultStateRoot();

const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'debug', type: 'bool', usage: 'enable debug logging' },
  { name: 'log', type: 'string', usage: 'set the log file to write tsrun logs to (default is \'/dev/stderr\')' },
  { name: 'log-format', type: 'string', usage: 'set the log format (\'text\' (default), or \'json\')', default: 'text' },
  { name: 'root', type: 'string', usage: 'root directory for storage of container state (this should be located in tmpfs)', default: STATE_ROOT.root },
  { name: 'criu', type: 'string', usage: 'path to the criu binary used for checkpoint and restore', default: 'criu' },
  { name: 'systemd-cgroup', type: 'bool', usage: 'enable systemd cgroup support' },
  { name: 'rootless', type: 'string', usage: 'ignore cgroup permission errors (\'true\', \'false\', or \'auto\')', default: 'auto' },
  { name: 'help', short: 'h', type: 'bool', usage: 'show help' },
  { name: 'version', short: 'v', type: 'bool', usage: 'print the version' },
];

function versionText(): string {
  return `tsrun version ${TSRUN_VERSION}\ncommit: ${TSRUN_COMMIT}\nspec: 1.2.0\n`;
}

/** The global flags as main() parses them: how tsrun-quick.ts tells the command before running it. */
export function parseGlobalFlags(argv: string[]): ReturnType<typeof parseFlags> {
  return parseFlags(argv, GLOBAL_FLAGS, 'tsrun');
}

/** The help text of a tsrun with these commands. */
export function usageText(commands: Command[]): string {
  const lines = ['NAME:', '   tsrun - Open Container Initiative runtime in TypeScript', '', 'USAGE:', '   tsrun [global options] command [command options] [arguments...]', '', 'COMMANDS:'];
  for (const c of commands) lines.push(`   ${c.name.padEnd(12)} ${c.description}`);
  lines.push('', 'GLOBAL OPTIONS:');
  for (const f of GLOBAL_FLAGS) lines.push(`   --${f.name}${f.type === 'bool' ? '' : ' value'}`.padEnd(32) + ` ${f.usage}`);
  return lines.join('\n') + '\n';
}

async function main(argv: string[], commands: Command[]): Promise<number> {
  let commandName = '';
  let logger: Logger = new RuncLogger();
  try {
    const { flags, rest } = parseGlobalFlags(argv);
    const logFormat = flags['log-format'] as string;
    if (logFormat !== 'text' && logFormat !== 'json') throw new TsrunError(`invalid log-format: ${logFormat}`);
    logger = new RuncLogger({ file: flags.log as string | undefined, format: logFormat, debug: !!flags.debug });
    if (flags.version) { writeStdout(versionText()); return 0; }
    if (flags.help || rest.length === 0) { writeStdout(usageText(commands)); return 0; }
    commandName = rest[0];
    if (commandName === 'help') { writeStdout(usageText(commands)); return 0; }
    if (STATE_ROOT.xdg) prepareXdgStateRoot(STATE_ROOT.root);
    const command = commands.find((c) => c.name === commandName);
    if (!command) throw new TsrunError(`No help topic for '${commandName}'`);
    const parsed = parseFlags(rest.slice(1), [...command.flags, { name: 'help', short: 'h', type: 'bool', usage: 'show help' }], command.name);
    if (parsed.flags.help) { writeStdout(helpText(command.usage, command.description, command.flags)); return 0; }
    const global: GlobalOptions = {
      // Absolute, as runc makes it: the executor only takes absolute host paths.
      root: resolve(flags.root as string), debug: !!flags.debug, systemdCgroup: !!flags['systemd-cgroup'],
      rootless: flags.rootless as string, logFile: flags.log as string | undefined, logFormat, logger,
    };
    mark('args');
    // What the command logs outside a Runtime's operations goes to the same log.
    setProcessContext({ logger });
    return await command.run(global, parsed.flags, parsed.rest);
  } catch (err) {
    logger.fatal(errorText(commandName, err));
    return err instanceof TsrunError ? err.exitCode : 1;
  }
}

/** runc prefixes what goes wrong while creating a container with "<runtime> <command> failed: ". */
function errorText(command: string, err: unknown): string {
  const message = err instanceof TsrunError ? err.message : describeSystemError(err);
  if (command === 'create' || command === 'run') return `tsrun ${command} failed: ${message}`;
  return message;
}

// Exit at once: waiting for Node to wind down its event loop and heap costs ~10 ms per command.
// stdout and stderr are synchronous for files, pipes and terminals on Linux, so nothing is lost.
export function runCli(argv: string[], commands: Command[]): void {
  main(argv, commands).then((code) => {
    writeTiming(argv);
    process.exit(code);
  }, (err) => {
    writeStderr(`tsrun: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
