// The shim's task service over the runtime library, driven through tsrun's ttrpc client as
// containerd drives it, without containerd: a busybox bundle created, started, waited for (two
// Waits at once), an exec, Kill, Delete; the events in order; errors as containerd's codes.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, readSync, rmSync, closeSync, writeSync, constants as fsc } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, makeBundle, makeRoot, uniqueId, assertNothingLeft, REPO } from '../helpers/harness.js';
import { becomeChildSubreaper } from '../../runtime/index.js';
import { TaskService } from '../../shim/service.js';
import { TtrpcServer, TtrpcClient, TtrpcError, Code } from '../../shim/ttrpc/index.js';
import { task, runc_options, cgroups_v1, cgroups_v2, packAny, packJsonAny, anyTypeName, OCI_PROCESS_TYPE_URL, OCI_LINUX_RESOURCES_TYPE_URL, type MessageType } from '../../proto/index.js';

const NS = 'shim-unit';

describe('shim TaskService through ttrpc', { skip: needsRoot }, () => {
  const dir = needsRoot ? '' : mkdtempSync(join(tmpdir(), 'tsrun-shim-svc-'));
  const root = needsRoot ? '' : makeRoot();
  const seen: Array<{ topic: string; msg: Record<string, unknown> }> = [];
  let server: TtrpcServer;
  let client: TtrpcClient;
  let shutdowns = 0;

  const call = <T>(method: string, req: unknown): Promise<T> =>
    client.call(task.Task, method as never, req as never, { metadata: { 'containerd-namespace-ttrpc': NS } }) as Promise<T>;
  const fifo = (name: string) => {
    const p = join(dir, name);
    spawnSync('mkfifo', [p]);
    // Our own read end, opened first, as ctr's cio does before Create.
    return { path: p, fd: openSync(p, fsc.O_RDONLY | fsc.O_NONBLOCK) };
  };
  /** What the FIFO holds now (its writers may still be open: EAGAIN ends the read). */
  const drain = (fd: number) => {
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(65536);
    for (;;) {
      let n: number;
      try { n = readSync(fd, buf); } catch (err) { if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break; throw err; }
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    return Buffer.concat(chunks).toString('utf8');
  };

  before(async () => {
    // The library runs in this test's process: its executor is the one `make build` put in bin/.
    process.env.TSRUN_EXECUTOR ??= join(REPO, 'bin', 'tsrun-executor');
    becomeChildSubreaper();
    const publisher = { publish: (_ns: string, topic: string, _type: MessageType<unknown, unknown>, msg: unknown) => { seen.push({ topic, msg: msg as Record<string, unknown> }); } };
    const service = new TaskService({ namespace: NS, publisher, onShutdown: () => { shutdowns++; } });
    server = new TtrpcServer({}).register(task.Task, service.impl);
    await server.listen(join(dir, 'shim.sock'));
    client = await TtrpcClient.connect(join(dir, 'shim.sock'));
  });

  after(async () => {
    await client?.close();
    await server?.close({ force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('create, start, two waits, exec, kill, delete; events in order', async () => {
    const id = uniqueId('shim-svc');
    const bundle = makeBundle((c) => { c.process.args = ['sh', '-c', 'echo hello; echo oops >&2; exec sleep 1000']; });
    const out = fifo(`${id}-stdout`);
    const err = fifo(`${id}-stderr`);
    const options = packAny(runc_options.Options, { root });
    const created = await call<task.CreateTaskResponse>('Create', { id, bundle, stdout: out.path, stderr: err.path, options });
    assert.ok(created.pid > 0);
    await assert.rejects(call('Create', { id, bundle }), (e: Error) => e instanceof TtrpcError && e.code === Code.AlreadyExists);
    let st = await call<task.StateResponse>('State', { id });
    assert.equal(st.status, 1); // CREATED
    const started = await call<task.StartResponse>('Start', { id });
    assert.equal(started.pid, created.pid);
    st = await call<task.StateResponse>('State', { id });
    assert.equal(st.status, 2); // RUNNING
    const waits = [call<task.WaitResponse>('Wait', { id }), call<task.WaitResponse>('Wait', { id })];

    // An exec: added, started, its own exit.
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')).process;
    const eout = fifo(`${id}-e1-stdout`);
    await call('Exec', { id, exec_id: 'e1', stdout: eout.path, spec: packJsonAny(OCI_PROCESS_TYPE_URL, { ...spec, args: ['sh', '-c', 'echo from-exec; exit 7'] }) });
    assert.equal((await call<task.StateResponse>('State', { id, exec_id: 'e1' })).status, 1);
    const es = await call<task.StartResponse>('Start', { id, exec_id: 'e1' });
    assert.ok(es.pid > 0);
    const ew = await call<task.WaitResponse>('Wait', { id, exec_id: 'e1' });
    assert.equal(ew.exit_status, 7);
    const ed = await call<task.DeleteResponse>('Delete', { id, exec_id: 'e1' });
    assert.equal(ed.exit_status, 7);
    assert.equal(drain(eout.fd), 'from-exec\n');

    // Update (LinuxResources JSON in an Any), Stats (cgroups Metrics Any), Pause/Resume.
    await call('Update', { id, resources: packJsonAny(OCI_LINUX_RESOURCES_TYPE_URL, { pids: { limit: 77 } }) });
    const stats = await call<task.StatsResponse>('Stats', { id });
    const type = anyTypeName(stats.stats!);
    assert.ok(type === 'io.containerd.cgroups.v1.Metrics' || type === 'io.containerd.cgroups.v2.Metrics', type);
    const metrics = (type.includes('v1') ? cgroups_v1.Metrics : cgroups_v2.Metrics).decode(stats.stats!.value);
    assert.equal(metrics.pids?.limit, 77n);
    assert.equal(metrics.pids?.current, 1n);
    await call('Pause', { id });
    assert.equal((await call<task.StateResponse>('State', { id })).status, 4); // PAUSED
    await call('Resume', { id });
    assert.equal((await call<task.StateResponse>('State', { id })).status, 2);

    const pids = await call<task.PidsResponse>('Pids', { id });
    assert.deepEqual(pids.processes.map((p) => p.pid), [created.pid]);
    await assert.rejects(call('Delete', { id }), (e: Error) => e instanceof TtrpcError && e.code === Code.FailedPrecondition);
    await assert.rejects(call('Checkpoint', { id }), (e: Error) => e instanceof TtrpcError && e.code === Code.InvalidArgument);

    await call('Kill', { id, signal: 9 });
    const [w1, w2] = await Promise.all(waits);
    assert.equal(w1.exit_status, 137);
    assert.equal(w2.exit_status, 137);
    assert.equal((await call<task.StateResponse>('State', { id })).status, 3); // STOPPED
    assert.equal(drain(out.fd), 'hello\n');
    assert.equal(drain(err.fd), 'oops\n');
    const del = await call<task.DeleteResponse>('Delete', { id });
    assert.equal(del.exit_status, 137);
    assert.equal(del.pid, created.pid);
    await assert.rejects(call('State', { id }), (e: Error) => e instanceof TtrpcError && e.code === Code.NotFound);
    for (const fd of [out.fd, err.fd, eout.fd]) closeSync(fd);

    assert.deepEqual(seen.map((e) => e.topic), ['/tasks/create', '/tasks/start', '/tasks/exec-added', '/tasks/exec-started', '/tasks/exit', '/tasks/paused', '/tasks/resumed', '/tasks/exit', '/tasks/delete']);
    assert.equal(seen[4].msg.id, 'e1');
    assert.equal(seen[4].msg.exit_status, 7);
    assert.equal(seen[7].msg.id, id);
    assert.equal(seen[7].msg.exit_status, 137);

    await call('Shutdown', { id });
    await new Promise((r) => setImmediate(r));
    assert.equal(shutdowns, 1);
    assertNothingLeft(join(root, NS), id, bundle);
    rmSync(bundle, { recursive: true, force: true });
  });

  test('stdio through the shim\'s pipes: no reader at first, one that leaves mid-way, another: nothing lost; stdin, CloseIO', async () => {
    const id = uniqueId('shim-pipes');
    // ~350 KB: far more than a pipe and a FIFO hold, so the container waits for readers.
    const bundle = makeBundle((c) => { c.process.args = ['sh', '-c', 'seq 1 60000; cat; echo stdin-closed']; });
    const outPath = join(dir, `${id}-stdout`);
    const inPath = join(dir, `${id}-stdin`);
    for (const p of [outPath, inPath]) spawnSync('mkfifo', [p]);
    const expected = `${Array.from({ length: 60000 }, (_, i) => i + 1).join('\n')}\nping\nstdin-closed\n`;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let eof = false;
    /** Reads until `until` says stop or EOF; EAGAIN waits. */
    const readUntil = async (fd: number, until: (got: string) => boolean) => {
      let got = '';
      eof = false;
      const buf = Buffer.alloc(8192);
      for (let idle = 0; !until(got) && idle < 1000;) {
        let n: number;
        try { n = readSync(fd, buf); } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err; idle++; await sleep(10); continue; }
        if (n === 0) { eof = true; break; }
        idle = 0;
        got += buf.subarray(0, n).toString('utf8');
      }
      return got;
    };
    const options = packAny(runc_options.Options, { root });
    await call('Create', { id, bundle, stdin: inPath, stdout: outPath, options });
    await call('Start', { id });
    const wait = call<task.WaitResponse>('Wait', { id });
    await sleep(500); // nobody reads: the container is held up, nothing is dropped
    const first = openSync(outPath, fsc.O_RDONLY | fsc.O_NONBLOCK);
    const part1 = await readUntil(first, (got) => got.length >= 100_000);
    closeSync(first); // this client goes away mid-output
    await sleep(300);
    const second = openSync(outPath, fsc.O_RDONLY | fsc.O_NONBLOCK);
    let part2 = await readUntil(second, (got) => (part1 + got).includes('\n60000\n'));
    const stdin = openSync(inPath, fsc.O_WRONLY | fsc.O_NONBLOCK);
    writeSync(stdin, 'ping\n');
    part2 += await readUntil(second, (got) => (part1 + part2 + got).endsWith('ping\n'));
    await call('CloseIO', { id, stdin: true });
    part2 += await readUntil(second, () => false); // to EOF: the shim closes the FIFO at the pipe's EOF
    assert.ok(eof, 'the FIFO reaches EOF after the process exits');
    assert.equal((await wait).exit_status, 0);
    assert.equal(part1.length >= 100_000, true);
    assert.ok(part1 + part2 === expected, `${(part1 + part2).length} bytes read, ${expected.length} written; ends with ${JSON.stringify((part1 + part2).slice(-40))}`);
    closeSync(second);
    closeSync(stdin);
    await call('Delete', { id });
    assertNothingLeft(join(root, NS), id, bundle);
    rmSync(bundle, { recursive: true, force: true });
  });

  test('a terminal: the pty master copied to the stdout FIFO, ResizePty', async () => {
    const id = uniqueId('shim-svc-tty');
    const bundle = makeBundle((c) => { c.process.terminal = true; c.process.args = ['sh', '-c', 'tty; stty size <&1; exit 3']; });
    const out = fifo(`${id}-stdout`);
    const options = packAny(runc_options.Options, { root });
    await call('Create', { id, bundle, terminal: true, stdout: out.path, options });
    await call('ResizePty', { id, width: 101, height: 33 });
    await call('Start', { id });
    const w = await call<task.WaitResponse>('Wait', { id });
    assert.equal(w.exit_status, 3);
    let text = '';
    for (let i = 0; i < 50 && !text.includes('101'); i++) { text += drain(out.fd); await new Promise((r) => setTimeout(r, 50)); }
    assert.match(text, /^\/dev\/pts\/\d+\r?\n33 101\r?\n$/);
    await call('Delete', { id });
    closeSync(out.fd);
    assertNothingLeft(join(root, NS), id, bundle);
    rmSync(bundle, { recursive: true, force: true });
  });

  test('errors: unknown container NotFound, bad config InvalidArgument', async () => {
    await assert.rejects(call('State', { id: 'nope' }), (e: Error) => e instanceof TtrpcError && e.code === Code.NotFound);
    const id = uniqueId('shim-svc-bad');
    const bundle = makeBundle((c) => { c.process.cwd = 'relative'; });
    await assert.rejects(call('Create', { id, bundle, options: packAny(runc_options.Options, { root }) }),
      (e: Error) => e instanceof TtrpcError && e.code !== Code.OK);
    assertNothingLeft(join(root, NS), id, bundle);
    rmSync(bundle, { recursive: true, force: true });
    assert.equal(anyTypeName(packAny(runc_options.Options, { root })), 'containerd.runc.v1.Options');
  });
});
