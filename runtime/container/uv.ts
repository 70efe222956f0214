// libuv's process and pipe handles as Node's own child_process and net build on them, without
// loading those modules: node:child_process pulls in node:net, node:dgram and the stream
// machinery, ~5 ms of every `create` and `run`, for one spawn and one socket. These are the
// legacy process.binding() handles (the lock already binds its socket with pipe_wrap). A process
// whose start is on someone's path gains by them: the CLI and the containerd shim opt in
// (preferUvHandles); the library keeps the public modules. uvAvailable() also says whether this Node has the handles in the shape used
// here; if not, callers take child_process and node:net as before.
import { EventEmitter } from 'node:events';

interface WriteReq { handle: unknown; oncomplete: (status: number) => void; async: boolean }
interface ConnectReq { oncomplete: (status: number) => void; address?: string }
interface PipeHandle {
  onread: (this: PipeHandle, buf: ArrayBuffer | undefined) => void;
  onconnection: (status: number, client: PipeHandle | undefined) => void;
  readonly fd: number;
  open(fd: number): number;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteReq, data: Uint8Array): number;
  listen(backlog: number): number;
  connect(req: ConnectReq, path: string): number;
  close(cb?: () => void): void;
}
interface ProcessHandle {
  pid: number;
  onexit: (exitCode: number, signalCode: string | null) => void;
  spawn(options: object): number;
  kill(signal: number): number;
  close(): void;
}
interface Bindings {
  Process: new () => ProcessHandle;
  Pipe: new (type: number) => PipeHandle;
  SOCKET: number;
  SERVER: number;
  PipeConnectWrap: new () => ConnectReq;
  WriteWrap: new () => WriteReq;
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
  UV_EOF: number;
}

let bindings: Bindings | null | undefined;
let preferred = false;

/** The CLI's choice: one spawn and one socket do not justify loading child_process and net. */
export function preferUvHandles(): void {
  preferred = true;
}

function load(): Bindings | null {
  if (bindings !== undefined) return bindings;
  bindings = null;
  // process.binding() itself warns under --pending-deprecation: then the public modules it is.
  if (/pending-deprecation/.test(`${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`)) return null;
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, any> }).binding;
    const pw = binding('process_wrap');
    const pipe = binding('pipe_wrap');
    const sw = binding('stream_wrap');
    const uv = binding('uv');
    const ok = typeof pw.Process === 'function' && typeof pipe.Pipe === 'function' && typeof pipe.constants?.SOCKET === 'number'
      && typeof pipe.constants?.SERVER === 'number' && typeof pipe.PipeConnectWrap === 'function' && typeof sw.WriteWrap === 'function' && sw.streamBaseState instanceof Int32Array && typeof sw.kReadBytesOrError === 'number'
      && typeof sw.kArrayBufferOffset === 'number' && typeof sw.kLastWriteWasAsync === 'number' && typeof uv.UV_EOF === 'number';
    if (!ok) return null;
    bindings = {
      Process: pw.Process, Pipe: pipe.Pipe, SOCKET: pipe.constants.SOCKET, SERVER: pipe.constants.SERVER, PipeConnectWrap: pipe.PipeConnectWrap,
      WriteWrap: sw.WriteWrap, state: sw.streamBaseState,
      kReadBytesOrError: sw.kReadBytesOrError, kArrayBufferOffset: sw.kArrayBufferOffset, kLastWriteWasAsync: sw.kLastWriteWasAsync, UV_EOF: uv.UV_EOF,
    };
  } catch {
    bindings = null;
  }
  return bindings;
}

/** Whether to use spawnProcess() and UvPipe: preferred, and this Node has the handles. */
export function uvAvailable(): boolean {
  return preferred && load() !== null;
}

/** An errno as Node names it ("ENOENT"). */
function errnoError(err: number, syscall: string): NodeJS.ErrnoException {
  const util = require('node:util') as typeof import('node:util');
  let code: string;
  try { code = util.getSystemErrorName(err); } catch { code = `errno ${-err}`; }
  const e: NodeJS.ErrnoException = new Error(`${syscall} ${code}`);
  e.code = code;
  e.errno = err;
  e.syscall = syscall;
  return e;
}

/** Bytes queued for writing beyond which write() asks its caller to wait for 'drain' (net's default). */
const HIGH_WATER_MARK = 16 * 1024;

