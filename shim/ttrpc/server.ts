// A ttrpc server (containerd/ttrpc server.go) over unix sockets: unary calls, served
// concurrently and answered in whatever order they finish, with the protocol errors answered as
// Go's server answers them. Streaming calls are not offered (task v2 and v3 need none).
import { unlinkSync } from 'node:fs';
import { Request, Response } from '../../proto/generated/ttrpc.js';
import { ProtoError, type MethodType, type ServiceType } from '../../proto/runtime.js';
import { SERVICES, type ServiceName } from '../../proto/services.js';
import { peerCred, type PeerCred } from '../../runtime/sys/peercred.js';
import { connFd, listenUnix, type Conn, type Listener } from './transport.js';
import { encodeFrame, FrameDecoder, MAX_MESSAGE_LENGTH, MessageType, oversizeMessage, type Frame } from './frame.js';
import { Code, statusFromError, TtrpcError } from './status.js';

/** The namespace containerd puts in request metadata (pkg/namespaces/ttrpc.go). */
export const NAMESPACE_METADATA_KEY = 'containerd-namespace-ttrpc';

export interface CallContext {
  service: string;
  method: string;
  /** Request metadata, as Go's ttrpc.MD: every key with its values in order. */
  metadata: Record<string, string[]>;
  /** The containerd namespace from the metadata, if any. */
  namespace: string | undefined;
  /**
   * Aborted when the request's timeout_nano passes or the connection closes; its reason is a
   * TtrpcError (DeadlineExceeded or Canceled), so `throw ctx.signal.reason` answers as Go's ctx.Err().
   */
  signal: AbortSignal;
  /** The caller's credentials (undefined if they could not be read). */
  peer: PeerCred | undefined;
}

type ReqOf<M> = M extends MethodType<infer Req, any, any, any> ? Req : never;
type ResInitOf<M> = M extends MethodType<any, any, any, infer ResInit> ? ResInit : never;

/** Handlers for a service's methods; a method left out answers Unimplemented. */
export type ServiceImpl<S extends ServiceType> = {
  [K in keyof S['methods']]?: (request: ReqOf<S['methods'][K]>, ctx: CallContext) => ResInitOf<S['methods'][K]> | Promise<ResInitOf<S['methods'][K]>>;
};

export interface ServerOptions {
  /** Refuse peers whose SO_PEERCRED uid or gid differs from ours (default true, as containerd's shims). */
  requireSameUser?: boolean;
  /** Where diagnostics go (refused peers, write failures); default: nowhere. */
  log?: (message: string) => void;
}

interface Registered {
  method: MethodType;
  handler: (request: any, ctx: CallContext) => unknown;
}

export class TtrpcServer {
  private services = new Map<string, Map<string, Registered | null>>();
  private listeners: Listener[] = [];
  private connections = new Set<ServerConnection>();
  private readonly requireSameUser: boolean;
  readonly log: (message: string) => void;
  private closing = false;

  constructor(options: ServerOptions = {}) {
    this.requireSameUser = options.requireSameUser ?? true;
    this.log = options.log ?? (() => {});
  }

  /**
   * Serves a service: `server.register(task.Task, { Create: async (req, ctx) => ({ pid }) })`, or by
   * name for the services proto/services.ts knows: `server.register('containerd.task.v3.Task', impl)`.
   */
  register<S extends ServiceType>(service: S, impl: ServiceImpl<S>): this;
  register<N extends ServiceName>(name: N, impl: ServiceImpl<(typeof SERVICES)[N]>): this;
  register(serviceOrName: ServiceType | string, impl: object): this {
    const service = typeof serviceOrName === 'string' ? (SERVICES as Record<string, ServiceType>)[serviceOrName] : serviceOrName;
    if (!service) throw new Error(`ttrpc: unknown service ${String(serviceOrName)}`);
    if (this.services.has(service.name)) throw new Error(`ttrpc: service ${service.name} registered twice`);
    const methods = new Map<string, Registered | null>();
    for (const [name, method] of Object.entries(service.methods)) {
      const handler = (impl as Record<string, Registered['handler'] | undefined>)[name];
      methods.set(name, handler ? { method, handler: handler.bind(impl) } : null);
    }
    for (const name of Object.keys(impl)) {
      if (!methods.has(name)) throw new Error(`ttrpc: ${service.name} has no method ${name}`);
    }
    this.services.set(service.name, methods);
    return this;
  }

