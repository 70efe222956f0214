import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { needsRoot, tsrun, assertNothingLeft, TSRUN } from '../helpers/harness.js';
import { fixture } from '../helpers/fixture.js';

test('a create killed with SIGKILL at any point is cleaned up by delete --force', { skip: needsRoot }, async (t) => {
  const f = fixture(t);
  const root = f.root;
  const bundle = f.bundle((c) => { c.process.args = ['sleep', '1000']; });
  // Kill at increasing delays so that different steps of create are interrupted.
  for (const delayMs of [0, 5, 10, 20, 30, 40, 60, 80, 120, 200]) {
    const id = f.id('tsrun-crash');
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const child = spawn(TSRUN, ['--root', root, 'create', '--bundle', bundle, id], { stdio: 'ignore', env });
    const closed = new Promise((r) => child.once('close', r));
    await new Promise((r) => setTimeout(r, delayMs));
    child.kill('SIGKILL');
    await closed;
    const r = tsrun(['--root', root, 'delete', '--force', id]);
    assert.equal(r.status, 0, `delay ${delayMs}: ${r.stderr}`);
    assertNothingLeft(root, id, bundle);
  }
});

test('operations on different containers do not block each other; one container is serialized', { skip: needsRoot }, async (t) => {
  const f = fixture(t);
  const root = f.root;
  const bundle = f.bundle((c) => { c.process.args = ['sleep', '1000']; });
  const ids = [f.id('tsrun-par'), f.id('tsrun-par')];
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const run = (args: string[]) => new Promise<number>((resolve) => {
    spawn(TSRUN, ['--root', root, ...args], { stdio: 'ignore', env }).once('close', (code) => resolve(code ?? 1));
  });
  // Two creates with the same id at once: exactly one wins.
  const same = await Promise.all([run(['create', '--bundle', bundle, ids[0]]), run(['create', '--bundle', bundle, ids[0]])]);
  assert.deepEqual(same.sort(), [0, 1]);
  const other = await run(['create', '--bundle', bundle, ids[1]]);
  assert.equal(other, 0);
  // Both run from one bundle: its processes are gone only once both are deleted.
  for (const id of ids) assert.equal(tsrun(['--root', root, 'delete', '--force', id]).status, 0);
  for (const id of ids) assertNothingLeft(root, id, bundle);
});
