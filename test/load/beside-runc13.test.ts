// Issue 10's load numbers beside today's runc (1.3, scripts/modern-stack.sh): the same lifecycles
// (create/start/kill/delete) one after another and in parallel, and concurrent creates of one id,
// each runtime with its own root and bundle copy; what each leaves (state dirs, cgroups, mounts,
// processes) is counted. tsrun must leave nothing and have exactly one winner per race; runc's
// numbers are printed beside it for the report, not judged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TSRUN, needsRoot, makeBundle, makeRoot, cgroupDirsNamed, processesIn, type RunResult } from '../helpers/harness.js';
import { runc13 } from '../helpers/beside.js';

const LONG = process.env.TSRUN_LOAD === 'long';
const SEQUENTIAL = LONG ? 200 : 30;
const PARALLEL = LONG ? 50 : 10;
const RACES = LONG ? 20 : 5;
const r13 = runc13();

/** One runtime command, output through files (a container would keep pipes open). */
function cmd(bin: string, args: string[]): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-beside-out-'));
  const out = openSync(join(dir, 'out'), 'w+');
  const err = openSync(join(dir, 'err'), 'w+');
  return new Promise((resolve) => {
    const child = spawn(bin, args, { stdio: ['ignore', out, err] });
    const done = (status: number) => {
      closeSync(out);
      closeSync(err);
      const r = { status, stdout: readFileSync(join(dir, 'out'), 'utf8'), stderr: readFileSync(join(dir, 'err'), 'utf8') };
      rmSync(dir, { recursive: true, force: true });
      resolve(r);
    };
    child.once('error', () => done(-1));
    child.once('exit', (code, signal) => done(code ?? (signal ? 128 : -1)));
  });
}

interface Numbers { lifecycles: number; failed: number; raceRounds: number; oneWinner: number; leaked: Record<string, number>; ms: number }

async function measure(bin: string): Promise<Numbers> {
  const root = makeRoot();
  const bundle = makeBundle((c) => { c.process.args = ['sleep', '1000']; });
  const prefix = `beside-${bin === TSRUN ? 't' : 'r'}-${process.pid}`;
  const ids: string[] = [];
  const run = (args: string[]) => cmd(bin, ['--root', root, ...args]);
  const lifecycle = async (id: string) => {
    ids.push(id);
    for (const args of [['create', '--bundle', bundle, id], ['start', id], ['kill', id, 'KILL']]) {
      if ((await run(args)).status !== 0) return false;
    }
    return (await run(['delete', '--force', id])).status === 0;
  };
  const started = Date.now();
  let failed = 0;
  let oneWinner = 0;
  try {
    for (let i = 0; i < SEQUENTIAL; i++) if (!(await lifecycle(`${prefix}-s${i}`))) failed++;
    failed += (await Promise.all(Array.from({ length: PARALLEL }, (_, i) => lifecycle(`${prefix}-p${i}`)))).filter((ok) => !ok).length;
    for (let round = 0; round < RACES; round++) {
      const id = `${prefix}-cc${round}`;
      ids.push(id);
      const cc = await Promise.all([run(['create', '--bundle', bundle, id]), run(['create', '--bundle', bundle, id])]);
      if (cc.filter((r) => r.status === 0).length === 1) oneWinner++;
      await run(['delete', '--force', id]);
    }
    const ms = Date.now() - started;
    // What is left once every delete has returned.
    const leaked = {
      stateDirs: readdirSync(root).length,
      cgroups: ids.reduce((n, id) => n + cgroupDirsNamed(id).length, 0),
      mounts: readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(bundle) || l.includes(prefix)).length,
      processes: processesIn(bundle).length,
    };
    return { lifecycles: SEQUENTIAL + PARALLEL, failed, raceRounds: RACES, oneWinner, leaked, ms };
  } finally {
    for (const id of ids) await run(['delete', '--force', id]);
    for (const pid of processesIn(bundle)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    rmSync(bundle, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  }
}

test(`beside runc 1.3: ${SEQUENTIAL} sequential and ${PARALLEL} parallel lifecycles, ${RACES} create/create races; what each leaves`, { skip: needsRoot || r13.skip }, async () => {
  const tsrun = await measure(TSRUN);
  const runc = await measure(r13.bin!);
  console.log(`# load beside runc 1.3: tsrun ${JSON.stringify(tsrun)}`);
  console.log(`# load beside runc 1.3: runc  ${JSON.stringify(runc)}`);
  console.log(`# load beside runc 1.3: wall time tsrun/runc ${(tsrun.ms / runc.ms).toFixed(2)} (same run)`);
  assert.equal(tsrun.failed, 0);
  assert.equal(tsrun.oneWinner, RACES);
  assert.deepEqual(tsrun.leaked, { stateDirs: 0, cgroups: 0, mounts: 0, processes: 0 });
});
