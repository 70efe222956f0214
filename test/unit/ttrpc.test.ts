// ttrpc framing, server and client, over real unix sockets: concurrency, status codes, metadata,
// timeouts, the protocol errors Go's server answers, the 4 MiB limit, peer credentials, and a
// server handed an already-listening fd 3.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, FrameDecoder, encodeFrame, MAX_MESSAGE_LENGTH, TtrpcClient, TtrpcClosedError, TtrpcError, TtrpcServer, NAMESPACE_METADATA_KEY } from '../../shim/ttrpc/index.js';
import { task, ttrpc, google_protobuf, events_ttrpc, TaskV3 } from '../../proto/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tsrun-ttrpc-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let sockets = 0;
const sockPath = () => join(dir, `s${++sockets}.sock`);

// In a child started with TTRPC_TEST_CHILD, this file serves fd 3 instead of running tests.
const suite = process.env.TTRPC_TEST_CHILD ? describe.skip : describe;
if (process.env.TTRPC_TEST_CHILD) {
  const server = new TtrpcServer().register(task.Task, { Connect: () => ({ shim_pid: process.pid, version: 'fd3' }) });
  void server.listenFd(3);
}

suite('FrameDecoder', () => {
  const frames = [encodeFrame(1, 1, 0, Buffer.from('hello')), encodeFrame(3, 2, 4, Buffer.alloc(0)), encodeFrame(5, 1, 0, Buffer.alloc(70000, 7))];
  const all = Buffer.concat(frames);
  const check = (got: ReturnType<FrameDecoder['push']>) => {
    assert.deepEqual(got.map((f) => [f.streamId, f.type, f.flags, f.payload!.length]), [[1, 1, 0, 5], [3, 2, 4, 0], [5, 1, 0, 70000]]);
    assert.equal(got[0]!.payload!.toString(), 'hello');
  };

  test('coalesced: several frames in one read', () => {
    check(new FrameDecoder().push(all));
  });

  test('fragmented: one byte per read, and reads of odd sizes', () => {
    for (const size of [1, 3, 9, 10, 11, 4096]) {
      const d = new FrameDecoder();
      const got = [];
      for (let i = 0; i < all.length; i += size) got.push(...d.push(all.subarray(i, i + size)));
      check(got);
      assert.equal(d.pending, 0);
    }
  });

  test('an oversized frame is discarded as it arrives and reported; the stream goes on', () => {
    const big = MAX_MESSAGE_LENGTH + 1;
    const header = Buffer.alloc(10);
    header.writeUInt32BE(big, 0);
    header.writeUInt32BE(7, 4);
    header[8] = 1;
    const d = new FrameDecoder();
    const got = [...d.push(header)];
    for (let left = big; left > 0; left -= 65536) got.push(...d.push(Buffer.alloc(Math.min(65536, left))));
    got.push(...d.push(frames[0]!));
    assert.equal(got.length, 2);
    assert.equal(got[0]!.payload, undefined);
    assert.equal(got[0]!.length, big);
    assert.equal(got[0]!.streamId, 7);
    assert.equal(got[1]!.payload!.toString(), 'hello');
  });
});

