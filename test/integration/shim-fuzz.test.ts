// Malformed input at the shim's own socket: the daemon the launcher starts is sent random bytes,
// frames with random headers, truncated and oversized frames, and well-framed requests for every
// task method with random or mutated protobuf payloads, over many connections. It must answer
// with errors or drop a connection, never crash: after every round it still answers Connect, and
// it holds no more file descriptors than before (no leak per connection or per failed call).
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, rmSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, makeBundle, REPO, killShim } from '../helpers/harness.js';
import { TtrpcServer, TtrpcClient } from '../../shim/ttrpc/index.js';
import { encodeFrame, MessageType } from '../../shim/ttrpc/frame.js';
import { task, events_ttrpc, ttrpc, TaskV3 } from '../../proto/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NS = `tsrun-fuzz-${process.pid}`;
const ROUNDS = Number(process.env.TSRUN_FUZZ_ROUNDS ?? 30);

/** xorshift32: the same inputs on every run (the seed is printed on failure) */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  return {
    int: (n: number) => next() % n,
    bytes: (n: number) => Buffer.from(Array.from({ length: n }, () => next() & 0xff)),
  };
}

describe('the shim daemon under malformed ttrpc input', { skip: needsRoot }, () => {
  const dir = needsRoot ? '' : mkdtempSync(join(tmpdir(), 'tsrun-shim-fuzz-'));
  const fakeContainerd = join(dir, 'containerd.sock');
  let events: TtrpcServer;
  let address = '';
  let shimPid = 0;

  before(async () => {
    events = new TtrpcServer().register(events_ttrpc.Events, { Forward: () => ({}) });
    await events.listen(`${fakeContainerd}.ttrpc`);
    const bundle = join(dir, 'b');
    renameSync(makeBundle(), bundle);
    const r = spawnSync(join(REPO, 'bin', 'containerd-shim-tsrun-v2'), ['-namespace', NS, '-address', fakeContainerd, '-id', 'fuzz', 'start'], {
      cwd: bundle, input: '', encoding: 'utf8', env: { ...process.env, TTRPC_ADDRESS: `${fakeContainerd}.ttrpc` },
    });
    assert.equal(r.status, 0, r.stderr);
    address = r.stdout.replace(/^unix:\/\//, '');
    const client = await TtrpcClient.connect(address);
    shimPid = (await client.call(task.Task, 'Connect', { id: 'fuzz' })).shim_pid;
    await client.close();
    assert.ok(shimPid > 0);
  });

  after(async () => {
    killShim(shimPid, address);
    await events?.close({ force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  const fds = () => readdirSync(`/proc/${shimPid}/fd`).length;

  /** Writes `chunks` on a fresh connection, reads whatever comes back for a moment, closes. */
  async function send(chunks: Buffer[]): Promise<Buffer> {
    const sock: Socket = connect(address);
    const got: Buffer[] = [];
    sock.on('data', (d) => got.push(d));
    sock.on('error', () => undefined);
    await new Promise<void>((resolve) => { sock.once('connect', resolve); sock.once('error', () => resolve()); });
    for (const c of chunks) if (!sock.destroyed) sock.write(c);
    await sleep(30);
    sock.destroy();
    return Buffer.concat(got);
  }

  /** Every byte the shim sent back is whole frames of type Response (it may also just have closed). */
  let responses = 0;
  function assertResponses(out: Buffer): void {
    let off = 0;
    while (off + 10 <= out.length) {
      const len = out.readUInt32BE(off);
      assert.equal(out[off + 8], MessageType.Response, 'only responses come back');
      assert.ok(len <= 4 << 20);
      off += 10 + len;
      responses++;
    }
  }

  const methods = Object.keys(task.Task.methods).filter((m) => m !== 'Shutdown'); // Shutdown with no task ends the shim: by design
  const request = (r: ReturnType<typeof rng>, streamId: number, payload: Buffer, service = r.int(2) ? task.Task.name : TaskV3.name) =>
    encodeFrame(streamId, MessageType.Request, 0, ttrpc.Request.encode({ service, method: methods[r.int(methods.length)], payload, timeout_nano: BigInt(r.int(3)) * 1_000_000_000n }));

  test('random bytes, random frames, truncated frames, random payloads for every method: errors, never a crash or a leak', async () => {
    const before = fds();
    for (let round = 0; round < ROUNDS; round++) {
      const seed = 0x5eed + round;
      const r = rng(seed);
      const chunks: Buffer[] = [];
      for (let i = 0, sid = 1; i < 12; i++, sid += 2) {
        switch (r.int(7)) {
          case 0: chunks.push(r.bytes(r.int(64))); break; // garbage
          case 1: { // a random header, a payload shorter or longer than it says
            const h = Buffer.alloc(10);
            h.writeUInt32BE(r.int(200), 0); h.writeUInt32BE(r.int(2) ? sid : r.int(1 << 30), 4); h[8] = r.int(5); h[9] = r.int(8);
            chunks.push(h, r.bytes(r.int(200)));
            break;
          }
          case 2: chunks.push(encodeFrame(sid, MessageType.Request, 0, r.bytes(r.int(100)))); break; // a Request that is not one
          case 3: chunks.push(request(r, sid, r.bytes(r.int(100)))); break; // a method with a random payload
          case 4: { // a valid request with one byte changed
            const valid = Buffer.from(task.StateRequest.encode({ id: 'nope', exec_id: 'x' }));
            if (valid.length) valid[r.int(valid.length)] ^= 1 << r.int(8);
            chunks.push(request(r, sid, valid));
            break;
          }
          case 5: { // a frame cut in two writes, or cut short
            const f = request(r, sid, r.bytes(r.int(50)));
            const at = r.int(f.length);
            chunks.push(f.subarray(0, at));
            if (r.int(2)) chunks.push(f.subarray(at));
            break;
          }
          default: { // an oversized header: the shim discards what follows and says so
            const h = Buffer.alloc(10);
            h.writeUInt32BE((4 << 20) + 1 + r.int(1000), 0); h.writeUInt32BE(sid, 4); h[8] = MessageType.Request;
            chunks.push(h, r.bytes(r.int(2000)));
          }
        }
      }
      const out = await send(chunks);
      try {
        assertResponses(out);
      } catch (err) {
        throw new Error(`seed ${seed}: ${(err as Error).message}`);
      }
      assert.ok(existsSync(`/proc/${shimPid}`), `the shim died at seed ${seed}`);
    }
    assert.ok(responses > ROUNDS, `only ${responses} responses: the inputs did not reach the service`);
    // still serving, and what the connections and failed calls held is gone
    const client = await TtrpcClient.connect(address);
    assert.equal((await client.call(task.Task, 'Connect', { id: 'fuzz' })).shim_pid, shimPid);
    await assert.rejects(client.call(task.Task, 'State', { id: 'nope' }), /not found|not created/);
    await client.close();
    await sleep(200);
    assert.ok(fds() <= before + 1, `file descriptors: ${before} before, ${fds()} after`);
  });
});
