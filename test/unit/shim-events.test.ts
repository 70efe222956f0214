// The event publisher: in order, namespace in metadata and envelope, retried while containerd is
// away, dropped after its tries without blocking later events, flushed before close.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventPublisher } from '../../shim/events.js';
import { TtrpcServer, TtrpcClient, TtrpcError, Code } from '../../shim/ttrpc/index.js';
import { events, events_ttrpc, types, unpackAny } from '../../proto/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tsrun-events-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function fakeContainerd(path: string, opts: { reject?: (topic: string) => boolean } = {}) {
  const got: { env: types.Envelope; ns: string | undefined }[] = [];
  const server = new TtrpcServer().register(events_ttrpc.Events, {
    Forward: (req, ctx) => {
      if (opts.reject?.(req.envelope!.topic)) throw new TtrpcError(Code.InvalidArgument, 'rejected');
      got.push({ env: req.envelope!, ns: ctx.namespace });
      return {};
    },
  });
  return { server, got, listen: () => server.listen(path) };
}

test('events arrive in order with the namespace in metadata and envelope; close flushes', async () => {
  const path = join(dir, 'a.sock');
  const fake = fakeContainerd(path);
  await fake.listen();
  const p = new EventPublisher({ address: `unix://${path}` });
  p.publish('ns1', '/tasks/create', events.TaskCreate, { container_id: 'c', pid: 1 });
  p.publish('ns1', '/tasks/start', events.TaskStart, { container_id: 'c', pid: 1 });
  p.publish('ns2', '/tasks/exit', events.TaskExit, { container_id: 'c', id: 'c', pid: 1, exit_status: 137 });
  await p.close();
  assert.deepEqual(fake.got.map((g) => [g.ns, g.env.namespace, g.env.topic, g.env.event!.type_url]), [
    ['ns1', 'ns1', '/tasks/create', 'containerd.events.TaskCreate'],
    ['ns1', 'ns1', '/tasks/start', 'containerd.events.TaskStart'],
    ['ns2', 'ns2', '/tasks/exit', 'containerd.events.TaskExit'],
  ]);
  assert.equal(unpackAny(fake.got[2]!.env.event, events.TaskExit)!.exit_status, 137);
  assert.ok(fake.got[0]!.env.timestamp!.seconds > 1_600_000_000n);
  await fake.server.close({ force: true });
});

test('retried while containerd is away (no socket, then a restart), in order', async () => {
  const path = join(dir, 'b.sock');
  const p = new EventPublisher({ address: path, backoffMs: () => 20, maxAttempts: 1000 });
  p.publish('ns', '/tasks/start', events.TaskStart, { container_id: 'c' });
  p.publish('ns', '/tasks/exit', events.TaskExit, { container_id: 'c' });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(p.pending, 2);
  const fake = fakeContainerd(path);
  await fake.listen();
  await p.flush();
  // containerd restarts: the connection drops, the next event reconnects.
  await fake.server.close({ force: true, unlink: path });
  p.publish('ns', '/tasks/delete', events.TaskDelete, { container_id: 'c' });
  const again = fakeContainerd(path);
  await again.listen();
  await p.close();
  assert.deepEqual(fake.got.map((g) => g.env.topic), ['/tasks/start', '/tasks/exit']);
  assert.deepEqual(again.got.map((g) => g.env.topic), ['/tasks/delete']);
  await again.server.close({ force: true });
});

test('an event refused maxAttempts times is dropped; later ones still go', async () => {
  const path = join(dir, 'c.sock');
  const fake = fakeContainerd(path, { reject: (t) => t === '/tasks/oom' });
  await fake.listen();
  const logs: string[] = [];
  const p = new EventPublisher({ address: path, backoffMs: () => 1, maxAttempts: 3, log: (m) => logs.push(m) });
  p.publish('ns', '/tasks/oom', events.TaskOOM, { container_id: 'c' });
  p.publish('ns', '/tasks/exit', events.TaskExit, { container_id: 'c' });
  await p.close();
  assert.deepEqual(fake.got.map((g) => g.env.topic), ['/tasks/exit']);
  assert.match(logs.join('\n'), /dropped \/tasks\/oom after 3 tries: rpc error: code = InvalidArgument desc = rejected/);
  p.publish('ns', '/tasks/exit', events.TaskExit, { container_id: 'late' });
  assert.equal(p.pending, 0);
  await fake.server.close({ force: true });
});

test('prepare() and a publish at the same time share one connection; a prepare that fails leaves the publish to retry', async () => {
  const path = join(dir, 'prepare.sock');
  const fake = fakeContainerd(path);
  await fake.listen();
  let connects = 0;
  const connect = (address: string) => { connects++; return TtrpcClient.connect(address); };
  const p = new EventPublisher({ address: path, connect });
  const prepared = p.prepare();
  p.publish('ns', '/tasks/create', events.TaskCreate, { container_id: 'c' });
  await prepared;
  await p.close();
  assert.equal(connects, 1);
  assert.deepEqual(fake.got.map((g) => g.env.topic), ['/tasks/create']);
  await fake.server.close({ force: true });

  const away = join(dir, 'prepare-away.sock');
  const late = new EventPublisher({ address: away, backoffMs: () => 20, maxAttempts: 1000 });
  await late.prepare();
  late.publish('ns', '/tasks/start', events.TaskStart, { container_id: 'c' });
  const back = fakeContainerd(away);
  await back.listen();
  await late.close();
  assert.deepEqual(back.got.map((g) => g.env.topic), ['/tasks/start']);
  await back.server.close({ force: true });
});
