// The entry point of bin/tsrun.
import { mark } from '../timing.js';
import { runCli } from './main.js';

mark('evaluated');
runCli(process.argv.slice(2));
