// Where a command's time goes, for bench/cli.mjs: with TSRUN_TIMING=FILE set, each phase mark is
// kept (a monotonic clock reading) and one JSON line per process is appended to FILE on exit,
// with Node's own boot milestones. Unset, mark() is a test of one constant: nothing is loaded.
import { appendFileSync } from 'node:fs';

const file = process.env.TSRUN_TIMING;
// The first statement of the bundle that runs (this module comes first in bin/tsrun): what lies
// before it is Node's boot plus reading and compiling the bundle.
const loaded = file ? process.hrtime.bigint() : 0n;
const marks: Array<[string, string]> = [];

export function mark(name: string): void {
  if (file) marks.push([name, String(process.hrtime.bigint())]);
}

/** Appends the record; called right before the process exits. */
export function writeTiming(argv: string[]): void {
  if (!file) return;
  const now = process.hrtime.bigint();
  // Node's milestones are in ms from its time origin; put them on the same clock as the marks.
  const { performance } = require('node:perf_hooks') as typeof import('node:perf_hooks');
  const origin = now - BigInt(Math.round(performance.now() * 1e6));
  const at = (ms: number) => String(origin + BigInt(Math.round(ms * 1e6)));
  const t = performance.nodeTiming;
  const record = {
    argv, pid: process.pid,
    node: { origin: String(origin), v8Start: at(t.v8Start), environment: at(t.environment), bootstrapComplete: at(t.bootstrapComplete) },
    loaded: String(loaded), marks, exit: String(now),
  };
  try { appendFileSync(file, JSON.stringify(record) + '\n'); } catch { /* timing is best effort */ }
}
