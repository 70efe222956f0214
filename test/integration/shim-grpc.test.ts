// The shim over gRPC, selected by a tsrun options file, without containerd: the launcher's
// `start` reads the options from stdin as containerd 1.7-2.2 send them, answers the JSON
// bootstrap (grpc, a bare socket path; version 2 when a stand-in for containerd's Version API says
// 1.x, else 3), and a grpc-js client then drives a
// container through containerd.task.v3.Task as containerd 2.x would (Create, Start, Wait,
// State, Delete, Shutdown); events reach a stand-in for containerd's ttrpc side; nothing is left.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { needsRoot, makeBundle, uniqueId, assertNothingLeft, REPO, killShim } from '../helpers/harness.js';
import { TtrpcServer, TtrpcClient } from '../../shim/ttrpc/index.js';
import { task, events_ttrpc, runtimeoptions, packAny, TaskV3, type MethodType, google_protobuf } from '../../proto/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NS = `tsrun-grpc-${process.pid}`;

/** A grpc-js client for a compiled service: method name → promise of the decoded reply. */
function taskClient(address: string): { call: (method: string, req: object, md?: Record<string, string>) => Promise<any>; close: () => void } {
  const def: Record<string, grpc.MethodDefinition<object, unknown>> = {};
  for (const [name, m] of Object.entries(TaskV3.methods) as Array<[string, MethodType]>) {
    def[name] = {
      path: `/${TaskV3.name}/${name}`, requestStream: false, responseStream: false,
      requestSerialize: (v: object) => Buffer.from(m.request.encode(v)), requestDeserialize: (b: Buffer) => m.request.decode(b),
      responseSerialize: (v: unknown) => Buffer.from(m.response.encode(v as object)), responseDeserialize: (b: Buffer) => m.response.decode(b),
    };
  }
  const Client = grpc.makeGenericClientConstructor(def, TaskV3.name);
  const client = new Client(`unix://${address}`, grpc.credentials.createInsecure()) as unknown as Record<string, Function> & grpc.Client;
  return {
    call: (method, req, md = { 'containerd-namespace': NS }) => new Promise((resolve, reject) => {
      const meta = new grpc.Metadata();
      for (const [k, v] of Object.entries(md)) meta.set(k, v);
      client[method].call(client, req, meta, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res)));
    }),
    close: () => client.close(),
  };
}