/**
 * A stream socket or a FIFO on a pipe handle: 'data' (Buffer) once resumed, 'error', then 'close'
 * once, at EOF, on a read or write error or after destroy(). Writes are queued by libuv in order;
 * write() returns false once HIGH_WATER_MARK bytes wait, and 'drain' follows when none do (as a
 * net.Socket, so that a copy can hold its reader back). A handle that is only written to (a FIFO
 * opened read-write to keep a reader on it) is never resumed: it would read its own output.
 */
export class UvPipe extends EventEmitter {
  private closed = false;
  private reading = false;
  private queuedBytes = 0;
  private needDrain = false;
  private ending: (() => void)[] | undefined;
  private readonly pending = new Set<WriteReq>();

  constructor(private readonly handle: PipeHandle) {
    super();
  }

  /** A pipe handle on an fd of ours (e.g. a FIFO), which it then owns. */
  static open(fd: number): UvPipe {
    const b = load();
    if (!b) throw new Error('libuv pipe handles are not available');
    const handle = new b.Pipe(b.SOCKET);
    const err = handle.open(fd);
    if (err) { handle.close(); throw errnoError(err, 'open'); }
    return new UvPipe(handle);
  }

  /** A connection to the unix socket at `path`. */
  static connect(path: string): Promise<UvPipe> {
    const b = load();
    if (!b) return Promise.reject(new Error('libuv pipe handles are not available'));
    return new Promise((resolve, reject) => {
      const handle = new b.Pipe(b.SOCKET);
      const req = new b.PipeConnectWrap();
      req.address = path;
      req.oncomplete = (status: number) => {
        if (status < 0) { handle.close(); reject(errnoError(status, `connect ${path}`)); return; }
        resolve(new UvPipe(handle));
      };
      const err = handle.connect(req, path);
      if (err) { handle.close(); reject(errnoError(err, `connect ${path}`)); }
    });
  }

  /** The fd under the handle (-1 once closed). */
  get fd(): number {
    return this.closed ? -1 : this.handle.fd;
  }

  get destroyed(): boolean {
    return this.closed;
  }

  /** Starts (or goes on) reading; data and the end come as events. */
  resume(): this {
    if (this.closed || this.reading) return this;
    const b = load()!;
    const self = this;
    this.handle.onread = function onread(buf) {
      const n = b.state[b.kReadBytesOrError];
      if (n > 0 && buf) {
        // A fresh ArrayBuffer for every read: the view needs no copy.
        self.emit('data', Buffer.from(buf, b.state[b.kArrayBufferOffset], n));
        return;
      }
      if (n === 0) return;
      if (n !== b.UV_EOF) self.emit('error', errnoError(n, 'read'));
      self.destroy();
    };
    this.reading = true;
    const err = this.handle.readStart();
    if (err) queueMicrotask(() => { this.emit('error', errnoError(err, 'read')); this.destroy(); });
    return this;
  }

  /** Stops reading until resume(). */
  pause(): this {
    if (this.closed || !this.reading) return this;
    this.reading = false;
    this.handle.readStop();
    return this;
  }

  /** Queues data; false when the caller should wait for 'drain' before writing more. */
  write(data: Uint8Array): boolean {
    if (this.closed || this.ending) return false;
    const b = load()!;
    const req = new b.WriteWrap();
    req.handle = this.handle;
    req.async = false;
    // The request keeps the buffer alive until libuv has written it.
    req.oncomplete = (status: number) => {
      this.pending.delete(req);
      this.queuedBytes -= data.length;
      if (status < 0) { this.fail(errnoError(status, 'write')); return; }
      this.settleWrites();
    };
    const err = this.handle.writeBuffer(req, data);
    if (err) { queueMicrotask(() => this.fail(errnoError(err, 'write'))); return false; }
    if (b.state[b.kLastWriteWasAsync]) {
      (req as WriteReq & { buffer?: Uint8Array }).buffer = data;
      this.pending.add(req);
      this.queuedBytes += data.length;
    }
    if (this.queuedBytes < HIGH_WATER_MARK) return true;
    this.needDrain = true;
    return false;
  }

  /** Closes once what was written has been handed to the kernel; `cb` runs at 'close'. */
  end(cb?: () => void): void {
    if (this.closed) { if (cb) queueMicrotask(cb); return; }
    (this.ending ??= []).push(...(cb ? [cb] : []));
    this.settleWrites();
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    const waiting = this.ending ?? [];
    this.handle.readStop();
    this.handle.close(() => {
      this.emit('close');
      for (const cb of waiting) cb();
    });
  }

