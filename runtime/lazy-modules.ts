// Node built-ins that cost milliseconds to load (child_process ~4.7 ms, net ~2.7 ms here),
// loaded on first use: `state`, `list` and `kill` need none of them.
import type * as ChildProcessModule from 'node:child_process';
import type * as NetModule from 'node:net';

export const childProcess = (): typeof ChildProcessModule => require('node:child_process');
export const net = (): typeof NetModule => require('node:net');
