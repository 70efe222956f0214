// The entry point of bin/tsrun.cjs, every command (bin/tsrun-quick.cjs runs the quick ones: tsrun-quick.ts).
import { mark } from '../timing.js';
import { runCli } from './main.js';
import { preferUvHandles } from '../container/uv.js';
import { create } from './create.js';
import { start } from './start.js';
import { run } from './run.js';
import { state } from './state.js';
import { list } from './list.js';
import { kill } from './kill.js';
import { del } from './delete.js';
import { ps } from './ps.js';
import { spec } from './spec.js';
import { features } from './features.js';
import { pause } from './pause.js';
import { resume } from './resume.js';
import { exec } from './exec.js';
import { update } from './update.js';
import { events } from './events.js';
import { setup } from './setup.js';
import { checkpoint } from './checkpoint.js';
import { restore } from './restore.js';

mark('evaluated');
preferUvHandles();
runCli(process.argv.slice(2), [create, start, run, exec, state, list, kill, del, ps, spec, features, pause, resume, update, events, setup, checkpoint, restore]);
