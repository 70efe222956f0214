// The entry point of bin/tsrun-quick.cjs: the commands that look at a container or signal it, and
// --version, from a bundle without what the others load (see scripts/build.mjs). The launcher
// runs it when the command looks like one of these; runQuick says whether it was (main() parses
// the global flags as it does), and when not, the launcher runs bin/tsrun.cjs instead: help
// lists every command, a flag error is reported by the whole CLI as always.
import { mark } from '../timing.js';
import { parseGlobalFlags, runCli } from './main.js';
import { preferUvHandles } from '../container/uv.js';
import { state } from './state.js';
import { list } from './list.js';
import { kill } from './kill.js';
import { start } from './start.js';
import { del } from './delete.js';

const QUICK = [start, state, list, kill, del];

mark('evaluated');

/** Runs the command if it is one of the quick ones (or --version); false, having done nothing, if not. */
export function runQuick(argv: string[]): boolean {
  let parsed: ReturnType<typeof parseGlobalFlags>;
  try {
    parsed = parseGlobalFlags(argv);
  } catch {
    return false;
  }
  const { flags, rest } = parsed;
  if (flags.help || !(flags.version || QUICK.some((c) => c.name === rest[0]))) return false;
  preferUvHandles();
  runCli(argv, QUICK);
  return true;
}
