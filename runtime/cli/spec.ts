import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsrunError } from '../errors.js';
import { defaultSpec } from '../spec/default-config.js';
import type { Command } from './command.js';

export const spec: Command = {
  name: 'spec',
  usage: 'tsrun spec [command options]',
  description: 'create a new specification file',
  flags: [
    { name: 'bundle', short: 'b', type: 'string', usage: 'path to the root of the bundle directory' },
    { name: 'rootless', type: 'bool', usage: 'generate a configuration for a rootless container' },
  ],
  async run(_g, flags) {
    const file = join((flags.bundle as string | undefined) ?? '.', 'config.json');
    if (existsSync(file)) throw new TsrunError('File config.json exists. Remove it first');
    writeFileSync(file, JSON.stringify(defaultSpec({ rootless: !!flags.rootless }), null, '\t'), { mode: 0o666 });
    return 0;
  },
};
