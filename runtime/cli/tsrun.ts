// The entry point of bin/tsrun.
import { mark } from '../timing.js';
import { runCli } from './main.js';
import { preferUvHandles } from '../container/uv.js';

mark('evaluated');
preferUvHandles();
runCli(process.argv.slice(2));
