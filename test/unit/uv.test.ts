// The executor's spawn and sync socket without node:child_process and node:net
// (runtime/container/uv.ts): the same libuv calls, so the same outcomes as child_process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, constants } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dup } from '../../shim/sys.js';
import { preferUvHandles, readToEnd, spawnProcess, uvAvailable, type SpawnedProcess, type UvPipe } from '../../runtime/container/uv.js';

preferUvHandles();

const exited = (c: SpawnedProcess) => new Promise<[number | null, string | null]>((r) => c.once('exit', (code, signal) => r([code, signal])));

test('this Node has the handles (else the runtime falls back to child_process)', () => {
  assert.equal(uvAvailable(), true);
});

test('a socket to the child both ways, exit codes and signals as child_process reports them', async () => {
  // fd 3 is the socket: the child answers what it reads, upper-cased, then exits 7.
  const child = spawnProcess('/bin/sh', ['-c', 'read line <&3; echo "$line" | tr a-z A-Z >&3; exit 7'], ['ignore', 'inherit', 'inherit', 'pipe'], { PATH: '/usr/bin:/bin' });
  assert.ok(child.pid! > 0);
  const sync = child.stdio[3] as UvPipe;
  const chunks: Buffer[] = [];
  const closed = new Promise<void>((r) => sync.on('close', r));
  sync.on('data', (b: Buffer) => chunks.push(b));
  sync.resume();
  sync.write(Buffer.from('hello\n'));
  assert.deepEqual(await exited(child), [7, null]);
  await closed;
  assert.equal(Buffer.concat(chunks).toString(), 'HELLO\n');

  const killed = spawnProcess('/bin/sleep', ['10'], ['ignore', 'ignore', 'ignore'], {});
  const done = exited(killed);
  process.kill(killed.pid!, 'SIGTERM');
  assert.deepEqual(await done, [null, 'SIGTERM']);
});

test('the environment is exactly the one given; fds are passed by number', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-uv-'));
  try {
    const out = openSync(join(dir, 'out'), 'w');
    const child = spawnProcess('/usr/bin/env', [], ['ignore', out, 'inherit'], { ONLY: 'this' });
    assert.deepEqual(await exited(child), [0, null]);
    closeSync(out);
    assert.equal(readFileSync(join(dir, 'out'), 'utf8'), 'ONLY=this\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a program that cannot be started is an error event with its errno name, as with child_process', async () => {
  const child = spawnProcess('/nonexistent/program', [], ['ignore', 'ignore', 'ignore'], {});
  const err = await new Promise<NodeJS.ErrnoException>((r) => child.once('error', r));
  assert.equal(err.code, 'ENOENT');
  assert.match(err.message, /spawn \/nonexistent\/program ENOENT/);
});

test('readToEnd: a FIFO opened without blocking waits for a writer, then reads to its close', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-uv-'));
  try {
    const fifo = join(dir, 'fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const content = readToEnd(fd);
    // The writer comes later, as the container's init does after READY.
    await new Promise((r) => setTimeout(r, 50));
    const writer = spawnProcess('/bin/sh', ['-c', `printf 0 > ${fifo}`], ['ignore', 'ignore', 'inherit'], {});
    assert.deepEqual(await exited(writer), [0, null]);
    assert.equal((await content).toString(), '0');

    // A writer that comes and goes without a byte: EOF, empty.
    const fd2 = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const empty = readToEnd(fd2);
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    assert.equal((await empty).length, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('UvServer and UvPipe.connect: a listening fd served, peers both ways, end() flushes before it closes', async () => {
  const { UvServer, UvPipe } = await import('../../runtime/container/uv.js');
  const net = await import('node:net');
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-uv-'));
  // a socket bound and listening elsewhere (as the shim's launcher binds it), served by its fd: a
  // dup (libuv refuses an fd another handle of this loop has) of a net.Server's, which then stops
  // accepting; in the abstract namespace, which its close leaves in place while the dup lives
  const path = `\0tsrun-uv-test-${process.pid}`;
  let server: ReturnType<typeof UvServer.listenFd> | undefined;
  try {
    const bound = net.createServer();
    await new Promise<void>((r) => bound.listen(path, r));
    const fd = dup((bound as unknown as { _handle: { fd: number } })._handle.fd);
    await new Promise<void>((r) => bound.close(() => r()));
    const accepted: UvPipe[] = [];
    server = UvServer.listenFd(fd, (peer) => {
      accepted.push(peer);
      peer.on('data', (b: Buffer) => { peer.write(Buffer.from(b.toString().toUpperCase())); peer.end(); });
      peer.resume();
    }, (err) => assert.fail(err));
    const client = await UvPipe.connect(path);
    assert.ok(client.fd >= 0);
    const chunks: Buffer[] = [];
    const closed = new Promise<void>((r) => client.on('close', r));
    client.on('data', (b: Buffer) => chunks.push(b));
    client.resume();
    client.write(Buffer.from('ping'));
    await closed;
    assert.equal(Buffer.concat(chunks).toString(), 'PING');
    assert.equal(client.destroyed, true);
    assert.equal(client.fd, -1);
    assert.equal(accepted.length, 1);
    await assert.rejects(UvPipe.connect(join(dir, 'nobody')), /connect .*ENOENT/);
  } finally {
    await new Promise<void>((r) => (server ? server.close(r) : r()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('UvPipe backpressure: write() says false past the mark and drain follows; pause() holds the reader', async () => {
  const { UvPipe } = await import('../../runtime/container/uv.js');
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-uv-'));
  const fifo = join(dir, 'f');
  try {
    spawnSync('mkfifo', [fifo]);
    const reader = UvPipe.open(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK));
    const writer = UvPipe.open(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    // nobody reads yet: the pipe's 64 KiB fill, the rest waits in libuv
    const chunk = Buffer.alloc(32 * 1024, 0x61);
    let writes = 0;
    while (writer.write(chunk)) writes++;
    assert.ok(writes >= 2 && writes < 64, `${writes} writes before false`);
    let got = 0;
    reader.on('data', (b: Buffer) => { got += b.length; });
    const drained = new Promise<void>((r) => writer.once('drain', r));
    reader.resume();
    await drained;
    reader.pause();
    const before = got;
    writer.write(Buffer.alloc(1000));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(got, before, 'nothing is read while paused');
    const closed = new Promise<void>((r) => reader.on('close', r));
    reader.resume();
    writer.end();
    await closed;
    assert.equal(got, (writes + 1) * chunk.length + 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
