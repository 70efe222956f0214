// The runtime as a library, in one Node process: many containers through Runtime/Container at
// once, many execs in one container, and no Node process started for any of it (only the C
// executor). Loads the built library the way the shim and external users do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import childProcess from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { REPO, assertNothingLeft, makeBundle, makeRoot, needsRoot, uniqueId } from '../helpers/harness.js';

type Lib = typeof import('../../runtime/index.js');
const lib: Lib = require(join(REPO, 'bin/tsrun-lib.cjs'));

/** Every program the library starts, by its file name. */
const started: string[] = [];
const realSpawn = childProcess.spawn;
(childProcess as { spawn: typeof childProcess.spawn }).spawn = ((file: string, ...rest: unknown[]) => {
  started.push(basename(file));
  return (realSpawn as (...a: unknown[]) => unknown)(file, ...rest);
}) as typeof childProcess.spawn;

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: size }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

test('40 containers through one Runtime, 8 at a time: output, exact exit codes, no Node child, nothing left', { skip: needsRoot }, async () => {
  if (!needsRoot) lib.becomeChildSubreaper();
  const root = makeRoot();
  const outDir = mkdtempSync(join(tmpdir(), 'tsrun-lib-out-'));
  const runtime = new lib.Runtime({ root });
  const jobs = Array.from({ length: 40 }, (_, i) => ({ i, id: uniqueId('tsrun-lib'), bundle: makeBundle((c) => { c.process.args = ['sh', '-c', `echo out-${i}; echo err-${i} >&2; exit ${(i * 7) % 256}`]; }) }));
  started.length = 0;
  try {
    await inBatches(jobs, 8, async ({ i, id, bundle }) => {
      const out = openSync(join(outDir, `${i}.out`), 'w');
      const err = openSync(join(outDir, `${i}.err`), 'w');
      try {
        const c = await runtime.create(id, bundle, { stdio: { stdin: 'ignore', stdout: out, stderr: err } });
        assert.equal(c.status(), 'created');
        const exitEvent = new Promise<number>((resolve) => c.once('exit', (e) => resolve(e.exitStatus)));
        await c.start();
        const exit = await c.wait();
        assert.equal(exit.exitStatus, (i * 7) % 256, `container ${i}`);
        assert.equal(await exitEvent, exit.exitStatus);
        assert.equal(c.status(), 'stopped');
        await c.delete();
      } finally {
        closeSync(out);
        closeSync(err);
      }
      assert.equal(readFileSync(join(outDir, `${i}.out`), 'utf8'), `out-${i}\n`);
      assert.equal(readFileSync(join(outDir, `${i}.err`), 'utf8'), `err-${i}\n`);
      assertNothingLeft(root, id, bundle);
    });
    assert.deepEqual([...new Set(started)], ['tsrun-executor'], 'only the executor was started');
    assert.equal(started.length, 40);
    assert.equal(runtime.reaper.pending, 0);
  } finally {
    for (const { bundle } of jobs) rmSync(bundle, { recursive: true, force: true });
    rmSync(outDir, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
    runtime.close();
  }
});

test('200 concurrent execs in one container, every exit status', { skip: needsRoot }, async () => {
  if (!needsRoot) lib.becomeChildSubreaper();
  const root = makeRoot();
  const runtime = new lib.Runtime({ root });
  const id = uniqueId('tsrun-lib-exec');
  const bundle = makeBundle((c) => { c.process.args = ['sleep', '1000']; });
  const c = await runtime.create(id, bundle, { stdio: { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' } });
  try {
    await c.start();
    const base = c.process()!;
    const procs = await Promise.all(Array.from({ length: 200 }, (_, i) => c.exec({ ...base, args: ['sh', '-c', `sleep 0.1; exit ${i % 100}`] }, { stdio: { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' } })));
    const exits = await Promise.all(procs.map((p) => p.wait()));
    exits.forEach((e, i) => assert.equal(e.exitStatus, i % 100, `exec ${i}`));
    assert.deepEqual(c.pids(), [c.pid], 'only the init is left in the container');
    const err = await c.exec({ ...base, args: ['/nonexistent'] }).then(() => undefined, (e) => e);
    assert.ok(err instanceof Error);
    await c.kill('KILL');
    assert.equal((await c.wait()).exitStatus, 137);
    await c.delete();
    await assert.rejects(c.delete(), (e: any) => e.kind === 'not-found');
    await c.delete({ force: true });
    assertNothingLeft(root, id, bundle);
  } finally {
    await c.delete({ force: true }).catch(() => undefined);
    rmSync(bundle, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
    runtime.close();
  }
});

test('typed errors: not-found, exists, invalid, precondition', { skip: needsRoot }, async () => {
  const root = makeRoot();
  const runtime = new lib.Runtime({ root });
  const id = uniqueId('tsrun-lib-err');
  const bundle = makeBundle((c) => { c.process.args = ['sleep', '1000']; });
  try {
    assert.throws(() => runtime.load('nope'), (e: any) => e.kind === 'not-found' && e.message === 'container does not exist');
    await assert.rejects(runtime.create('bad/id', bundle), (e: any) => e.kind === 'invalid');
    const broken = makeBundle((c) => { c.process.args = []; c.process.cwd = 'relative'; });
    await assert.rejects(runtime.create(uniqueId('tsrun-lib-bad'), broken), (e: any) => e.kind === 'invalid');
    rmSync(broken, { recursive: true, force: true });
    const c = await runtime.create(id, bundle, { stdio: { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' } });
    await assert.rejects(runtime.create(id, bundle), (e: any) => e.kind === 'exists');
    await assert.rejects(c.resume(), (e: any) => e.kind === 'precondition' && e.message === 'container not paused');
    // A created container may be deleted (its waiting init is killed, as by runc); a running one not.
    await c.start();
    // pause and resume are pushed as events; the status follows.
    const seen: string[] = [];
    c.on('paused', () => seen.push('paused'));
    c.on('resumed', () => seen.push('resumed'));
    await c.pause();
    assert.equal(c.status(), 'paused');
    await assert.rejects(c.pause(), (e: any) => e.kind === 'precondition' && e.message === 'container not running or created: paused');
    await c.resume();
    assert.equal(c.status(), 'running');
    assert.deepEqual(seen, ['paused', 'resumed']);
    assert.deepEqual(runtime.list().map((e: any) => [e.id, e.status, typeof e.ownerUid]), [[id, 'running', 'number']]);
    await assert.rejects(c.delete(), (e: any) => e.kind === 'precondition');
    await c.delete({ force: true });
    assertNothingLeft(root, id, bundle);
  } finally {
    rmSync(bundle, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
    runtime.close();
  }
});