  /** Listens on a unix socket path (which must not exist). */
  listen(path: string): Promise<void> {
    return this.serve({ path });
  }

  /** Serves an already-listening socket fd, e.g. the one a shim's `start` bound and passed as fd 3. */
  listenFd(fd: number): Promise<void> {
    return this.serve({ fd });
  }

  private async serve(how: { path: string } | { fd: number }): Promise<void> {
    const listener = await listenUnix(how, (conn) => this.accept(conn), (err) => this.log(`ttrpc: listener: ${err.message}`));
    this.listeners.push(listener);
  }

  /** Serves one connected socket (what `listen` does for each connection it accepts). */
  accept(socket: Conn): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    let peer: PeerCred | undefined;
    try {
      const fd = connFd(socket);
      if (fd >= 0) peer = peerCred(fd);
    } catch (err) {
      this.log(`ttrpc: reading peer credentials: ${(err as Error).message}`);
    }
    if (this.requireSameUser) {
      const uid = process.geteuid!();
      const gid = process.getegid!();
      if (!peer || peer.uid !== uid || peer.gid !== gid) {
        this.log(`ttrpc: refused peer ${peer ? `pid ${peer.pid} uid ${peer.uid} gid ${peer.gid}` : 'with unknown credentials'}: ttrpc: invalid credentials`);
        socket.destroy();
        return;
      }
    }
    const conn = new ServerConnection(this, socket, peer);
    this.connections.add(conn);
    socket.once('close', () => this.connections.delete(conn));
  }

  /** @internal */
  lookup(service: string, method: string): Registered | { code: number; message: string } {
    const methods = this.services.get(service);
    if (!methods) return { code: Code.Unimplemented, message: `service ${service}` };
    const m = methods.get(method);
    if (!m) return { code: Code.Unimplemented, message: `method ${method}` };
    return m;
  }

  /** Number of open connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Stops accepting; each connection closes once its calls in progress have been answered (as Go's
   * Shutdown). With `force`, connections close at once and calls in progress are aborted.
   */
  async close(options: { force?: boolean; unlink?: string } = {}): Promise<void> {
    this.closing = true;
    // a net.Server calls back only once its connections are gone, so those go first
    const listeners = this.listeners.map((l) => new Promise<void>((resolve) => l.close(() => resolve())));
    this.listeners = [];
    if (options.unlink) {
      try { unlinkSync(options.unlink); } catch { /* already gone */ }
    }
    await Promise.all([...this.connections].map((c) => c.shutdown(!!options.force)));
    await Promise.all(listeners);
  }
}

class ServerConnection {
  private decoder = new FrameDecoder();
  private lastStreamId = 0;
  private active = new Map<number, AbortController>();
  private closed = false;
  private draining: (() => void) | undefined;

