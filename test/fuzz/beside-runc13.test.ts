// Issue 10's fuzz numbers beside today's runc (1.3, scripts/modern-stack.sh): the same mutated
// configs (the schema-aware mutator, the binary fuzzer's seeds) given to `create` and then
// `delete --force` of each runtime. Counted: containers created, clear errors (one line), unclear
// ones (a trace, a Go panic, several lines), hangs, and what is left (state dirs, cgroups,
// processes). runc runs in a throw-away mount namespace: a mutated config without a mount
// namespace makes it rslave the whole mount tree and leave its mounts, which must not reach the
// host. tsrun must be clean; runc's numbers are printed beside it for the report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot, REPO, TSRUN, makeBundle, makeRoot, cgroupDirsNamed, processesIn, runToFiles, type RunResult } from '../helpers/harness.js';
import { runc13 } from '../helpers/beside.js';
import { Schemas, mutate } from './mutator.js';

const CASES = Number(process.env.TSRUN_FUZZ_BESIDE ?? 60);
const SEED = Number(process.env.TSRUN_FUZZ_SEED ?? 1);
const r13 = runc13();

interface Tally { cases: number; created: number; clearErrors: number; unclear: number; hangs: number; leaked: Record<string, number> }

function fuzz(name: 'tsrun' | 'runc', bin: string): { tally: Tally; unclear: string[] } {
  const schemas = new Schemas(join(REPO, 'spec-schemas'));
  const root = makeRoot();
  const bundle = makeBundle((c) => { c.process.args = ['sleep', '1000']; });
  const base = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  const prefix = `fuzz-beside-${name}-${process.pid}`;
  const tally: Tally = { cases: CASES, created: 0, clearErrors: 0, unclear: 0, hangs: 0, leaked: {} };
  const unclear: string[] = [];
  const run = (args: string[]): RunResult => (name === 'tsrun'
    ? runToFiles(bin, ['--root', root, ...args], { timeout: 30_000 })
    // Both commands in one throw-away mount namespace.
    : runToFiles('unshare', ['-m', '--propagation', 'unchanged', '/bin/sh', '-c', `"$0" --root "$1" ${args.map((a) => `'${a}'`).join(' ')}; s=$?; "$0" --root "$1" delete --force '${args[args.length - 1]}' >/dev/null 2>&1; exit $s`, bin, root], { timeout: 30_000 }));
  try {
    for (let i = 0; i < CASES; i++) {
      const seed = SEED * 7_000_003 + i;
      const { config } = mutate(base, schemas, seed);
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
      const id = `${prefix}-${i}`;
      let r: RunResult;
      try {
        r = run(['create', '--bundle', bundle, id]);
      } catch {
        tally.hangs++;
        continue;
      }
      const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/level=warning/.test(l));
      if (r.status === 0) tally.created++;
      else if (r.status < 0 || r.status > 128) tally.hangs++;
      else if (lines.length === 1 && !/panic|goroutine|\n\s+at /.test(r.stderr)) tally.clearErrors++;
      else { tally.unclear++; unclear.push(`seed ${seed}: ${r.stderr.slice(0, 300)}`); }
      if (name === 'tsrun') runToFiles(bin, ['--root', root, 'delete', '--force', id], { timeout: 30_000 });
    }
    tally.leaked = {
      stateDirs: readdirSync(root).length,
      cgroups: Array.from({ length: CASES }, (_, i) => cgroupDirsNamed(`${prefix}-${i}`)).flat().length,
      mounts: readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(bundle) || l.includes(prefix)).length,
      processes: processesIn(bundle).length,
    };
    return { tally, unclear };
  } finally {
    for (const pid of processesIn(bundle)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    for (let i = 0; i < CASES; i++) runToFiles(name === 'tsrun' ? bin : r13.bin!, ['--root', root, 'delete', '--force', `${prefix}-${i}`]);
    rmSync(bundle, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  }
}

test(`beside runc 1.3: ${CASES} mutated configs through create and delete --force of each runtime`, { skip: needsRoot || r13.skip }, () => {
  const t = fuzz('tsrun', TSRUN);
  const r = fuzz('runc', r13.bin!);
  console.log(`# fuzz beside runc 1.3: tsrun ${JSON.stringify(t.tally)}`);
  console.log(`# fuzz beside runc 1.3: runc  ${JSON.stringify(r.tally)}${r.unclear.length ? ` unclear: ${JSON.stringify(r.unclear.slice(0, 3))}` : ''}`);
  assert.deepEqual(t.unclear, []);
  assert.equal(t.tally.hangs, 0);
  assert.deepEqual(t.tally.leaked, { stateDirs: 0, cgroups: 0, mounts: 0, processes: 0 });
});
