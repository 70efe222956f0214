// The task service over gRPC (@grpc/grpc-js), the transport a tsrun options file may select
// (`protocol = "grpc"`): containerd 2.x then dials the shim with gRPC and task API v3. The
// handlers are the ttrpc ones (same CallContext, same errors); messages keep their compiled
// codecs, so grpc-js carries opaque bytes and no .proto is read. grpc-js is loaded only here,
// and this module only when the transport is selected: a ttrpc shim never pays for it.
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type * as GrpcJs from '@grpc/grpc-js';
import type { MethodType, ServiceType } from '../proto/runtime.js';
import { peerCred, socketFd, type PeerCred } from '../runtime/sys/peercred.js';
import { statusFromError, TtrpcError, Code, type CallContext } from './ttrpc/index.js';

/** The namespace containerd's gRPC clients put in metadata (pkg/namespaces/grpc.go). */
export const GRPC_NAMESPACE_METADATA_KEY = 'containerd-namespace';

type Handler = (request: any, ctx: CallContext) => unknown;

export class GrpcServer {
  private readonly server: GrpcJs.Server;
  private readonly injector: ReturnType<GrpcJs.Server['createConnectionInjector']>;
  private listener: NetServer | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly grpc: typeof GrpcJs, private readonly log: (msg: string) => void) {
    // containerd's limits for shim messages (16 MiB), above grpc-js's 4 MiB default for receiving
    this.server = new grpc.Server({ 'grpc.max_receive_message_length': 16 << 20, 'grpc.max_send_message_length': 16 << 20 });
    this.injector = this.server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  }

  static async create(log: (msg: string) => void = () => undefined): Promise<GrpcServer> {
    return new GrpcServer(await import('@grpc/grpc-js'), log);
  }

  /** Serves `service` with the handlers a TtrpcServer takes. */
  register(service: ServiceType, impl: object): this {
    const definition: Record<string, GrpcJs.MethodDefinition<unknown, unknown>> = {};
    const handlers: GrpcJs.UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(service.methods) as Array<[string, MethodType]>) {
      definition[name] = {
        path: `/${service.name}/${name}`,
        requestStream: false,
        responseStream: false,
        requestSerialize: (m: unknown) => Buffer.from(method.request.encode(m as object)),
        requestDeserialize: (b: Buffer) => method.request.decode(b),
        responseSerialize: (m: unknown) => Buffer.from(method.response.encode((m ?? {}) as object)),
        responseDeserialize: (b: Buffer) => method.response.decode(b),
      };
      const handler = (impl as Record<string, Handler | undefined>)[name]?.bind(impl);
      handlers[name] = (call: GrpcJs.ServerUnaryCall<unknown, unknown>, callback: GrpcJs.sendUnaryData<unknown>) => {
        if (!handler) {
          callback({ code: Code.Unimplemented, details: `method ${name}` });
          return;
        }
        const ac = new AbortController();
        call.on('cancelled', () => ac.abort(new TtrpcError(Code.Canceled, 'context canceled')));
        const deadline = call.getDeadline();
        let timer: NodeJS.Timeout | undefined;
        if (deadline instanceof Date || (typeof deadline === 'number' && Number.isFinite(deadline))) {
          const ms = Math.max(0, Number(deadline) - Date.now());
          timer = setTimeout(() => ac.abort(new TtrpcError(Code.DeadlineExceeded, 'context deadline exceeded')), Math.min(ms, 2 ** 31 - 1));
        }
        const metadata: Record<string, string[]> = {};
        for (const [k, v] of Object.entries(call.metadata.getMap())) metadata[k] = [String(v)];
        const ctx: CallContext = {
          service: service.name, method: name, metadata, namespace: metadata[GRPC_NAMESPACE_METADATA_KEY]?.[0], signal: ac.signal,
          peer: undefined, // checked at accept
        };
        Promise.resolve()
          .then(() => handler(call.request, ctx))
          .then((res) => callback(null, res ?? {}), (err) => {
            const s = statusFromError(err);
            callback({ code: s.code, details: s.message });
          })
          .finally(() => { if (timer) clearTimeout(timer); });
      };
    }
    this.server.addService(definition, handlers);
    return this;
  }

  /**
   * Serves the listening socket `start` bound (fd 3), refusing peers of another uid or gid as
   * the ttrpc server does.
   */
  listenFd(fd: number): Promise<void> {
    const listener = createServer((socket) => this.accept(socket));
    this.listener = listener;
    return new Promise((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ fd }, () => {
        listener.off('error', reject);
        listener.on('error', (err) => this.log(`grpc: listener: ${err.message}`));
        resolve();
      });
    });
  }

  private accept(socket: Socket): void {
    let peer: PeerCred | undefined;
    try {
      const fd = socketFd(socket);
      if (fd >= 0) peer = peerCred(fd);
    } catch (err) {
      this.log(`grpc: reading peer credentials: ${(err as Error).message}`);
    }
    if (!peer || peer.uid !== process.geteuid!() || peer.gid !== process.getegid!()) {
      this.log(`grpc: refused peer ${peer ? `pid ${peer.pid} uid ${peer.uid} gid ${peer.gid}` : 'with unknown credentials'}`);
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    this.injector.injectConnection(socket);
  }

  /** Stops accepting; calls in progress are answered first (up to `graceMs`). */
  async close(graceMs = 3000): Promise<void> {
    const listener = this.listener;
    this.listener = undefined;
    const closed = listener ? new Promise<void>((r) => listener.close(() => r())) : Promise.resolve();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { this.server.forceShutdown(); resolve(); }, graceMs);
      t.unref();
      this.server.tryShutdown(() => { clearTimeout(t); resolve(); });
    });
    this.injector.destroy();
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