  constructor(private server: TtrpcServer, private socket: Conn, private peer: PeerCred | undefined) {
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = this.decoder.push(chunk);
      } catch (err) {
        server.log(`ttrpc: ${(err as Error).message}`);
        socket.destroy();
        return;
      }
      for (const f of frames) this.onFrame(f);
    });
    socket.on('error', (err) => server.log(`ttrpc: connection: ${err.message}`));
    socket.on('close', () => {
      this.closed = true;
      for (const ac of this.active.values()) ac.abort(new TtrpcError(Code.Canceled, 'context canceled'));
      this.active.clear();
      this.draining?.();
    });
    socket.resume();
  }

  private onFrame(f: Frame): void {
    if (f.payload === undefined) return this.sendStatus(f.streamId, Code.ResourceExhausted, oversizeMessage(f.length));
    if (f.streamId % 2 !== 1) return this.sendStatus(f.streamId, Code.InvalidArgument, 'StreamID must be odd for client initiated streams');
    if (f.type === MessageType.Data) return this.sendStatus(f.streamId, Code.InvalidArgument, 'StreamID is no longer active');
    if (f.type !== MessageType.Request) return; // ignored for compatibility with future message types, as Go does
    if (f.streamId <= this.lastStreamId) return this.sendStatus(f.streamId, Code.InvalidArgument, 'StreamID cannot be re-used and must increment');
    this.lastStreamId = f.streamId;
    if (this.draining) return this.sendStatus(f.streamId, Code.Unavailable, 'ttrpc: server closed');
    let req: Request;
    try {
      req = Request.decode(f.payload);
    } catch (err) {
      return this.sendStatus(f.streamId, Code.InvalidArgument, `unmarshal request error: ${(err as Error).message}`);
    }
    const found = this.server.lookup(req.service, req.method);
    if (!('handler' in found)) return this.sendStatus(f.streamId, found.code, found.message);
    void this.call(f.streamId, req, found);
  }

  private async call(streamId: number, req: Request, { method, handler }: Registered): Promise<void> {
    const ac = new AbortController();
    this.active.set(streamId, ac);
    let timer: NodeJS.Timeout | undefined;
    if (req.timeout_nano > 0n) {
      const ms = Number(req.timeout_nano / 1_000_000n);
      timer = setTimeout(() => ac.abort(new TtrpcError(Code.DeadlineExceeded, 'context deadline exceeded')), Math.min(ms, 2 ** 31 - 1));
    }
    const metadata: Record<string, string[]> = {};
    for (const kv of req.metadata) (metadata[kv.key] ??= []).push(kv.value);
    const ctx: CallContext = {
      service: req.service, method: req.method, metadata, namespace: metadata[NAMESPACE_METADATA_KEY]?.[0], signal: ac.signal, peer: this.peer,
    };
    let payload: Buffer | undefined;
    let status: { code: number; message: string; details?: { type_url: string; value: Uint8Array }[] } | undefined;
    try {
      let request: unknown;
      try {
        request = method.request.decode(req.payload);
      } catch (err) {
        throw Object.assign(new Error(`ttrpc: error unmarshalling payload: ${(err as Error).message}`), { grpcCode: Code.Internal });
      }
      const result = await handler(request, ctx);
      try {
        payload = method.response.encode(result ?? {});
      } catch (err) {
        throw Object.assign(new Error(`ttrpc: error marshaling payload: ${(err as Error).message}`), { grpcCode: Code.Internal });
      }
    } catch (err) {
      status = statusFromError(err);
    } finally {
      if (timer) clearTimeout(timer);
      this.active.delete(streamId);
    }
    if (payload && payload.length + 16 > MAX_MESSAGE_LENGTH) {
      // Go's server drops the connection when a reply is too big to send; answering the call
      // with the error it would have logged serves the caller better.
      status = { code: Code.ResourceExhausted, message: oversizeMessage(payload.length) };
      payload = undefined;
    }
    this.respond(streamId, status ? { status } : { payload });
    if (this.draining && this.active.size === 0) this.close();
  }

  private sendStatus(streamId: number, code: number, message: string): void {
    this.respond(streamId, { status: { code, message } });
  }

  private respond(streamId: number, response: { status?: { code: number; message: string; details?: { type_url: string; value: Uint8Array }[] }; payload?: Buffer }): void {
    if (this.closed || this.socket.destroyed) return;
    let body: Buffer;
    try {
      body = Response.encode(response);
    } catch (err) {
      this.server.log(`ttrpc: encoding a response: ${(err as ProtoError).message}`);
      return;
    }
    this.socket.write(encodeFrame(streamId, MessageType.Response, 0, body));
  }

  /** Closes once the replies written so far have been flushed. */
  private close(): void {
    this.socket.end(() => this.socket.destroy());
  }

  shutdown(force: boolean): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.draining = resolve;
      if (force) {
        this.socket.destroy();
      } else if (this.active.size === 0) {
        this.close();
      }
    });
  }
}
