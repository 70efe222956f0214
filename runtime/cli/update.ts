import { readFileSync } from 'node:fs';
import { TsrunError, describeSystemError } from '../errors.js';
import { updateFromFlags, updateFromJson } from '../cgroups/update.js';
import { requireArgs, type FlagSpec } from './args.js';
import { runtimeOf, type Command } from './command.js';

const FLAGS: FlagSpec[] = [
  { name: 'resources', short: 'r', type: 'string', usage: "path to the file containing the resources to update or '-' to read from the standard input" },
  { name: 'blkio-weight', type: 'int', usage: 'Specifies per cgroup weight, range is from 10 to 1000' },
  { name: 'cpu-period', type: 'string', usage: 'CPU CFS period to be used for hardcapping (in usecs). 0 to use system default' },
  { name: 'cpu-quota', type: 'string', usage: 'CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period' },
  { name: 'cpu-share', type: 'string', usage: 'CPU shares (relative weight vs. other containers)' },
  { name: 'cpu-rt-period', type: 'string', usage: 'CPU realtime period to be used for hardcapping (in usecs). 0 to use system default' },
  { name: 'cpu-rt-runtime', type: 'string', usage: 'CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period' },
  { name: 'cpuset-cpus', type: 'string', usage: 'CPU(s) to use' },
  { name: 'cpuset-mems', type: 'string', usage: 'Memory node(s) to use' },
  { name: 'kernel-memory', type: 'string', usage: '(obsoleted; do not use)' },
  { name: 'kernel-memory-tcp', type: 'string', usage: '(obsoleted; do not use)' },
  { name: 'memory', type: 'string', usage: 'Memory limit (in bytes)' },
  { name: 'memory-reservation', type: 'string', usage: 'Memory reservation or soft_limit (in bytes)' },
  { name: 'memory-swap', type: 'string', usage: "Total memory usage (memory + swap); set '-1' to enable unlimited swap" },
  { name: 'pids-limit', type: 'int', usage: 'Maximum number of pids allowed in the container' },
  { name: 'l3-cache-schema', type: 'string', usage: 'The string of Intel RDT/CAT L3 cache schema' },
  { name: 'mem-bw-schema', type: 'string', usage: 'The string of Intel RDT/MBA memory bandwidth schema' },
];

function readResources(path: string): string {
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TsrunError(describeSystemError(e.syscall ? { ...e, path: path === '-' ? '/dev/stdin' : path } : e));
  }
}

export const update: Command = {
  name: 'update',
  usage: 'tsrun update [command options] <container-id>',
  description: 'update container resource constraints',
  flags: FLAGS,
  async run(g, flags, args) {
    requireArgs('update', args, 1);
    // With --resources every other flag is ignored, as in runc.
    const resources = typeof flags.resources === 'string' ? flags.resources : '';
    const str = (k: string) => (typeof flags[k] === 'string' ? (flags[k] as string) : '');
    const rdt = { l3CacheSchema: str('l3-cache-schema'), memBwSchema: str('mem-bw-schema') };
    // runc opens the container (unknown id) before it reads the input.
    const container = runtimeOf(g).load(args[0]);
    const req = resources !== '' ? updateFromJson(readResources(resources)) : updateFromFlags(flags);
    await container.update(req, rdt);
    return 0;
  },
};