  private settleWrites(): void {
    if (this.pending.size > 0) return;
    if (this.ending) { this.destroy(); return; }
    if (this.needDrain) { this.needDrain = false; this.emit('drain'); }
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.emit('error', err);
    this.destroy();
  }
}

/**
 * A listening unix socket on a pipe handle: `connection` gets each accepted peer as a UvPipe
 * (not yet resumed). What net.Server does for a listening fd, without net's modules (node:net
 * loads node:cluster, node:child_process and node:dgram on its first listen).
 */
export class UvServer {
  private closed = false;

  private constructor(private readonly handle: PipeHandle) {}

  /** Serves fd, a socket already bound (and listening or not), which the server then owns. */
  static listenFd(fd: number, connection: (peer: UvPipe) => void, onError: (err: Error) => void): UvServer {
    const b = load();
    if (!b) throw new Error('libuv pipe handles are not available');
    const handle = new b.Pipe(b.SERVER);
    let err = handle.open(fd);
    if (err) { handle.close(); throw errnoError(err, 'open'); }
    handle.onconnection = (status, client) => {
      if (status < 0 || !client) { onError(errnoError(status, 'accept')); return; }
      connection(new UvPipe(client));
    };
    err = handle.listen(511);
    if (err) { handle.close(); throw errnoError(err, 'listen'); }
    return new UvServer(handle);
  }

  close(cb?: () => void): void {
    if (this.closed) { if (cb) queueMicrotask(cb); return; }
    this.closed = true;
    this.handle.close(cb);
  }
}

/** The part of a ChildProcess the executor's runner uses. */
export interface SpawnedProcess extends EventEmitter {
  pid: number | undefined;
  exitCode: number | null;
  signalCode: NodeJS.Signals | null;
  stdio: Array<UvPipe | null>;
}

/** One of the child's fds: one of ours, the same fd of ours, /dev/null, or a new socket to us. */
export type UvStdio = number | 'inherit' | 'ignore' | 'pipe';

/**
 * Spawns as child_process.spawn does (the same libuv call with the same options): 'exit'
 * (code, signal) when it ends, 'error' when it could not start.
 */
export function spawnProcess(file: string, args: string[], stdio: UvStdio[], env: Record<string, string>): SpawnedProcess {
  const b = load();
  if (!b) throw new Error('libuv process handles are not available');
  const child = new EventEmitter() as SpawnedProcess;
  child.pid = undefined;
  child.exitCode = null;
  child.signalCode = null;
  const pipes: Array<PipeHandle | null> = stdio.map((s) => (s === 'pipe' ? new b.Pipe(b.SOCKET) : null));
  const options = stdio.map((s, i) => {
    if (s === 'ignore') return { type: 'ignore' };
    if (s === 'pipe') return { type: 'pipe', readable: true, writable: true, handle: pipes[i] };
    return { type: 'fd', fd: s === 'inherit' ? i : s };
  });
  const handle = new b.Process();
  handle.onexit = (exitCode, signalCode) => {
    handle.close();
    if (exitCode < 0) { child.emit('error', errnoError(exitCode, `spawn ${file}`)); return; }
    if (signalCode) child.signalCode = signalCode as NodeJS.Signals; else child.exitCode = exitCode;
    child.emit('exit', child.exitCode, child.signalCode);
  };
  const err = handle.spawn({
    file, args: [file, ...args], envPairs: Object.entries(env).map(([k, v]) => `${k}=${v}`), stdio: options,
    detached: false, windowsHide: false, windowsVerbatimArguments: false,
  });
  if (err) {
    for (const p of pipes) p?.close();
    handle.close();
    child.stdio = stdio.map(() => null);
    // As child_process: the error comes as an event, after the caller has listened.
    process.nextTick(() => child.emit('error', errnoError(err, `spawn ${file}`)));
    return child;
  }
  child.pid = handle.pid;
  child.stdio = pipes.map((p) => (p ? new UvPipe(p) : null));
  return child;
}

/** Everything readable from an fd of ours up to EOF, on the event loop (no thread); closes it. */
export function readToEnd(fd: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const pipe = UvPipe.open(fd);
    const chunks: Buffer[] = [];
    let failed: Error | undefined;
    pipe.on('data', (chunk: Buffer) => chunks.push(chunk));
    pipe.on('error', (err: Error) => { failed ??= err; });
    pipe.on('close', () => (failed ? reject(failed) : resolve(Buffer.concat(chunks))));
    pipe.resume();
  });
}
