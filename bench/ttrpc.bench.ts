// Codec and ttrpc costs: encode/decode of the messages on the shim's hot paths, and unary ttrpc
// round trips on one connection (sequential and 32 in flight). Prints numbers; asserts nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { task, events, types, packAny, timestampNow, GO_ZERO_TIME } from '../proto/index.js';
import { TtrpcClient, TtrpcServer } from '../shim/ttrpc/index.js';

function perOp(label: string, n: number, fn: () => void): void {
  for (let i = 0; i < Math.min(n, 2000); i++) fn();
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  const ns = Number(process.hrtime.bigint() - t) / n;
  console.log(`${label.padEnd(48)} ${(ns / 1000).toFixed(2)} µs/op`);
}

async function main(): Promise<void> {
  const create = { id: 'c1', bundle: '/run/containerd/io.containerd.runtime.v2.task/default/c1', rootfs: [{ type: 'overlay', source: 'overlay', options: ['index=off', 'workdir=/var/lib/containerd/snapshots/2/work', 'upperdir=/var/lib/containerd/snapshots/2/fs', 'lowerdir=/var/lib/containerd/snapshots/1/fs'] }], stdin: '/run/containerd/fifo/1/c1-stdin', stdout: '/run/containerd/fifo/1/c1-stdout', stderr: '/run/containerd/fifo/1/c1-stderr' };
  const createBytes = task.CreateTaskRequest.encode(create);
  const state = { id: 'c1', bundle: create.bundle, pid: 4242, status: 2, stdout: create.stdout, exited_at: GO_ZERO_TIME };
  const stateBytes = task.StateResponse.encode(state);
  perOp('CreateTaskRequest encode', 100_000, () => task.CreateTaskRequest.encode(create));
  perOp('CreateTaskRequest decode', 100_000, () => task.CreateTaskRequest.decode(createBytes));
  perOp('StateResponse encode', 100_000, () => task.StateResponse.encode(state));
  perOp('StateResponse decode', 100_000, () => task.StateResponse.decode(stateBytes));
  perOp('Envelope(TaskExit) pack+encode', 100_000, () => types.Envelope.encode({ timestamp: timestampNow(), namespace: 'default', topic: '/tasks/exit', event: packAny(events.TaskExit, { container_id: 'c1', id: 'c1', pid: 1, exit_status: 137, exited_at: timestampNow() }) }));

  const dir = mkdtempSync(join(tmpdir(), 'tsrun-ttrpc-bench-'));
  const path = join(dir, 's.sock');
  const server = new TtrpcServer().register(task.Task, { State: (req) => ({ ...state, id: req.id }) });
  await server.listen(path);
  const client = await TtrpcClient.connect(path);
  const n = 20_000;
  for (let i = 0; i < 2000; i++) await client.call(task.Task, 'State', { id: 'w' });
  let t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await client.call(task.Task, 'State', { id: 'c1' });
  console.log(`${'ttrpc State round trip, sequential'.padEnd(48)} ${(Number(process.hrtime.bigint() - t) / n / 1000).toFixed(1)} µs/call`);
  t = process.hrtime.bigint();
  const inflight = 32;
  await Promise.all(Array.from({ length: inflight }, async () => {
    for (let i = 0; i < n / inflight; i++) await client.call(task.Task, 'State', { id: 'c1' });
  }));
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(`${'ttrpc State, 32 in flight'.padEnd(48)} ${Math.round(n / s)} calls/s`);
  await client.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}

void main();