suite('server and client', () => {
  let server: TtrpcServer;
  let path: string;
  let release: (() => void) | undefined;
  const seen: { namespace?: string; metadata?: Record<string, string[]> } = {};
  const log: string[] = [];

  before(async () => {
    path = sockPath();
    server = new TtrpcServer({ log: (m) => log.push(m) });
    server.register(task.Task, {
      State: (req, ctx) => {
        seen.namespace = ctx.namespace;
        seen.metadata = ctx.metadata;
        if (req.id === 'nonexistent') throw new TtrpcError(Code.NotFound, 'container not created');
        return { id: req.id, pid: 42, status: 2, exited_at: { seconds: -62135596800n } };
      },
      Wait: (req) => new Promise((resolve) => { release = () => resolve({ exit_status: 3, exited_at: { seconds: 1n } }); }),
      Kill: (req, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
      Pids: () => { throw Object.assign(new Error('boom'), { code: 'ENOENT' }); },
      Stats: () => { throw new Error('plain failure'); },
      Connect: () => ({ version: 'x'.repeat(MAX_MESSAGE_LENGTH) }),
      Delete: () => undefined as any,
    });
    server.register(events_ttrpc.Events, { Forward: () => ({}) });
    server.register('containerd.task.v3.Task', { State: (req) => ({ id: `v3:${req.id}` }) });
    await server.listen(path);
  });

  after(async () => {
    await server.close({ force: true });
  });

  test('a call, its reply decoded, metadata and namespace passed', async () => {
    const c = await TtrpcClient.connect(`unix://${path}`);
    const r = await c.call(task.Task, 'State', { id: 'c1' }, { metadata: { [NAMESPACE_METADATA_KEY]: 'ns1', multi: ['a', 'b'] }, timeoutMs: 2000 });
    assert.equal(r.id, 'c1');
    assert.equal(r.pid, 42);
    assert.equal(r.exited_at!.seconds, -62135596800n);
    assert.equal(seen.namespace, 'ns1');
    assert.deepEqual(seen.metadata!.multi, ['a', 'b']);
    await c.close();
  });

  test('concurrent calls on one connection are answered out of order (a blocked Wait holds nothing up)', async () => {
    const c = await TtrpcClient.connect(path);
    const wait = c.call(task.Task, 'Wait', { id: 'c1' });
    const states = await Promise.all([1, 2, 3, 4, 5].map((i) => c.call(task.Task, 'State', { id: `s${i}` })));
    assert.deepEqual(states.map((s) => s.id), ['s1', 's2', 's3', 's4', 's5']);
    let waited = false;
    void wait.then(() => { waited = true; });
    await new Promise((r) => setImmediate(r));
    assert.equal(waited, false);
    release!();
    assert.equal((await wait).exit_status, 3);
    await c.close();
  });

  test('status codes: handler errors, errno mapping, unknown service/method, unregistered method', async () => {
    const c = await TtrpcClient.connect(path);
    const expectCode = async (p: Promise<unknown>, code: number, desc: string) => {
      await assert.rejects(p, (e: Error) => e instanceof TtrpcError && e.code === code && e.desc === desc);
    };
    await expectCode(c.call(task.Task, 'State', { id: 'nonexistent' }), Code.NotFound, 'container not created');
    await expectCode(c.call(task.Task, 'Pids', { id: 'x' }), Code.NotFound, 'boom');
    await expectCode(c.call(task.Task, 'Stats', { id: 'x' }), Code.Unknown, 'plain failure');
    await expectCode(c.callRaw('containerd.task.v2.Bogus', 'State', Buffer.alloc(0)), Code.Unimplemented, 'service containerd.task.v2.Bogus');
    await expectCode(c.callRaw('containerd.task.v2.Task', 'Bogus', Buffer.alloc(0)), Code.Unimplemented, 'method Bogus');
    await expectCode(c.call(task.Task, 'Pause', { id: 'x' }), Code.Unimplemented, 'method Pause');
    const err = await c.call(task.Task, 'State', { id: 'nonexistent' }).catch((e) => e);
    assert.equal(err.message, 'rpc error: code = NotFound desc = container not created');
    // A handler returning nothing answers an empty message.
    assert.deepEqual(await c.call(task.Task, 'Delete', { id: 'x' }), { pid: 0, exit_status: 0 });
    await c.close();
  });

  test('timeout_nano aborts the handler\'s signal (DeadlineExceeded); the client gives up at its own deadline too', async () => {
    const c = await TtrpcClient.connect(path);
    await assert.rejects(c.call(task.Task, 'Kill', { id: 'x' }, { timeoutMs: 50 }), (e: Error) => e instanceof TtrpcError && e.code === Code.DeadlineExceeded);
    // Without a client-side deadline, the server's answer arrives: the handler saw its signal abort.
    const body = ttrpc.Request.encode({ service: 'containerd.task.v2.Task', method: 'Kill', payload: task.KillRequest.encode({ id: 'x' }), timeout_nano: 30_000_000n });
    const reply = await rawExchange(path, [encodeFrame(1, 1, 0, body)], 1);
    assert.deepEqual(reply[0]!.status, { code: Code.DeadlineExceeded, message: 'context deadline exceeded', details: [] });
    await c.close();
  });

  test('a bad payload is Internal; a bad Request envelope, an even or reused stream id and a data frame are InvalidArgument, and the connection goes on', async () => {
    const good = ttrpc.Request.encode({ service: 'containerd.task.v2.Task', method: 'State', payload: task.StateRequest.encode({ id: 'ok' }) });
    const badPayload = ttrpc.Request.encode({ service: 'containerd.task.v2.Task', method: 'State', payload: Buffer.from([0x0a, 0x05, 0x61]) });
    const replies = await rawExchange(path, [
      encodeFrame(1, 1, 0, badPayload),
      encodeFrame(3, 1, 0, Buffer.from([0x0a, 0xff])),
      encodeFrame(4, 1, 0, good),
      encodeFrame(3, 1, 0, good),
      encodeFrame(5, 3, 0, Buffer.from([1])),
      encodeFrame(7, 9, 0, Buffer.alloc(0)), // an unknown message type: ignored
      encodeFrame(9, 1, 0, good),
    ], 6);
    const byId = new Map(replies.map((r) => [`${r.streamId}:${r.status?.message ?? ''}`, r]));
    const codes = replies.map((r) => [r.streamId, r.status?.code ?? 0]);
    assert.deepEqual(codes.sort(), [[1, Code.Internal], [3, Code.InvalidArgument], [3, Code.InvalidArgument], [4, Code.InvalidArgument], [5, Code.InvalidArgument], [9, 0]].sort());
    assert.match(replies.find((r) => r.streamId === 1)!.status!.message, /^ttrpc: error unmarshalling payload: /);
    assert.ok(byId.has('4:StreamID must be odd for client initiated streams'));
    assert.ok(byId.has('3:StreamID cannot be re-used and must increment'));
    assert.ok(byId.has('5:StreamID is no longer active'));
    assert.ok([...byId.keys()].some((k) => k.startsWith('3:unmarshal request error: ')));
    assert.equal(task.StateResponse.decode(replies.find((r) => r.streamId === 9)!.payload).id, 'ok');
  });

  test('4 MiB: an oversized request frame is answered ResourceExhausted and the connection goes on; the client refuses to send one; an oversized reply becomes an error', async () => {
    const big = Buffer.alloc(MAX_MESSAGE_LENGTH + 100);
    const good = ttrpc.Request.encode({ service: 'containerd.task.v2.Task', method: 'State', payload: task.StateRequest.encode({ id: 'after' }) });
    const replies = await rawExchange(path, [encodeFrame(1, 1, 0, big), encodeFrame(3, 1, 0, good)], 2);
    assert.deepEqual(replies[0]!.status, { code: Code.ResourceExhausted, message: `message length ${big.length} exceed maximum message size of ${MAX_MESSAGE_LENGTH}`, details: [] });
    assert.equal(task.StateResponse.decode(replies[1]!.payload).id, 'after');
    const c = await TtrpcClient.connect(path);
    await assert.rejects(c.call(task.Task, 'Exec', { id: 'x', stdin: 'x'.repeat(MAX_MESSAGE_LENGTH) }), (e: Error) => e instanceof TtrpcError && e.code === Code.ResourceExhausted && /exceed maximum message size of 4194304/.test(e.message));
    await assert.rejects(c.call(task.Task, 'Connect', { id: 'x' }), (e: Error) => e instanceof TtrpcError && e.code === Code.ResourceExhausted);
    assert.equal((await c.call(task.Task, 'State', { id: 'still' })).id, 'still');
    await c.close();
  });

  test('calls in flight fail with TtrpcClosedError when the connection closes; later calls too', async () => {
    const c = await TtrpcClient.connect(path);
    const p = c.call(task.Task, 'Wait', { id: 'w' });
    await c.call(task.Task, 'State', { id: 'x' });
    await c.close();
    await assert.rejects(p, TtrpcClosedError);
    await assert.rejects(c.call(task.Task, 'State', { id: 'x' }), TtrpcClosedError);
    release?.();
  });

  test('an aborted call is Canceled and its late reply dropped', async () => {
    const c = await TtrpcClient.connect(path);
    const ac = new AbortController();
    const p = c.call(task.Task, 'Wait', { id: 'w' }, { signal: ac.signal });
    ac.abort();
    await assert.rejects(p, (e: Error) => e instanceof TtrpcError && e.code === Code.Canceled);
    release!();
    assert.equal((await c.call(task.Task, 'State', { id: 'y' })).id, 'y');
    await c.close();
  });

  test('Events/Forward with an empty reply (what the shim sends containerd)', async () => {
    const c = await TtrpcClient.connect(path);
    const r = await c.call(events_ttrpc.Events, 'Forward', { envelope: { namespace: 'default', topic: '/tasks/oom' } }, { timeoutMs: 5000 });
    assert.deepEqual(r, google_protobuf.Empty.create());
    await c.close();
  });

  test('close() lets calls in progress answer, refuses new connections, then closes', async () => {
    const path2 = sockPath();
    let finish: (() => void) | undefined;
    const s = new TtrpcServer().register(task.Task, {
      Wait: () => new Promise((resolve) => { finish = () => resolve({ exit_status: 7 }); }),
      State: (req) => ({ id: req.id }),
    });
    await s.listen(path2);
    const c = await TtrpcClient.connect(path2);
    const idle = await TtrpcClient.connect(path2);
    const waiting = c.call(task.Task, 'Wait', { id: 'x' });
    await c.call(task.Task, 'State', { id: 'sync' });
    const closing = s.close({ unlink: path2 });
    const idleClosed = new Promise<void>((r) => idle.onClose(r));
    await idleClosed;
    finish!();
    assert.equal((await waiting).exit_status, 7);
    await closing;
    await new Promise<void>((r) => c.onClose(r));
    assert.equal(s.connectionCount, 0);
    await assert.rejects(TtrpcClient.connect(path2));
  });

  test('a service registered by name (task v3) is served beside v2', async () => {
    const c = await TtrpcClient.connect(path);
    assert.equal((await c.call(TaskV3, 'State', { id: 'a' })).id, 'v3:a');
    assert.equal((await c.call(task.Task, 'State', { id: 'a' })).id, 'a');
    await c.close();
  });

  test('registering: unknown method names, unknown service names and a service twice are errors', () => {
    const s = new TtrpcServer();
    assert.throws(() => s.register('containerd.task.v9.Task' as any, {}), /unknown service/);
    assert.throws(() => s.register(task.Task, { Bogus: () => ({}) } as any), /has no method Bogus/);
    s.register(task.Task, {});
    assert.throws(() => s.register(task.Task, {}), /registered twice/);
  });
});

suite('peer credentials and inherited listeners', () => {
  const PYTHON = '/usr/bin/python3';
  const root = process.geteuid?.() === 0;

  test('a peer running as another user is refused (the connection closes unanswered)', { skip: root ? false : 'needs root to connect as another user' }, async () => {
    const path = sockPath();
    const log: string[] = [];
    const server = new TtrpcServer({ log: (m) => log.push(m) }).register(task.Task, { State: () => ({ id: 'served' }) });
    await server.listen(path);
    chmodSync(dir, 0o755);
    chmodSync(path, 0o777);
    const frame = encodeFrame(1, 1, 0, ttrpc.Request.encode({ service: 'containerd.task.v2.Task', method: 'State', payload: Buffer.alloc(0) }));
    const script = `
import os, socket, sys
os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
try:
    s.sendall(bytes.fromhex(sys.argv[2]))
    data = s.recv(1000)
except (BrokenPipeError, ConnectionResetError): data = b''
print(len(data))`;
    // Not spawnSync: the server runs on this event loop.
    const py = spawn(PYTHON, ['-c', script, path, frame.toString('hex')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    py.stdout.on('data', (d) => { stdout += d; });
    py.stderr.on('data', (d) => { stderr += d; });
    await new Promise((r) => py.on('close', r));
    assert.equal(stdout.trim(), '0', stderr);
    assert.ok(log.some((l) => /refused peer pid \d+ uid 65534 gid 65534/.test(l)), log.join('\n'));
    // Our own uid is served.
    const c = await TtrpcClient.connect(path);
    assert.equal((await c.call(task.Task, 'State', {})).id, 'served');
    await c.close();
    await server.close({ unlink: path });
    assert.equal(existsSync(path), false);
  });

  test('listenFd: a server handed an already-listening socket as fd 3 (as the shim daemon is)', async () => {
    const path = sockPath();
    // python binds and listens, then execs node on this very file with the socket as fd 3.
    const script = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(16)
os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
os.execv(sys.argv[2], [sys.argv[2], sys.argv[3]])`;
    const env: NodeJS.ProcessEnv = { ...process.env, TTRPC_TEST_CHILD: '1', NODE_PATH: join(__dirname, '..', '..', '..', 'node_modules') };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(PYTHON, ['-c', script, path, process.execPath, __filename], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    try {
      let c: TtrpcClient | undefined;
      for (let i = 0; i < 200 && !c; i++) {
        c = await TtrpcClient.connect(path).catch(() => undefined);
        if (!c) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(c, 'child never listened');
      const r = await c.call(task.Task, 'Connect', { id: 'x' });
      assert.equal(r.version, 'fd3');
      assert.equal(r.shim_pid, child.pid);
      await c.close();
    } finally {
      child.kill('SIGKILL');
    }
  });
});

/** Writes frames on a fresh connection and collects `count` decoded responses. */
async function rawExchange(path: string, frames: Buffer[], count: number): Promise<(ReturnType<typeof ttrpc.Response.decode> & { streamId: number })[]> {
  const sock: Socket = connect(path);
  await new Promise((r) => sock.once('connect', r));
  const d = new FrameDecoder();
  const out: (ReturnType<typeof ttrpc.Response.decode> & { streamId: number })[] = [];
  return new Promise((resolve, reject) => {
    sock.on('data', (chunk: Buffer) => {
      for (const f of d.push(chunk)) out.push({ ...ttrpc.Response.decode(f.payload!), streamId: f.streamId });
      if (out.length >= count) {
        sock.destroy();
        resolve(out);
      }
    });
    sock.on('close', () => reject(new Error(`connection closed after ${out.length} replies`)));
    for (const f of frames) sock.write(f);
  });
}
