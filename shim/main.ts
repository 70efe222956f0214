// containerd-shim-tsrun-v2's Node side. `start` (and `delete` of a container that is already
// gone) are answered by the C launcher (native/shim-launcher.c) without Node; it runs this for
// the daemon (no action: fd 3 is the listening socket it bound), for `delete`, `-info` and `-v`.
import { mark, writeTiming } from '../runtime/timing.js';
import { openSync, closeSync, writeSync, readFileSync, unlinkSync, rmSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { Runtime, becomeChildSubreaper } from '../runtime/index.js';
import { loadState } from '../runtime/container/state.js';
import { featuresDocument } from '../runtime/cli/features.js';
import { task, types, TaskV3, shim_group, packJsonAny, timestampNow, OCI_FEATURES_TYPE_URL } from '../proto/index.js';
import { TtrpcServer, TtrpcClient, TtrpcError, Code } from './ttrpc/index.js';
import { connectUnix } from './ttrpc/transport.js';
import { EventPublisher } from './events.js';
import { TaskService, savedRuntimeOptions } from './service.js';
import { unmountRootfs } from './rootfs.js';
import { ShimLifetime } from './lifetime.js';
import { tryLockExclusive } from './sys.js';
import { preferUvHandles } from '../runtime/container/uv.js';
import { enableCgroupMigrationWarmUp } from '../runtime/cgroups/migration-warm.js';
import { faultPoint } from '../runtime/fault.js';

declare const TSRUN_VERSION: string;
declare const TSRUN_COMMIT: string;

interface Flags { namespace: string; address: string; id: string; bundle: string; debug: boolean; action: string; version: boolean; info: boolean }

function parseFlags(argv: string[]): Flags {
  const f: Flags = { namespace: '', address: '', id: '', bundle: '', debug: false, action: '', version: false, info: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i].replace(/^--?/, '');
    const [name, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i] ?? '';
    if (!argv[i].startsWith('-')) { f.action = argv[i]; continue; }
    switch (name) {
      case 'namespace': f.namespace = value(); break;
      case 'address': f.address = value(); break;
      case 'id': f.id = value(); break;
      case 'bundle': f.bundle = value(); break;
      case 'debug': f.debug = true; break;
      case 'v': f.version = true; break;
      case 'info': f.info = true; break;
      case 'publish-binary': case 'socket': case 'debug-socket': value(); break;
      default: break;
    }
  }
  return f;
}

/** The `delete` subcommand: containerd cleaning up after a shim that is gone (or done). */
async function deleteCommand(f: Flags): Promise<void> {
  // the recovery after a shim a fault build killed (test/fault/shim-fault) must itself run through
  delete process.env.TSRUN_FAULT_AT;
  const bundle = f.bundle || process.cwd();
  const saved = savedRuntimeOptions(bundle);
  let pid = 0;
  if (saved) try { pid = loadState(saved.root, f.id).pid; } catch { /* never made or gone */ }
  const socket = groupSocketOf(bundle);
  // a shim still serving the container (containerd took it for dead) lets it go itself
  if (socket) await releaseFromShim(socket, f.id);
  if (saved) {
    const rt = new Runtime({ root: saved.root, systemdCgroup: saved.systemdCgroup });
    try { await rt.container(f.id).delete({ force: true }); } catch { /* gone: nothing to do */ }
    rt.close();
  }
  unmountRootfs(join(bundle, 'rootfs'));
  try { unlinkSync(join(bundle, 'options.json')); } catch { /* gone */ }
  if (socket) await removeDeadSocket(socket);
  process.stdout.write(task.DeleteResponse.encode({ pid, exit_status: pid ? 137 : 0, exited_at: timestampNow() }));
}

