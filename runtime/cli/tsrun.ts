// The entry point of bin/tsrun.
import { runCli } from './main.js';

runCli(process.argv.slice(2));
