// The shim's checkpoint round trip without containerd, as containerd drives it: Checkpoint with
// `exit`, then Create with `checkpoint` set (nothing runs: State says CREATED), and Start, which
// restores the container from its images through CRIU; the restored loop counts on. The task has
// FIFO stdio as `ctr run -d` gives it: what the loop prints before the checkpoint comes out of the
// first FIFOs, what it prints after the restore out of the new task's.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants, existsSync, mkdtempSync, openSync, readFileSync, rmSync, renameSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, makeBundle, uniqueId, assertNothingLeft, REPO, killShim } from '../helpers/harness.js';
import { requireStack, stackSkip } from '../helpers/stack.js';
import { TtrpcServer, TtrpcClient } from '../../shim/ttrpc/index.js';
import { task, events_ttrpc, runc_options, packAny } from '../../proto/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const skip = needsRoot || stackSkip();

for (const terminal of [false, true]) describe(`containerd-shim-tsrun-v2: Checkpoint, then Create from the checkpoint and Start${terminal ? ' (a terminal: the new pty\'s master copied to the new stdout FIFO)' : ''}`, { skip }, () => {
  const NS = `tsrun-restore${terminal ? '-t' : ''}-${process.pid}`;
  const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'tsrun-shim-restore-'));
  const fakeContainerd = join(dir, 'containerd.sock');
  const id = uniqueId(terminal ? 'restore-t' : 'restore');
  const root = '/run/containerd/tsrun';
  const received: string[] = [];
  let events: TtrpcServer;
  let bundle = '';
  let address = '';
  let client: TtrpcClient | undefined;
  const readers: Socket[] = [];

  before(async () => {
    events = new TtrpcServer().register(events_ttrpc.Events, { Forward: (req) => { received.push(req.envelope!.topic); return {}; } });
    await events.listen(`${fakeContainerd}.ttrpc`);
    bundle = join(dir, id);
    renameSync(makeBundle((c) => {
      c.process.args = ['/bin/sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /count; echo $i; echo e$i >&2; sleep 0.1; done'];
      c.process.terminal = terminal;
      c.root.readonly = false;
    }), bundle);
  });

  after(async () => {
    for (const r of readers) r.destroy();
    await client?.close();
    spawnSync(join(REPO, 'bin', 'tsrun'), ['--root', join(root, NS), 'delete', '--force', id]);
    if (address) {
      killShim(Number(spawnSync('fuser', [address.slice('unix://'.length)], { encoding: 'utf8' }).stdout.trim().split(/\s+/)[0] || 0), address);
    }
    await events?.close({ force: true });
    rmSync(dir, { recursive: true, force: true });
    // The namespace's state root the shim made (its containers' state dirs are checked by the test).
    rmSync(join(root, NS), { recursive: true, force: true });
  });

  test('the loop counts on from where it was checkpointed; events in order; nothing left', async () => {
    const stack = requireStack();
    const env = { ...process.env, PATH: `${stack.bin}:${process.env.PATH}`, TTRPC_ADDRESS: `${fakeContainerd}.ttrpc` };
    const r = spawnSync(join(REPO, 'bin', 'containerd-shim-tsrun-v2'), ['-namespace', NS, '-address', fakeContainerd, '-publish-binary', '/bin/false', '-id', id, 'start'], { cwd: bundle, input: '', encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    address = r.stdout.trim();
    client = await TtrpcClient.connect(address);
    const md = { 'containerd-namespace-ttrpc': NS };
    const call = (method: string, req: object) => client!.call(task.Task, method as never, req as never, { metadata: md } as never) as Promise<any>;
    const count = () => Number(readFileSync(join(bundle, 'rootfs', 'count'), 'utf8').trim() || 0);

    /** FIFOs as ctr makes them, each read by a client of ours that collects what arrives. */
    const fifos = (tag: string) => {
      // A terminal has one output, as containerd gives it: stdout.
      const paths = { stdin: join(dir, `${tag}-stdin`), stdout: join(dir, `${tag}-stdout`), stderr: terminal ? '' : join(dir, `${tag}-stderr`) };
      for (const p of Object.values(paths)) if (p) assert.equal(spawnSync('mkfifo', [p]).status, 0);
      const got = { stdout: '', stderr: '' };
      for (const k of terminal ? ['stdout'] as const : ['stdout', 'stderr'] as const) {
        const s = new Socket({ fd: openSync(paths[k], constants.O_RDWR | constants.O_NONBLOCK), readable: true, writable: false });
        s.on('data', (d) => { got[k] += d.toString(); });
        readers.push(s);
      }
      return { paths, got };
    };
    const numbers = (text: string, prefix = '') => text.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => new RegExp(`^${prefix}\\d+$`).test(l)).map((l) => Number(l.slice(prefix.length)));
    const errors = (got: { stdout: string; stderr: string }) => numbers(terminal ? got.stdout : got.stderr, 'e');
    const first = fifos('a');
    await call('Create', { id, bundle, terminal, ...first.paths });
    await call('Start', { id });
    for (let i = 0; i < 100 && (!existsSync(join(bundle, 'rootfs', 'count')) || count() < 5); i++) await sleep(100);
    const images = join(dir, 'images');
    await call('Checkpoint', { id, path: images, options: packAny(runc_options.CheckpointOptions, { exit: true }) });
    assert.ok(existsSync(join(images, 'inventory.img')));
    const before = count();
    assert.ok(before >= 5, `counted to ${before} before the checkpoint`);
    await call('Wait', { id });
    await call('Delete', { id });
    await sleep(500);
    assert.equal(count(), before, 'nothing counts while checkpointed');

    const printed = numbers(first.got.stdout);
    assert.ok(printed.length >= 5 && printed[printed.length - 1] <= before, `stdout before the checkpoint: ${first.got.stdout}`);
    assert.ok(errors(first.got).length >= 5, `stderr before the checkpoint: ${first.got.stderr}`);
    const second = fifos('b');
    const created = await call('Create', { id, bundle, terminal, checkpoint: images, ...second.paths });
    assert.equal(created.pid, 0, 'nothing runs before Start');
    assert.equal((await call('State', { id })).status, 1 /* CREATED */);
    const started = await call('Start', { id });
    assert.ok(started.pid > 0);
    assert.equal((await call('State', { id })).status, 2 /* RUNNING */);
    for (let i = 0; i < 100 && count() <= before + 3; i++) await sleep(100);
    const after = count();
    assert.ok(after > before + 3, `counting on from ${before} (now ${after}), not from zero`);
    // The restored loop writes to the new task's pipes, so to its FIFOs, and on from where it was.
    for (let i = 0; i < 50 && errors(second.got).length < 3; i++) await sleep(100);
    const resumed = numbers(second.got.stdout);
    assert.ok(resumed.length >= 3 && resumed[0] > before - 2 && resumed[0] <= before + 1, `stdout after the restore (checkpointed at ${before}): ${second.got.stdout}`);
    assert.ok(errors(second.got).length >= 3, `stderr after the restore: ${second.got.stderr}`);
    // Through a pty (its line discipline turns \n into \r\n), before and after.
    if (terminal) for (const got of [first.got, second.got]) assert.match(got.stdout, /\d\r\n/);
    await call('Kill', { id, signal: 9 });
    const waited = await call('Wait', { id });
    assert.equal(waited.exit_status, 137);
    await call('Delete', { id });
    await call('Shutdown', { id }).catch(() => undefined);
    for (let i = 0; i < 100 && received.filter((t) => t === '/tasks/delete').length < 2; i++) await sleep(50);
    assert.deepEqual(received.filter((t) => t !== '/tasks/checkpointed'), [
      '/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete',
      '/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete',
    ]);
    assertNothingLeft(join(root, NS), id, bundle);
  });
});
