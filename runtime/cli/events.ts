import { TsrunError } from '../errors.js';
import { requireArgs } from './args.js';
import { runtimeOf, type Command } from './command.js';

const UNIT_NS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, in milliseconds ("5s", "1m30s", "250ms"; a bare "0" is allowed). */
export function parseGoDuration(s: string): number {
  const fail = () => new TsrunError(`invalid value "${s}" for flag -interval: parse error`);
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw fail();
  let total = 0;
  while (rest !== '') {
    const m = /^(\d*(?:\.\d*)?)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/.exec(rest);
    if (!m || m[1] === '' || m[1] === '.') throw fail();
    total += Number(m[1]) * UNIT_NS[m[2]];
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}

export const events: Command = {
  name: 'events',
  usage: 'tsrun events [command options] <container-id>',
  description: 'display container events such as OOM notifications, cpu, memory, and IO usage statistics',
  flags: [
    { name: 'interval', type: 'string', usage: 'set the stats collection interval', default: '5s' },
    { name: 'stats', type: 'bool', usage: "display the container's stats then exit" },
  ],
  async run(g, flags, args) {
    requireArgs('events', args, 1);
    const container = runtimeOf(g).load(args[0]);
    const intervalMs = parseGoDuration(flags.interval as string);
    if (intervalMs <= 0) throw new TsrunError('duration interval must be greater than 0');
    // A reader that goes away (`tsrun events ID | head -1`) ends runc by SIGPIPE; Node ignores
    // SIGPIPE, so leave the same way a shell would report it instead of with a stack trace.
    process.stdout.on('error', () => process.exit(128 + 13));
    await container.events({
      intervalMs: Math.max(1, Math.round(intervalMs)),
      once: !!flags.stats,
      write: (line) => process.stdout.write(line),
    });
    return 0;
  },
};