describe('containerd-shim-tsrun-v2 over gRPC (a tsrun options file with protocol = "grpc")', { skip: needsRoot }, () => {
  const dir = needsRoot ? '' : mkdtempSync(join(tmpdir(), 'tsrun-shim-grpc-'));
  const fakeContainerd = join(dir, 'containerd.sock');
  const id = uniqueId('grpc');
  const stateRoot = join(dir, 'state');
  const received: Array<{ topic: string }> = [];
  let events: TtrpcServer;
  let versionServer: grpc.Server | undefined;
  /** what the stand-in for containerd's Version API answers */
  let containerdVersion = '';
  let bundle = '';
  let address = '';
  const options = () => packAny(runtimeoptions.Options, { type_url: 'io.containerd.tsrun.v2.options', config_path: join(dir, 'tsrun.toml') });

  before(async () => {
    events = new TtrpcServer().register(events_ttrpc.Events, { Forward: (req) => { received.push(req.envelope!); return {}; } });
    await events.listen(`${fakeContainerd}.ttrpc`);
    bundle = join(dir, id);
    renameSync(makeBundle((c) => {
      c.process.args = ['/bin/sh', '-c', 'echo over grpc; exit 3'];
      c.process.terminal = false;
    }), bundle);
    writeFileSync(join(dir, 'tsrun.toml'), `# tsrun shim options\nprotocol = "grpc"\nroot = "${stateRoot}"\n`);
  });

  after(async () => {
    // whatever a failed test left
    spawnSync(join(REPO, 'bin', 'tsrun'), ['--root', join(stateRoot, NS), 'delete', '--force', id]);
    if (address) {
      killShim(Number(spawnSync('fuser', [address], { encoding: 'utf8' }).stdout.trim().split(/\s+/)[0] || 0), address);
    }
    await events?.close({ force: true });
    versionServer?.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * The launcher's `start` with the gRPC options on stdin, as containerd runs it: its reply, parsed. Not
   * spawnSync: the stand-in for containerd's Version API is served by this process's event loop.
   */
  const startGrpc = async () => {
    const child = spawn(join(REPO, 'bin', 'containerd-shim-tsrun-v2'), ['-namespace', NS, '-address', fakeContainerd, '-publish-binary', '/bin/false', '-id', id, 'start'], {
      cwd: bundle, env: { ...process.env, TTRPC_ADDRESS: `${fakeContainerd}.ttrpc` }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.stdin.end(google_protobuf.Any.encode(options()));
    const [status] = await once(child, 'close');
    assert.equal(status, 0, stderr);
    // containerd 1.7 reads B/address back as start's reply after a restart
    assert.equal(readFileSync(join(bundle, 'address'), 'utf8'), stdout);
    return JSON.parse(stdout);
  };

  test('start: the JSON bootstrap with protocol grpc, the bare socket path, and the version containerd accepts', async () => {
    // nobody at -address to ask: taken for containerd 2.x
    const boot = await startGrpc();
    assert.deepEqual(Object.keys(boot), ['version', 'address', 'protocol']);
    assert.deepEqual([boot.version, boot.protocol], [3, 'grpc']);
    assert.match(boot.address, /^\/run\/containerd\/s\/[0-9a-f]{64}$/);
    address = boot.address;
    // containerd.services.version.v1.Version/Version: VersionResponse{1 version, 2 revision}
    versionServer = new grpc.Server();
    versionServer.addService({
      Version: {
        path: '/containerd.services.version.v1.Version/Version', requestStream: false, responseStream: false,
        requestSerialize: () => Buffer.alloc(0), requestDeserialize: () => ({}),
        responseSerialize: (v: string) => Buffer.concat([Buffer.from([0x0a, Buffer.byteLength(v)]), Buffer.from(v), Buffer.from([0x12, 3]), Buffer.from('abc')]),
        responseDeserialize: (b: Buffer) => b.toString(),
      },
    }, { Version: (_call: unknown, reply: (err: null, v: string) => void) => reply(null, containerdVersion) });
    await new Promise((resolve, reject) => versionServer!.bindAsync(`unix://${fakeContainerd}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve(undefined))));
    // 1.7 rejects any version above 2; 2.x's gRPC client takes only 3 (the shim is the same one, reserved again)
    for (const [v, want] of [['1.7.24~ds1', 2], ['v1.7.29', 2], ['2.1.9~ds1', 3], ['v2.2.0', 3]] as const) {
      containerdVersion = v;
      assert.deepEqual(await startGrpc(), { version: want, address, protocol: 'grpc' }, `containerd ${v}`);
    }
    // 1.6 reads no JSON (it would dial the whole reply as a ttrpc address): start refuses, saying why
    containerdVersion = '1.6.20~ds1';
    await assert.rejects(startGrpc(), /protocol = "grpc" needs containerd 1\.7 or later \(this is 1\.6\)/);
    // without the option: the plain ttrpc address, on another socket
    const plain = spawnSync(join(REPO, 'bin', 'containerd-shim-tsrun-v2'), ['-namespace', NS, '-address', `${fakeContainerd}-x`, '-id', id, 'start'], { cwd: bundle, input: '', encoding: 'utf8' });
    assert.match(plain.stdout, /^unix:\/\/\/run\/containerd\/s\/[0-9a-f]{64}$/);
    const other = plain.stdout.slice('unix://'.length);
    // that one started a ttrpc shim: with no container, Shutdown ends it
    const client = await TtrpcClient.connect(plain.stdout);
    await client.call(task.Task, 'Shutdown', { id }).catch(() => undefined);
    await client.close();
    for (let i = 0; i < 100 && existsSync(other); i++) await sleep(50);
    assert.equal(existsSync(other), false);
  });

  test('a container through containerd.task.v3.Task over gRPC: Create, Start, Wait, State, Delete, Shutdown', async () => {
    assert.ok(address, 'start ran');
    const client = taskClient(address);
    try {
      const connect = await client.call('Connect', { id });
      assert.ok(connect.shim_pid > 0);
      const out = join(dir, 'out.log');
      // containerd sends Create the options `start` had on stdin
      const created = await client.call('Create', { id, bundle, stdout: `file://${out}`, stderr: `file://${out}`, options: options() });
      assert.ok(created.pid > 0);
      assert.ok(existsSync(join(stateRoot, NS, id)), 'the options file\'s root is used');
      await client.call('Start', { id });
      const [w1, w2] = await Promise.all([client.call('Wait', { id }), client.call('Wait', { id })]);
      assert.deepEqual([w1.exit_status, w2.exit_status], [3, 3]);
      const st = await client.call('State', { id });
      assert.equal(st.status, 3 /* STOPPED */);
      await assert.rejects(client.call('State', { id: 'nonexistent' }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
      await assert.rejects(client.call('Checkpoint', { id }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT);
      const del = await client.call('Delete', { id });
      assert.equal(del.exit_status, 3);
      assert.equal(readFileSync(out, 'utf8'), 'over grpc\n');
      await client.call('Shutdown', { id }).catch(() => undefined);
    } finally {
      client.close();
    }
    for (let i = 0; i < 100 && existsSync(address); i++) await sleep(50);
    assert.equal(existsSync(address), false, 'the shim removed its socket on the way out');
    for (let i = 0; i < 100 && !received.some((e) => e.topic === '/tasks/delete'); i++) await sleep(50);
    assert.deepEqual(received.map((e) => e.topic), ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
    assertNothingLeft(join(stateRoot, NS), id, bundle);
  });
});
