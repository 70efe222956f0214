import { TsrunError } from '../errors.js';
import { parseSignal } from '../signals.js';
import type { Command } from './command.js';
import { QuickRuntime } from './quick-runtime.js';

export const kill: Command = {
  name: 'kill',
  usage: 'tsrun kill [command options] <container-id> [signal]',
  description: 'kill sends the specified signal (default: SIGTERM) to the container\'s init process',
  flags: [{ name: 'all', short: 'a', type: 'bool', usage: 'send the specified signal to all processes inside the container' }],
  async run(g, flags, args) {
    if (args.length < 1 || args.length > 2) throw new TsrunError(`tsrun: "kill" requires a minimum of 1 and a maximum of 2 argument(s)`);
    const runtime = new QuickRuntime(g);
    runtime.load(args[0]);
    await runtime.kill(args[0], parseSignal(args[1] ?? 'SIGTERM'), !!flags.all);
    return 0;
  },
};
