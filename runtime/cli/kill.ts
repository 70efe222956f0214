import { TsrunError } from '../errors.js';
import { killContainer } from '../container/kill.js';
import { loadState } from '../container/state.js';
import { parseSignal } from '../signals.js';
import type { Command } from './command.js';

export const kill: Command = {
  name: 'kill',
  usage: 'tsrun kill [command options] <container-id> [signal]',
  description: 'kill sends the specified signal (default: SIGTERM) to the container\'s init process',
  flags: [{ name: 'all', short: 'a', type: 'bool', usage: 'send the specified signal to all processes inside the container' }],
  async run(g, flags, args) {
    if (args.length < 1 || args.length > 2) throw new TsrunError(`tsrun: "kill" requires a minimum of 1 and a maximum of 2 argument(s)`);
    loadState(g.root, args[0]);
    const signal = parseSignal(args[1] ?? 'SIGTERM');
    await killContainer(g.root, args[0], signal, !!flags.all);
    return 0;
  },
};