/** The group shim's socket that B/address names (a unix:// address, or start's JSON reply for gRPC). */
function groupSocketOf(bundle: string): string | undefined {
  let address: string;
  try { address = readFileSync(join(bundle, 'address'), 'utf8').trim(); } catch { return undefined; }
  if (address.startsWith('{')) {
    try { address = String(JSON.parse(address).address ?? ''); } catch { return undefined; }
  }
  const path = address.replace(/^unix:\/\//, '');
  return path.startsWith('/run/containerd/s/') ? path : undefined;
}

/** Asks the shim listening beside `socket` to release container `id`; nobody there is no error. */
async function releaseFromShim(socket: string, id: string): Promise<void> {
  let client: TtrpcClient | undefined;
  try {
    client = await TtrpcClient.connect(`${socket}.ctl`);
    await client.call(shim_group.Group, 'Release', { id }, { timeoutMs: 30_000 });
  } catch { /* no shim, or it does not serve id: the container is cleaned up below */ } finally {
    await client?.close().catch(() => undefined);
  }
}

/** A shim that was killed leaves its socket: gone once nobody accepts there. */
async function removeDeadSocket(path: string): Promise<void> {
  const accepts = () => connectUnix(path).then((c) => { c.destroy(); return true; }, () => false);
  if (await accepts()) return;
  // under the group's lock, as a shim exiting removes them: a `start` may be deciding to bind anew
  const lock = `${path}.lock`;
  let fd = -1;
  try { fd = openSync(lock, 'r+'); } catch { /* no lock file */ }
  try {
    for (let i = 0; fd >= 0 && !tryLockExclusive(fd, lock); i++) {
      if (i === 200) return; // a start holds it: it will bind the group's socket anew itself
      await new Promise((r) => setTimeout(r, 5));
    }
    // a start that held the lock may have bound them anew
    if (await accepts()) return;
    for (const f of [path, `${path}.ctl`, lock]) rmSync(f, { force: true });
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

function infoCommand(): void {
  process.stdout.write(types.RuntimeInfo.encode({
    name: 'io.containerd.tsrun.v2',
    version: { version: TSRUN_VERSION, revision: TSRUN_COMMIT },
    features: packJsonAny(OCI_FEATURES_TYPE_URL, featuresDocument()),
  }));
}

async function daemon(f: Flags): Promise<void> {
  // creates here are on containerd's path: see runtime/cgroups/migration-warm.ts
  enableCgroupMigrationWarmUp();
  // The bundle's `log` is a FIFO containerd reads into its own log: ours goes there.
  let logFd = -1;
  try { logFd = openSync('log', fsc.O_RDWR | fsc.O_NONBLOCK); } catch { /* no log FIFO (tests) */ }
  const log = (msg: string) => {
    if (logFd < 0) return;
    try { writeSync(logFd, `time="${new Date().toISOString()}" level=info msg=${JSON.stringify(msg)} runtime=io.containerd.tsrun.v2\n`); } catch { /* full: dropped */ }
  };
  // a shim that dies before it serves (test/fault/shim-fault): containerd's `delete` removes its sockets
  faultPoint('shim-daemon:1');
  becomeChildSubreaper();
  // koffi is loaded by now (the peer credentials of the first connection need it too)
  mark('subreaper');
  const publisher = new EventPublisher({ address: process.env.TTRPC_ADDRESS || `${f.address}.ttrpc`, log });
  let server: { listenFd(fd: number): Promise<void>; close(): Promise<void> } | undefined;
  let control: TtrpcServer | undefined;
  const socket = process.env.TSRUN_SHIM_SOCKET;
  const controlSocket = process.env.TSRUN_SHIM_CONTROL;
  const lifetime = new ShimLifetime({
    size: () => service.size,
    reserveMs: Number(process.env.TSRUN_SHIM_RESERVE_MS) || 60_000,
    lockPath: process.env.TSRUN_SHIM_LOCK,
    paths: [socket, controlSocket].filter((p): p is string => !!p),
    tryLock: tryLockExclusive,
    log,
    exit: async () => {
      mark('shutdown');
      await control?.close().catch(() => undefined);
      await server?.close().catch(() => undefined);
      mark('server-closed');
      await publisher.close().catch(() => undefined);
      mark('events-flushed');
      writeTiming(process.argv.slice(2));
      process.exit(0);
    },
  });
  const service = new TaskService({
    namespace: f.namespace, publisher, log,
    onShutdown: () => lifetime.shutdown(),
    onShutdownOf: (id) => lifetime.settled(id, false),
    onCreateSettled: (id, created) => lifetime.settled(id, created),
  });
  mark('service');
  // the container whose start launched this shim
  if (f.id) lifetime.reserve(f.id);
  const impl = process.env.TSRUN_TIMING ? timed(service.impl) : service.impl;
  const grpc = process.env.TSRUN_SHIM_PROTOCOL === 'grpc';
  if (grpc) {
    // selected by a tsrun options file (`protocol = "grpc"`); start told containerd so (bootstrap version 2 for 1.7, 3 for 2.x: both call task v3)
    // bin/tsrun-shim-grpc.cjs beside this file (scripts/build.mjs keeps it apart)
    const { GrpcServer } = require('./grpc.js') as typeof import('./grpc.js');
    server = (await GrpcServer.create(log)).register(TaskV3, impl).register(task.Task, impl);
  } else {
    server = new TtrpcServer({ log }).register(task.Task, impl).register(TaskV3, impl);
  }
  process.on('SIGTERM', () => void lifetime.terminate());
  process.on('SIGINT', () => void lifetime.terminate());
  if (controlSocket) {
    control = new TtrpcServer({ log }).register(shim_group.Group, {
      Reserve: (req: shim_group.ReserveRequest) => { lifetime.reserve(req.id); return {}; },
      Release: async (req: shim_group.ReleaseRequest) => {
        if (!await service.release(req.id)) throw new TtrpcError(Code.NotFound, `container ${req.id}: not served here`);
        return {};
      },
    });
    await control.listenFd(4);
  }
  await server.listenFd(3);
  mark('listening');
  log(`tsrun shim serving namespace ${f.namespace} over ${grpc ? 'gRPC' : 'ttrpc'} (pid ${process.pid})`);
}

/** With TSRUN_TIMING (bench/containerd-shim.mjs): each call's arrival and answer marked, named `Method<` and `Method>`. */
function timed<T extends object>(impl: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(impl)) {
    out[name] = async (...args: unknown[]) => {
      mark(`${name}<`);
      try { return await (fn as (...a: unknown[]) => unknown)(...args); } finally { mark(`${name}>`); }
    };
  }
  return out as T;
}

async function main(): Promise<void> {
  mark('evaluated');
  // libuv's process and pipe handles for the executor, the exec FIFO, the ttrpc sockets and the
  // stdio copies, as the CLI: node:net brings the stream machinery, and its first listen
  // node:cluster, node:child_process and node:dgram, ~4 ms of a new shim before its first Create
  // (and Start's blocking FIFO open would start the thread pool). Without them in this Node, the
  // public modules as before.
  preferUvHandles();
  const f = parseFlags(process.argv.slice(2));
  if (f.version) {
    process.stdout.write(`containerd-shim-tsrun-v2:\n  Version:  ${TSRUN_VERSION}\n  Revision: ${TSRUN_COMMIT}\n  Go version: none (Node ${process.version})\n`);
    return;
  }
  if (f.info) {
    // the runtime options arrive on stdin; tsrun's features do not depend on them
    try { readFileSync(0); } catch { /* no stdin */ }
    return infoCommand();
  }
  if (f.action === 'delete') return deleteCommand(f);
  if (f.action === 'start') {
    process.stderr.write('containerd-shim-tsrun-v2: `start` is handled by the launcher (bin/containerd-shim-tsrun-v2)\n');
    process.exit(1);
  }
  if (f.action) {
    process.stderr.write(`containerd-shim-tsrun-v2: unknown action ${f.action}\n`);
    process.exit(1);
  }
  await daemon(f);
}

main().catch((err) => {
  process.stderr.write(`containerd-shim-tsrun-v2: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
