// tsrun's ttrpc and protobuf code against the Go implementations Debian ships (containerd 1.6.20):
// (a) a private containerd accepts events Forwarded by tsrun's client, and answers its errors as
// tsrun decodes them; (b) containerd's own runc shim, driven through a whole task lifecycle by
// tsrun's client, while a tsrun ttrpc server stands in for containerd and receives the events
// the Go shim publishes. Decoding every reply and event with the generated code checks the task
// API messages against Go's. Nothing may be left: processes, mounts, cgroups, sockets, state.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, makeBundle, uniqueId, assertNothingLeft, processesIn } from '../helpers/harness.js';
import { privateContainerdConfig } from '../helpers/stack.js';
import { TtrpcClient, TtrpcServer, TtrpcError, Code, NAMESPACE_METADATA_KEY } from '../../shim/ttrpc/index.js';
import {
  task, events, events_ttrpc, types, runc_options, google_protobuf,
  packAny, packJsonAny, unpackAny, timestampNow, isGoZeroTime, timestampToNanos, type MethodType,
} from '../../proto/index.js';

type ReqInitOf<M> = M extends MethodType<any, infer I, any, any> ? I : never;

const CONTAINERD = '/usr/bin/containerd';
const CTR = '/usr/bin/ctr';
const RUNC_SHIM = '/usr/bin/containerd-shim-runc-v2';
const skip = needsRoot || (!existsSync(CONTAINERD) || !existsSync(RUNC_SHIM) || !existsSync(CTR) ? 'containerd is not installed (make test-deps installs it)' : false);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NS = `tsrun-ttrpc-${process.pid}`;
// The runc shim's socket lives in /run/containerd/s whatever containerd's paths are; that
// directory is removed again if the test made it.
const hadShimSocketDir = existsSync('/run/containerd/s');
const hadRunContainerd = existsSync('/run/containerd');

