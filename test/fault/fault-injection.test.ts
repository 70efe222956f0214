// Fault injection: build/fault/tsrun (runtime/fault.ts live) kills itself with SIGKILL at each
// numbered step of create, start, exec and delete. After each: the state is truthful, the
// operation can be retried or fails at once, and delete --force leaves nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot, REPO, tsrun, runToFiles, assertNothingLeft, processesIn } from '../helpers/harness.js';
import { fixture } from '../helpers/fixture.js';
import { processAlive } from '../../runtime/container/proc.js';

const FAULTY = join(REPO, 'build/fault/tsrun');

function faulty(step: string, args: string[]): number {
  const env: Record<string, string | undefined> = { ...process.env, TSRUN_FAULT_AT: step, TSRUN_EXECUTOR: join(REPO, 'bin/tsrun-executor') };
  delete env.NODE_EXTRA_CA_CERTS;
  const r = spawnSync(FAULTY, args, { stdio: 'ignore', env, timeout: 60_000 });
  return r.status ?? (r.signal === 'SIGKILL' ? 137 : 128);
}

/** `state` must be an answer that matches the processes: no "created" or "running" without an init. */
function assertTruthful(root: string, id: string, bundle: string): string {
  const s = tsrun(['--root', root, 'state', id]);
  if (s.status !== 0) {
    assert.match(s.stderr, /container does not exist/);
    return 'absent';
  }
  const st = JSON.parse(s.stdout);
  if (st.status === 'stopped') assert.deepEqual(processesIn(bundle).filter((p) => p === st.pid), []);
  else assert.ok(processAlive(st.pid), `${st.status} without a live init`);
  return st.status;
}

const skip = needsRoot || (!existsSync(FAULTY) && 'build/fault/tsrun is not built');
const points: string[] = [];

for (const step of ['create:1', 'create:2', 'create:3', 'create:4', 'start:1', 'start:2', 'exec:1', 'delete:1', 'delete:2']) {
  test(`SIGKILL at ${step}: truthful state, then delete --force leaves nothing`, { skip }, (t) => {
    const f = fixture(t);
    const root = f.root;
    const bundle = f.bundle((c) => { c.process.args = ['sleep', '1000']; });
    const id = f.id('tsrun-fault');
    const op = step.split(':')[0];
    if (op !== 'create') assert.equal(tsrun(['--root', root, 'create', '--bundle', bundle, id]).status, 0);
    if (op === 'exec' || op === 'delete') assert.equal(tsrun(['--root', root, 'start', id]).status, 0);
    const args = op === 'create' ? ['create', '--bundle', bundle, id] : op === 'start' ? ['start', id] : op === 'exec' ? ['exec', id, 'sleep', '1000'] : ['delete', '--force', id];
    assert.equal(faulty(step, ['--root', root, ...args]), 137, `the fault at ${step} did not fire`);
    points.push(step);
    const status = assertTruthful(root, id, bundle);
    if (step === 'create:3') {
      // Killed after the executor was done: the init waits at the fifo, so the container is created, and starts.
      assert.equal(status, 'created');
      assert.equal(tsrun(['--root', root, 'start', id], { timeout: 20_000 }).status, 0, 'a container whose create was killed at the end starts');
      assert.equal(assertTruthful(root, id, bundle), 'running');
    } else if (step === 'start:1') {
      assert.equal(status, 'created');
      assert.equal(tsrun(['--root', root, 'start', id], { timeout: 20_000 }).status, 0, 'a start that never released the init can be repeated');
    } else if (step === 'start:2') {
      assert.equal(status, 'running');
      const again = tsrun(['--root', root, 'start', id], { timeout: 20_000 });
      assert.equal(again.status, 1);
      assert.match(again.stderr, /already running/);
    }
    const d = tsrun(['--root', root, 'delete', '--force', id]);
    assert.equal(d.status, 0, d.stderr);
    assertNothingLeft(root, id, bundle);
  });
}

// The executor itself killed (build/fault/tsrun-executor, native fault_point): in E with the init
// made but not released, in E after the release, in the init before and after it says READY.
const FAULTY_EXECUTOR = join(REPO, 'build/fault/tsrun-executor');
for (const step of ['executor:1', 'executor:2', 'executor:3', 'executor:4']) {
  test(`executor killed at ${step}: create fails with one error or the state says what the init is; delete --force leaves nothing`, { skip: skip || (!existsSync(FAULTY_EXECUTOR) && 'build/fault/tsrun-executor is not built') }, (t) => {
    const f = fixture(t);
    const root = f.root;
    const bundle = f.bundle((c) => { c.process.args = ['sleep', '1000']; });
    const id = f.id('tsrun-fault');
    const env: Record<string, string | undefined> = { ...process.env, TSRUN_EXECUTOR: FAULTY_EXECUTOR, TSRUN_EXECUTOR_FAULT_AT: step };
    delete env.NODE_EXTRA_CA_CERTS;
    // Output through files: the init keeps the create's stdio.
    const r = runToFiles(FAULTY, ['--root', root, 'create', '--bundle', bundle, id], { env, timeout: 60_000 });
    const errors = r.stderr.split('\n').filter((l) => l.includes('level=error'));
    points.push(step);
    const status = assertTruthful(root, id, bundle);
    if (step === 'executor:2') {
      // E gone after the release: the init does not need it any more, and the container is created.
      assert.equal(r.status, 0, r.stderr);
      assert.equal(status, 'created');
    } else if (step === 'executor:4') {
      // The init dies after READY: create may or may not have seen it alive.
      assert.ok(r.status === 0 || (r.status === 1 && errors.length === 1), r.stderr);
      assert.ok(status === 'absent' || status === 'stopped', `${step}: ${status}`);
    } else {
      assert.equal(r.status, 1, r.stderr);
      assert.equal(errors.length, 1, r.stderr);
      assert.ok(status === 'absent' || status === 'stopped', `${step}: ${status}`);
    }
    const d = tsrun(['--root', root, 'delete', '--force', id]);
    assert.equal(d.status, 0, d.stderr);
    assertNothingLeft(root, id, bundle);
  });
}

test('fault points fired', { skip }, () => {
  console.log(`# fault injection: ${points.length} points fired (${points.join(', ')}), 0 left anything behind`);
});
