// One shim serves a whole group (a containerd namespace by default), so its lifetime is shared:
// it must not exit while a container is on its way (a `start` answered with its address, Create
// not yet sent), only one shim may come up when several `start`s of a group race, and a shim
// whose container never arrives must not stay forever. Driven as containerd drives the shim
// (the launcher's `start`, then ttrpc), without containerd, so each interleaving is exact.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, makeBundle, uniqueId, assertNothingLeft, REPO, killShim } from '../helpers/harness.js';
import { TtrpcServer, TtrpcClient } from '../../shim/ttrpc/index.js';
import { task, events_ttrpc, runtimeoptions, google_protobuf, packAny } from '../../proto/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LAUNCHER = join(REPO, 'bin', 'containerd-shim-tsrun-v2');
const STATE_ROOT = '/run/containerd/tsrun';

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
/** The processes that hold a unix socket path open (the shim serving it). */
function holders(path: string): number[] {
  const out = spawnSync('fuser', [path], { encoding: 'utf8' }).stdout.trim();
  return out ? out.split(/\s+/).map(Number) : [];
}

describe('containerd-shim-tsrun-v2: one shim per group, its lifetime', { skip: needsRoot }, () => {
  const dir = needsRoot ? '' : mkdtempSync(join(tmpdir(), 'tsrun-shim-group-'));
  const fakeContainerd = join(dir, 'containerd.sock');
  const namespaces: string[] = [];
  const clients: TtrpcClient[] = [];
  const daemons = new Map<number, string>();
  let events: TtrpcServer;
  /** the topics the shims published, with the container each names */
  const forwarded: { topic: string; id: string }[] = [];

  before(async () => {
    events = new TtrpcServer().register(events_ttrpc.Events, {
      Forward: (req: { envelope?: { topic: string; event?: { value: Uint8Array } } }) => {
        const value = Buffer.from(req.envelope?.event?.value ?? []);
        forwarded.push({ topic: req.envelope?.topic ?? '', id: value.includes(Buffer.from('gd')) ? value.toString('latin1') : '' });
        return {};
      },
    });
    await events.listen(`${fakeContainerd}.ttrpc`);
  });

  after(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    for (const [pid, address] of daemons) if (alive(pid)) killShim(pid, address);
    await events?.close({ force: true });
    for (const ns of namespaces) rmSync(join(STATE_ROOT, ns), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  const newNamespace = () => { const ns = uniqueId('tsrun-group'); namespaces.push(ns); return ns; };
  const newBundle = (id: string, annotations?: Record<string, string>, args = ['/bin/true']) => {
    const bundle = join(dir, id);
    renameSync(makeBundle((c) => { c.process.args = args; c.process.terminal = false; if (annotations) c.annotations = annotations; }), bundle);
    return bundle;
  };
  const env = (extra: Record<string, string> = {}) => {
    const e: NodeJS.ProcessEnv = { ...process.env, TTRPC_ADDRESS: `${fakeContainerd}.ttrpc`, ...extra };
    delete e.NODE_EXTRA_CA_CERTS;
    return e;
  };
  /** containerd's `start` for container `id`: the address it prints. */
  const start = (ns: string, id: string, bundle: string, extraEnv?: Record<string, string>, options?: string): Promise<string> => new Promise((resolve, reject) => {
    const p = spawn(LAUNCHER, ['-namespace', ns, '-address', fakeContainerd, '-publish-binary', '/bin/false', '-id', id, 'start'], { cwd: bundle, env: env(extraEnv), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    // the runtime options on stdin, as containerd 2.x writes them (a tsrun options file's text)
    p.stdin.end(options === undefined ? '' : google_protobuf.Any.encode(packAny(runtimeoptions.Options, { config_path: 'tsrun.toml', config_body: Buffer.from(options) })));
    // 'close', not 'exit': the output may still be on its way when the process is gone
    p.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`start ${id}: ${code}: ${err}`))));
  });
  const socketOf = (address: string) => address.replace(/^unix:\/\//, '');
  const daemonOf = (address: string) => {
    const pids = holders(socketOf(address));
    assert.equal(pids.length, 1, `one process serves ${address}: ${pids}`);
    daemons.set(pids[0], address);
    return pids[0];
  };
  /** containerd's connection for one container: Create, Start, Wait, Delete of /bin/true. */
  const connect = async (address: string, ns: string) => {
    const client = await TtrpcClient.connect(address);
    clients.push(client);
    const call = (method: string, req: object) => client.call(task.Task, method as never, req as never, { metadata: { 'containerd-namespace-ttrpc': ns } } as never) as Promise<any>;
    return {
      call,
      async run(id: string, bundle: string) {
        await call('Create', { id, bundle });
        await call('Start', { id });
        assert.equal((await call('Wait', { id })).exit_status, 0);
        await call('Delete', { id });
      },
      shutdown: (id: string) => call('Shutdown', { id }).catch(() => undefined),
    };
  };
  const assertGone = async (pid: number, address: string) => {
    for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
    assert.equal(alive(pid), false, `the shim ${pid} exits with its group's last container`);
    const sock = socketOf(address);
    for (const f of [sock, `${sock}.ctl`, `${sock}.lock`]) assert.equal(existsSync(f), false, `${f} left behind`);
  };

  test('a container whose start was answered keeps the shim alive through the last container\'s Shutdown', async () => {
    const ns = newNamespace();
    const [a, b] = [uniqueId('ga'), uniqueId('gb')];
    const [bundleA, bundleB] = [newBundle(a), newBundle(b)];
    const address = await start(ns, a, bundleA);
    const shim = daemonOf(address);
    const ca = await connect(address, ns);
    await ca.run(a, bundleA);
    // b's start is answered with the same shim; containerd has not sent its Create yet
    assert.equal(await start(ns, b, bundleB), address);
    await ca.shutdown(a);
    await sleep(500);
    assert.ok(alive(shim), 'the shim stays for the container whose start it answered');
    const cb = await connect(address, ns);
    await cb.run(b, bundleB);
    assert.equal(daemonOf(address), shim, 'the same shim served both');
    await cb.shutdown(b);
    await assertGone(shim, address);
    assertNothingLeft(join(STATE_ROOT, ns), a, bundleA);
    assertNothingLeft(join(STATE_ROOT, ns), b, bundleB);
  });

  test('starts racing for a group with no shim bring up exactly one, which serves them all', async () => {
    const ns = newNamespace();
    const ids = Array.from({ length: 6 }, () => uniqueId('gr'));
    const bundles = ids.map((id) => newBundle(id));
    const addresses = await Promise.all(ids.map((id, i) => start(ns, id, bundles[i])));
    assert.equal(new Set(addresses).size, 1, `one address: ${addresses}`);
    const address = addresses[0];
    const shim = daemonOf(address);
    const shims = spawnSync('pgrep', ['-f', `tsrun-shim.cjs -namespace ${ns} `], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
    assert.deepEqual(shims.map(Number), [shim], 'no second shim for the group');
    const conns = await Promise.all(ids.map(() => connect(address, ns)));
    await Promise.all(ids.map((id, i) => conns[i].run(id, bundles[i])));
    for (const [i, id] of ids.entries()) await conns[i].shutdown(id);
    await assertGone(shim, address);
    for (const [i, id] of ids.entries()) assertNothingLeft(join(STATE_ROOT, ns), id, bundles[i]);
  });

  test('a container containerd gave up on is released by the `delete` action: killed, gone without events, and the shim exits with it', async () => {
    const ns = newNamespace();
    const [a, b] = [uniqueId('gda'), uniqueId('gdb')];
    const [bundleA, bundleB] = [newBundle(a, undefined, ['sleep', '1000']), newBundle(b)];
    const address = await start(ns, a, bundleA);
    const shim = daemonOf(address);
    const ca = await connect(address, ns);
    await ca.call('Create', { id: a, bundle: bundleA });
    const { pid } = await ca.call('Start', { id: a });
    assert.ok(alive(pid));
    // b comes and goes in the meantime: the shim keeps serving a
    assert.equal(await start(ns, b, bundleB), address);
    await (await connect(address, ns)).run(b, bundleB);
    await ca.shutdown(b);
    // containerd took the shim for dead (1.7's idle gRPC connection): no Delete, no Shutdown, only `delete`
    const del = spawnSync(LAUNCHER, ['-namespace', ns, '-address', fakeContainerd, '-publish-binary', '/bin/false', '-id', a, '-bundle', bundleA, 'delete'], { cwd: bundleA, env: env() });
    assert.equal(del.status, 0, del.stderr.toString());
    assert.equal(task.DeleteResponse.decode(del.stdout).pid, pid);
    assert.equal(alive(pid), false, 'the container\'s process is gone once `delete` answers');
    await assertGone(shim, address);
    assertNothingLeft(join(STATE_ROOT, ns), a, bundleA);
    assertNothingLeft(join(STATE_ROOT, ns), b, bundleB);
    const ofA = forwarded.filter((e) => e.id.includes(a)).map((e) => e.topic);
    assert.deepEqual(ofA, ['/tasks/create', '/tasks/start'], 'nothing is published of a released task');
  });

  test('a shim runs a container without node:net, the stream modules, node:cluster, node:child_process or node:dgram (libuv\'s handles: less for a new shim to load)', async () => {
    const ns = newNamespace();
    const id = uniqueId('gm');
    const bundle = newBundle(id);
    // Node's own list of what it loaded, written as the shim exits
    const preload = join(dir, 'module-list.cjs');
    const list = join(dir, `modules-${id}`);
    writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join('\\n')));\n`);
    const address = await start(ns, id, bundle, { NODE_OPTIONS: `--require ${preload}` });
    const shim = daemonOf(address);
    const c = await connect(address, ns);
    await c.run(id, bundle);
    await c.shutdown(id);
    await assertGone(shim, address);
    const loaded = readFileSync(list, 'utf8').split('\n');
    assert.ok(loaded.includes('Internal Binding pipe_wrap'), 'the list is Node\'s');
    for (const m of ['net', 'stream', 'cluster', 'child_process', 'dgram', 'tty']) assert.ok(!loaded.includes(`NativeModule ${m}`), `node:${m} was loaded`);
    assertNothingLeft(join(STATE_ROOT, ns), id, bundle);
  });

  test('a shim whose container never arrives exits when the reservation runs out', async () => {
    const ns = newNamespace();
    const id = uniqueId('gx');
    const bundle = newBundle(id);
    const address = await start(ns, id, bundle, { TSRUN_SHIM_RESERVE_MS: '300' });
    const shim = daemonOf(address);
    await assertGone(shim, address);
    assertNothingLeft(join(STATE_ROOT, ns), id, bundle);
  });

  test('shim_group: one shim per namespace by default, per pod (the runc shim\'s annotations) or per container by option', async () => {
    const ns = newNamespace();
    const quick = { TSRUN_SHIM_RESERVE_MS: '1500' };
    const pod = (p: string) => ({ 'io.kubernetes.cri.sandbox-id': p });
    const launch = async (options: string | undefined, annotations: Record<string, string>[]) => {
      const addresses: string[] = [];
      const shims = new Map<string, number>();
      for (const a of annotations) {
        const id = uniqueId('gg');
        const address = await start(ns, id, newBundle(id, a), quick, options);
        addresses.push(address);
        if (!shims.has(address)) shims.set(address, daemonOf(address));
      }
      // no Create follows: each shim goes when its reservations run out
      for (const [address, pid] of shims) await assertGone(pid, address);
      return addresses.map((a) => addresses.indexOf(a));
    };
    assert.deepEqual(await launch(undefined, [pod('p1'), pod('p2'), {}]), [0, 0, 0], 'the namespace by default');
    assert.deepEqual(await launch('shim_group = "namespace"\n', [pod('p1'), pod('p2')]), [0, 0]);
    assert.deepEqual(await launch('shim_group = "pod"\n', [pod('p1'), pod('p1'), pod('p2'), { 'io.containerd.runc.v2.group': 'g' }, { 'io.containerd.runc.v2.group': 'g', ...pod('p1') }, {}]), [0, 0, 2, 3, 3, 5]);
    assert.deepEqual(await launch('ShimGroup = "container"\n', [pod('p1'), pod('p1')]), [0, 1]);
    const id = uniqueId('gg');
    await assert.rejects(start(ns, id, newBundle(id), quick, 'shim_group = "node"\n'), /shim_group must be "namespace", "pod" or "container", not "node"/);
  });
});