describe('containerd 1.6 accepts events forwarded by tsrun\'s ttrpc client', { skip }, () => {
  const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'tsrun-ctd-'));
  const sock = join(dir, 'containerd.sock');
  let daemon: ChildProcess | undefined;
  let client: TtrpcClient;

  before(async () => {
    // only what events need: no CRI, and no snapshotters probing the host
    privateContainerdConfig(dir, 2, sock);
    daemon = spawn(CONTAINERD, ['-c', join(dir, 'config.toml')], { stdio: ['ignore', 'ignore', 'ignore'] });
    for (let i = 0; i < 200 && !existsSync(`${sock}.ttrpc`); i++) await sleep(50);
    client = await TtrpcClient.connect(`unix://${sock}.ttrpc`);
  });

  after(async () => {
    await client?.close();
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (daemon.exitCode === null) daemon.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('Forward of a TaskExit envelope is accepted and `ctr events` shows it', async () => {
    const events_ = spawn(CTR, ['-a', sock, 'events'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let seen = '';
    events_.stdout!.on('data', (d) => { seen += d; });
    const id = uniqueId('tsrun-fwd');
    try {
      // ctr subscribes asynchronously: forward until it has seen one (no timing assertion).
      for (let i = 0; i < 100 && !seen.includes(id); i++) {
        const r = await client.call(events_ttrpc.Events, 'Forward', {
          envelope: {
            timestamp: timestampNow(), namespace: NS, topic: '/tasks/exit',
            event: packAny(events.TaskExit, { container_id: id, id, pid: 4242, exit_status: 137, exited_at: timestampNow() }),
          },
        }, { metadata: { [NAMESPACE_METADATA_KEY]: NS }, timeoutMs: 5000 });
        assert.deepEqual(r, {});
        if (!seen.includes(id)) await sleep(100);
      }
      const line = seen.split('\n').find((l) => l.includes(id));
      assert.ok(line, `ctr events did not show the event: ${seen}`);
      assert.match(line!, new RegExp(`${NS} /tasks/exit`));
      assert.match(line!, /"exit_status":137/);
      assert.match(line!, /"pid":4242/);
    } finally {
      events_.kill('SIGKILL');
    }
  });

  test('Go\'s error statuses decode: an envelope without a namespace is InvalidArgument; an unknown method is Unimplemented', async () => {
    await assert.rejects(
      client.call(events_ttrpc.Events, 'Forward', { envelope: { topic: '/tasks/oom', event: packAny(events.TaskOOM, { container_id: 'x' }) } }, { timeoutMs: 5000 }),
      (e: Error) => e instanceof TtrpcError && e.code === Code.InvalidArgument && /namespace/.test(e.desc),
    );
    await assert.rejects(
      client.callRaw('containerd.services.events.ttrpc.v1.Events', 'Bogus', Buffer.alloc(0)),
      (e: Error) => e instanceof TtrpcError && e.code === Code.Unimplemented && e.desc === 'method Bogus',
    );
    await assert.rejects(
      client.callRaw('containerd.task.v2.Task', 'State', Buffer.alloc(0)),
      (e: Error) => e instanceof TtrpcError && e.code === Code.Unimplemented && e.desc === 'service containerd.task.v2.Task',
    );
  });

  test('many concurrent Forwards on one connection', async () => {
    const all = await Promise.all(Array.from({ length: 50 }, (_, i) => client.call(events_ttrpc.Events, 'Forward', {
      envelope: { timestamp: timestampNow(), namespace: NS, topic: '/tasks/oom', event: packAny(events.TaskOOM, { container_id: `c${i}` }) },
    }, { metadata: { [NAMESPACE_METADATA_KEY]: NS }, timeoutMs: 5000 })));
    assert.equal(all.length, 50);
  });
});

describe('containerd-shim-runc-v2 (Go) driven by tsrun\'s ttrpc client', { skip }, () => {
  const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'tsrun-shim-'));
  const fakeContainerd = join(dir, 'containerd.sock');
  const runcRoot = join(dir, 'runc');
  const id = uniqueId('tsrun-shim');
  const received: types.Envelope[] = [];
  let fake: TtrpcServer;
  let bundle: string;
  let logReader: ChildProcess | undefined;
  let client: TtrpcClient | undefined;
  let shimSocket = '';
  const options = packAny(runc_options.Options, { root: runcRoot });

  const shim = (args: string[], input?: Buffer) => spawnSync(RUNC_SHIM, ['-namespace', NS, '-address', fakeContainerd, '-publish-binary', CONTAINERD, '-id', id, ...args], {
    cwd: bundle, input, env: { ...process.env, TTRPC_ADDRESS: `${fakeContainerd}.ttrpc` }, timeout: 30_000, maxBuffer: 1 << 20,
  });
  const topics = () => received.map((e) => e.topic);
  const event = <T>(topic: string, type: { decode(b: Uint8Array): T; typeName: string }, nth = 0): T => {
    const e = received.filter((x) => x.topic === topic)[nth];
    assert.ok(e, `no ${topic} event (have ${topics().join(', ')})`);
    assert.equal(e.event!.type_url, type.typeName);
    assert.equal(e.namespace, NS);
    return unpackAny(e.event, type as any) as T;
  };
  const waitForTopic = async (topic: string, count = 1) => {
    for (let i = 0; i < 200 && received.filter((e) => e.topic === topic).length < count; i++) await sleep(25);
  };

  before(async () => {
    // tsrun's server plays containerd's ttrpc side: the Go shim publishes its events to it.
    fake = new TtrpcServer().register(events_ttrpc.Events, {
      Forward: (req, ctx) => {
        assert.equal(ctx.namespace, NS);
        received.push(req.envelope!);
        return {};
      },
    });
    await fake.listen(`${fakeContainerd}.ttrpc`);
    // The runc shim finds the bundle of `delete` as dirname(cwd)/id, whatever -bundle says
    // (containerd's bundles are .../<namespace>/<id>), so the directory is named after the id.
    bundle = join(dir, id);
    renameSync(makeBundle((c) => {
      c.process.args = ['sleep', '1000'];
      c.linux.cgroupsPath = `/${id}`;
    }), bundle);
    // The shim logs into a FIFO in the bundle that containerd would read.
    spawnSync('mkfifo', [join(bundle, 'log')]);
    logReader = spawn('sh', ['-c', `exec cat "${join(bundle, 'log')}" > "${join(dir, 'shim.log')}"`], { stdio: 'ignore' });
  });

  after(async () => {
    await client?.close();
    // Whatever a failed test left: kill the container through runc, then the shim.
    spawnSync('runc', ['--root', join(runcRoot, NS), 'delete', '--force', id]);
    for (const pid of processesIn(bundle)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    if (shimSocket && existsSync(shimSocket)) {
      const pid = Number(readFileSync(join(bundle, 'shim.pid'), 'utf8').trim() || 0);
      if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      rmSync(shimSocket, { force: true });
    }
    logReader?.kill('SIGKILL');
    await fake?.close({ force: true });
    rmSync(bundle, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    if (!hadShimSocketDir) spawnSync('rmdir', ['/run/containerd/s']);
    if (!hadRunContainerd) spawnSync('rmdir', ['/run/containerd']);
  });

  test('start prints the socket address the runc shim derives (sha256 of address/namespace/id)', () => {
    const r = shim(['start'], google_protobuf.Any.encode(options));
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    const address = r.stdout.toString().trim();
    const hash = createHash('sha256').update(`${fakeContainerd}/${NS}/${id}`).digest('hex');
    assert.equal(address, `unix:///run/containerd/s/${hash}`);
    assert.equal(readFileSync(join(bundle, 'address'), 'utf8'), address);
    shimSocket = address.slice('unix://'.length);
  });

  test('a task\'s lifecycle: Create, State, Start, Pids, Exec, Kill, Wait, Delete, Shutdown; events decoded', async () => {
    client = await TtrpcClient.connect(`unix://${shimSocket}`);
    const call = <K extends keyof typeof task.Task.methods & string>(method: K, req: ReqInitOf<(typeof task.Task.methods)[K]>) =>
      client!.call(task.Task, method, req, { timeoutMs: 20_000 });

    const connect = await call('Connect', { id });
    assert.ok(connect.shim_pid > 0);
    writeFileSync(join(bundle, 'shim.pid'), String(connect.shim_pid)); // for cleanup only

    const created = await call('Create', { id, bundle, options });
    assert.ok(created.pid > 0);
    await waitForTopic('/tasks/create');
    const tc = event('/tasks/create', events.TaskCreate);
    assert.equal(tc.container_id, id);
    assert.equal(tc.bundle, bundle);
    assert.equal(tc.pid, created.pid);
    assert.deepEqual(tc.io, { stdin: '', stdout: '', stderr: '', terminal: false });

    let state = await call('State', { id });
    assert.equal(state.status, 1, 'CREATED');
    assert.equal(state.pid, created.pid);
    assert.equal(state.bundle, bundle);
    assert.ok(isGoZeroTime(state.exited_at), 'not exited: Go\'s zero time');

    const started = await call('Start', { id });
    assert.equal(started.pid, created.pid);
    await waitForTopic('/tasks/start');
    assert.deepEqual(event('/tasks/start', events.TaskStart), { container_id: id, pid: created.pid });
    state = await call('State', { id });
    assert.equal(state.status, 2, 'RUNNING');

    // Errors as the Go shim words them, decoded from google.rpc.Status.
    await assert.rejects(call('State', { id, exec_id: 'noexec' }), (e: Error) => e instanceof TtrpcError && e.code === Code.NotFound && /noexec/.test(e.desc));

    // An exec: its spec travels as JSON in an Any.
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')).process;
    await call('Exec', { id, exec_id: 'e1', spec: packJsonAny('types.containerd.io/opencontainers/runtime-spec/1/Process', { ...spec, args: ['sh', '-c', 'sleep 1000'] }) });
    await waitForTopic('/tasks/exec-added');
    assert.deepEqual(event('/tasks/exec-added', events.TaskExecAdded), { container_id: id, exec_id: 'e1' });
    const execState = await call('State', { id, exec_id: 'e1' });
    assert.equal(execState.status, 1);
    assert.equal(execState.pid, 0);
    const execPid = (await call('Start', { id, exec_id: 'e1' })).pid;
    assert.ok(execPid > 0);
    await waitForTopic('/tasks/exec-started');
    assert.deepEqual(event('/tasks/exec-started', events.TaskExecStarted), { container_id: id, exec_id: 'e1', pid: execPid });

    const pids = await call('Pids', { id });
    const init = pids.processes.find((p) => p.pid === created.pid);
    assert.ok(init, JSON.stringify(pids));
    assert.equal(init!.info, undefined);
    const exec = pids.processes.find((p) => p.pid === execPid);
    assert.ok(exec, 'exec in Pids');
    assert.deepEqual(unpackAny(exec!.info, runc_options.ProcessDetails), { exec_id: 'e1' });

    // Kill the exec, Wait for it, delete it; then the init.
    const execWait = call('Wait', { id, exec_id: 'e1' });
    await call('Kill', { id, exec_id: 'e1', signal: 15 });
    const execExit = await execWait;
    assert.equal(execExit.exit_status, 128 + 15);
    await call('Delete', { id, exec_id: 'e1' });

    const wait = call('Wait', { id });
    await call('Kill', { id, signal: 9, all: true });
    const exited = await wait;
    assert.equal(exited.exit_status, 137);
    assert.ok(!isGoZeroTime(exited.exited_at));
    state = await call('State', { id });
    assert.equal(state.status, 3, 'STOPPED');
    assert.equal(state.exit_status, 137);

    const deleted = await call('Delete', { id });
    assert.equal(deleted.pid, created.pid);
    assert.equal(deleted.exit_status, 137);
    assert.equal(timestampToNanos(deleted.exited_at!), timestampToNanos(exited.exited_at!));
    await waitForTopic('/tasks/delete');
    await waitForTopic('/tasks/exit', 2);
    const exits = [event('/tasks/exit', events.TaskExit, 0), event('/tasks/exit', events.TaskExit, 1)];
    assert.deepEqual(exits.map((e) => [e.id, e.pid, e.exit_status]).sort(), [['e1', execPid, 143], [id, created.pid, 137]].sort());
    const td = event('/tasks/delete', events.TaskDelete);
    assert.equal(td.container_id, id);
    assert.equal(td.pid, created.pid);
    assert.equal(td.exit_status, 137);
    assert.deepEqual(topics().filter((t) => t !== '/tasks/exit'), ['/tasks/create', '/tasks/start', '/tasks/exec-added', '/tasks/exec-started', '/tasks/delete']);
    assert.ok(topics().indexOf('/tasks/exit') > topics().indexOf('/tasks/start'), 'no exit before start');

    // Shutdown: the shim exits, and the connection closes under us.
    const closed = new Promise<void>((r) => client!.onClose(r));
    await call('Shutdown', { id }).catch((e) => assert.ok(e.message === 'ttrpc: closed', e.message));
    await closed;
    client = undefined;
  });

  test('the delete subcommand prints a DeleteResponse that tsrun decodes', () => {
    const r = shim(['-bundle', bundle, 'delete']);
    assert.equal(r.status, 0, r.stderr.toString());
    const resp = task.DeleteResponse.decode(r.stdout);
    assert.equal(resp.exit_status, 137);
    assert.ok(resp.exited_at && !isGoZeroTime(resp.exited_at));
  });

  test('nothing is left: processes, cgroups, mounts, runc state, the shim socket', async () => {
    for (let i = 0; i < 100 && existsSync(shimSocket); i++) await sleep(50);
    assert.equal(existsSync(shimSocket), false, 'the shim removed its socket');
    assertNothingLeft(join(runcRoot, NS), id, bundle);
  });
});
