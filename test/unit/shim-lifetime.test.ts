// ShimLifetime's interleavings that a real `start` makes too rarely to test end to end: a
// reservation arriving while the shim waits for the group's lock, files replaced by a newer shim.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShimLifetime, type LifetimeOptions } from '../../shim/lifetime.js';
import { TtrpcError, Code } from '../../shim/ttrpc/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup(t: { after: (fn: () => void) => void }, over: Partial<LifetimeOptions> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-lifetime-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const paths = [join(dir, 'sock'), join(dir, 'sock.ctl')];
  const lockPath = join(dir, 'sock.lock');
  for (const p of [...paths, lockPath]) writeFileSync(p, '');
  const state = { size: 0, exits: 0, lockHeldElsewhere: false };
  const lifetime = new ShimLifetime({
    size: () => state.size, reserveMs: 60_000, lockPath, paths, lockRetryMs: 2,
    tryLock: () => !state.lockHeldElsewhere,
    exit: async () => { state.exits++; },
    ...over,
  });
  return { dir, paths, lockPath, state, lifetime };
}

test('Shutdown of the last container ends the shim and removes its files and the group lock', async (t) => {
  const { paths, lockPath, state, lifetime } = setup(t);
  state.size = 1;
  lifetime.shutdown();
  await sleep(20);
  assert.equal(state.exits, 0, 'a container is left');
  state.size = 0;
  lifetime.shutdown();
  await sleep(20);
  assert.equal(state.exits, 1);
  for (const p of [...paths, lockPath]) assert.equal(existsSync(p), false, `${p} removed`);
  assert.throws(() => lifetime.reserve('late'), (e: unknown) => e instanceof TtrpcError && e.code === Code.Unavailable);
});

test('a reservation holds the shim until its Create; a created container until its own Shutdown', async (t) => {
  const { state, lifetime } = setup(t);
  lifetime.reserve('b');
  lifetime.shutdown();
  await sleep(20);
  assert.equal(state.exits, 0, 'b is on its way');
  state.size = 1;
  lifetime.settled('b', true);
  await sleep(20);
  assert.equal(state.exits, 0, 'b is served');
  state.size = 0;
  lifetime.shutdown();
  await sleep(20);
  assert.equal(state.exits, 1);
});

test('a Create that failed, after a Shutdown, lets the shim go', async (t) => {
  const { state, lifetime } = setup(t);
  lifetime.reserve('c');
  lifetime.shutdown();
  lifetime.settled('c', false);
  await sleep(20);
  assert.equal(state.exits, 1);
});

test('a reservation made while the shim waits for the lock a start holds cancels the exit', async (t) => {
  const { paths, state, lifetime } = setup(t);
  state.lockHeldElsewhere = true;
  lifetime.shutdown();
  await sleep(20);
  assert.equal(state.exits, 0, 'waiting for the lock');
  lifetime.reserve('d'); // the start holding the lock reserves here
  state.lockHeldElsewhere = false;
  await sleep(20);
  assert.equal(state.exits, 0, 'd is on its way');
  assert.ok(paths.every(existsSync), 'the files stay');
  state.size = 1;
  lifetime.settled('d', true);
  state.size = 0;
  lifetime.shutdown();
  await sleep(20);
  assert.equal(state.exits, 1);
});

test('a reservation that no Create claims runs out and ends an idle shim', async (t) => {
  const { state, lifetime } = setup(t, { reserveMs: 30 });
  lifetime.reserve('x');
  await sleep(10);
  assert.equal(state.exits, 0);
  await sleep(80);
  assert.equal(state.exits, 1);
});

test('files another shim has taken over since are left to it', async (t) => {
  const { paths, state, lifetime } = setup(t);
  rmSync(paths[0]);
  writeFileSync(paths[0], 'newer shim');
  lifetime.shutdown();
  await sleep(20);
  assert.equal(state.exits, 1);
  assert.equal(existsSync(paths[0]), true, 'the newer shim\'s socket stays');
  assert.equal(existsSync(paths[1]), false);
});
