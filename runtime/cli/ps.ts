import { childProcess } from '../lazy-modules.js';
import { TsrunError } from '../errors.js';
import { runtimeOf, type Command } from './command.js';
import { rootlessCgroups } from '../rootless.js';
import { log } from '../log.js';
import { writeStdout } from '../stdio.js';

export const ps: Command = {
  name: 'ps',
  usage: 'tsrun ps [command options] <container-id> [ps options]',
  description: 'ps displays the processes running inside a container',
  flags: [{ name: 'format', short: 'f', type: 'string', usage: 'select one of: table or json', default: 'table' }],
  async run(g, flags, args) {
    // runc's warning: without a cgroup of its own (rootless) the container cannot be listed.
    if (rootlessCgroups(g.rootless, g.systemdCgroup)) log.warn("tsrun ps may fail if you don't have the full access to cgroups");
    if (args.length < 1) throw new TsrunError('tsrun: "ps" requires a minimum of 1 argument(s)');
    const pids = runtimeOf(g).load(args[0]).pids();
    if (flags.format === 'json') {
      writeStdout((pids.length ? JSON.stringify(pids) : 'null') + '\n');
      return 0;
    }
    if (flags.format !== 'table') throw new TsrunError('invalid format option');
    const psArgs = args.length > 1 ? args.slice(1) : ['-ef'];
    const out = childProcess().spawnSync('ps', psArgs, { encoding: 'utf8' });
    // runc's words: Go's exec error, then ps's combined output.
    if (out.status !== 0) throw new TsrunError(`exit status ${out.status}: ${out.stdout}${out.stderr}`);
    const lines = out.stdout.split('\n');
    const header = lines[0];
    const pidColumn = header.trim().split(/\s+/).indexOf('PID');
    if (pidColumn < 0) throw new TsrunError("couldn't find PID field in ps output");
    const wanted = new Set(pids);
    const rows = lines.slice(1).filter((l) => l.trim() && wanted.has(Number(l.trim().split(/\s+/)[pidColumn])));
    writeStdout([header, ...rows].join('\n') + '\n');
    return 0;
  },
};
