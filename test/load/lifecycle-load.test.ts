// Load: create/start/kill/delete lifecycles one after another and in parallel, and concurrent
// operations on one id; everything tsrun makes (state dirs, cgroups, mounts, processes) is
// counted after: zero left. CI size by default; TSRUN_LOAD=long runs 1,000 sequential and 100
// parallel lifecycles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { needsRoot, tsrun, tsrunAsync, makeBundle, makeRoot, cgroupDirsNamed, processesIn } from '../helpers/harness.js';

const LONG = process.env.TSRUN_LOAD === 'long';
const SEQUENTIAL = LONG ? 1000 : 100;
const PARALLEL = LONG ? 100 : 20;

interface Leaks { stateDirs: number; cgroups: number; mounts: number; processes: number }

function leaks(root: string, bundle: string, prefix: string, ids: string[]): Leaks {
  return {
    stateDirs: readdirSync(root).length,
    cgroups: ids.reduce((n, id) => n + cgroupDirsNamed(id).length, 0),
    mounts: readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(bundle) || l.includes(prefix)).length,
    processes: processesIn(bundle).length,
  };
}

const NONE: Leaks = { stateDirs: 0, cgroups: 0, mounts: 0, processes: 0 };

async function lifecycle(root: string, bundle: string, id: string): Promise<string | undefined> {
  for (const args of [['create', '--bundle', bundle, id], ['start', id], ['kill', id, 'KILL']]) {
    const r = await tsrunAsync(['--root', root, ...args]);
    if (r.status !== 0) return `${args[0]} ${id}: ${r.stderr}`;
  }
  // delete --force: the init may still be dying from the KILL.
  const d = await tsrunAsync(['--root', root, 'delete', '--force', id]);
  return d.status === 0 ? undefined : `delete ${id}: ${d.stderr}`;
}

test(`${SEQUENTIAL} sequential and ${PARALLEL} parallel lifecycles leave nothing behind`, { skip: needsRoot }, async () => {
  const root = makeRoot();
  const bundle = makeBundle((c) => { c.process.args = ['sleep', '1000']; });
  const prefix = `tsrun-load-${process.pid}`;
  const ids: string[] = [];
  try {
    const failures: string[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      const id = `${prefix}-s${i}`;
      ids.push(id);
      const f = await lifecycle(root, bundle, id);
      if (f) failures.push(f);
    }
    const parallel = Array.from({ length: PARALLEL }, (_, i) => `${prefix}-p${i}`);
    ids.push(...parallel);
    failures.push(...(await Promise.all(parallel.map((id) => lifecycle(root, bundle, id)))).filter((f): f is string => !!f));
    const left = leaks(root, bundle, prefix, ids);
    console.log(`# load: ${SEQUENTIAL} sequential + ${PARALLEL} parallel lifecycles, ${failures.length} failed; leaked ${JSON.stringify(left)}`);
    assert.deepEqual(failures, []);
    assert.deepEqual(left, NONE);
  } finally {
    for (const id of ids) tsrun(['--root', root, 'delete', '--force', id]);
    rmSync(bundle, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  }
});

test('concurrent operations on one id: one winner where one is possible, a truthful state, nothing left', { skip: needsRoot }, async () => {
  const root = makeRoot();
  const bundle = makeBundle((c) => { c.process.args = ['sleep', '1000']; });
  const prefix = `tsrun-race-${process.pid}`;
  const ids: string[] = [];
  const rounds = LONG ? 20 : 3;
  const run = (args: string[]) => tsrunAsync(['--root', root, ...args]);
  try {
    for (let round = 0; round < rounds; round++) {
      // create/create: exactly one container.
      let id = `${prefix}-cc${round}`;
      ids.push(id);
      const cc = await Promise.all([run(['create', '--bundle', bundle, id]), run(['create', '--bundle', bundle, id])]);
      assert.equal(cc.filter((r) => r.status === 0).length, 1, cc.map((r) => r.stderr).join(''));
      assert.match(cc.find((r) => r.status !== 0)!.stderr, /already exists/);
      // start/start: exactly one start.
      const ss = await Promise.all([run(['start', id]), run(['start', id])]);
      assert.equal(ss.filter((r) => r.status === 0).length, 1, ss.map((r) => r.stderr).join(''));
      assert.equal(JSON.parse(tsrun(['--root', root, 'state', id]).stdout).status, 'running');
      // pause/kill: whatever the order, KILL ends it (a paused init is thawed).
      await Promise.all([run(['pause', id]), run(['kill', id, 'KILL'])]);
      await run(['kill', id, 'KILL']);
      assert.equal((await run(['delete', '--force', id])).status, 0);

      // create/delete: either nothing was made, or delete removed it, or it is still there to delete.
      id = `${prefix}-cd${round}`;
      ids.push(id);
      await Promise.all([run(['create', '--bundle', bundle, id]), run(['delete', '--force', id])]);
      await run(['delete', '--force', id]);

      // kill/delete: both finish; nothing left.
      id = `${prefix}-kd${round}`;
      ids.push(id);
      assert.equal((await run(['run', '-d', '--bundle', bundle, id])).status, 0);
      await Promise.all([run(['kill', id, 'KILL']), run(['delete', '--force', id])]);
      await run(['delete', '--force', id]);
    }
    const left = leaks(root, bundle, prefix, ids);
    console.log(`# races: ${rounds} rounds of create/create, start/start, pause/kill, create/delete, kill/delete; leaked ${JSON.stringify(left)}`);
    assert.deepEqual(left, NONE);
  } finally {
    for (const id of ids) tsrun(['--root', root, 'delete', '--force', id]);
    rmSync(bundle, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  }
});
