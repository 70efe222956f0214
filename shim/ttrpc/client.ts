// A ttrpc client (containerd/ttrpc client.go) over a unix socket: concurrent unary calls on one
// connection, odd stream ids going up by two, request metadata and timeouts. The shim uses it
// for containerd.services.events.ttrpc.v1.Events/Forward on $TTRPC_ADDRESS; the tests use it to
// drive shims.
import { Request, Response } from '../../proto/generated/ttrpc.js';
import type { MethodType, ServiceType } from '../../proto/runtime.js';
import { encodeFrame, FrameDecoder, MAX_MESSAGE_LENGTH, MessageType, oversizeMessage } from './frame.js';
import { Code, TtrpcClosedError, TtrpcError } from './status.js';
import { connectUnix, type Conn } from './transport.js';

export interface CallOptions {
  /** Sent as timeout_nano; the call fails with DeadlineExceeded locally when it passes. */
  timeoutMs?: number;
  /** Request metadata, e.g. `{ 'containerd-namespace-ttrpc': 'default' }`. */
  metadata?: Record<string, string | readonly string[]>;
  /** Abandons the call (Canceled); a late reply is dropped. */
  signal?: AbortSignal;
}

type ReqInitOf<M> = M extends MethodType<any, infer ReqInit, any, any> ? ReqInit : never;
type ResOf<M> = M extends MethodType<any, any, infer Res, any> ? Res : never;

interface Pending {
  resolve: (payload: Buffer) => void;
  reject: (err: Error) => void;
}

/** `unix:///path`, `ttrpc+unix:///path` or a plain path, to the socket path. */
export function socketPath(address: string): string {
  return address.replace(/^(ttrpc\+)?unix:\/\//, '');
}

export class TtrpcClient {
  private decoder = new FrameDecoder();
  private nextStreamId = 1;
  private pending = new Map<number, Pending>();
  private closedFlag = false;
  private closeListeners: (() => void)[] = [];

  /** Connects to a unix socket (`unix://` addresses accepted). */
  static async connect(address: string): Promise<TtrpcClient> {
    return new TtrpcClient(await connectUnix(socketPath(address)));
  }

  constructor(private socket: Conn) {
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.decoder.push(chunk)) {
        if (f.type !== MessageType.Response) continue; // data frames belong to streams, which this client does not open
        const p = this.pending.get(f.streamId);
        if (!p) continue;
        this.pending.delete(f.streamId);
        if (f.payload === undefined) {
          p.reject(new TtrpcError(Code.ResourceExhausted, oversizeMessage(f.length)));
          continue;
        }
        let resp: Response;
        try {
          resp = Response.decode(f.payload);
        } catch (err) {
          p.reject(new TtrpcError(Code.Internal, (err as Error).message));
          continue;
        }
        if (resp.status && resp.status.code !== Code.OK) p.reject(new TtrpcError(resp.status.code, resp.status.message, resp.status.details));
        else p.resolve(resp.payload);
      }
    });
    socket.on('error', () => { /* 'close' follows */ });
    socket.on('close', () => {
      this.closedFlag = true;
      const pending = [...this.pending.values()];
      this.pending.clear();
      for (const p of pending) p.reject(new TtrpcClosedError());
      for (const l of this.closeListeners.splice(0)) l();
    });
    socket.resume();
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Runs `listener` once the connection has closed (either side). */
  onClose(listener: () => void): void {
    if (this.closedFlag) listener();
    else this.closeListeners.push(listener);
  }

  /** A typed unary call: `client.call(Task, 'State', { id })` resolves to the decoded StateResponse. */
  async call<S extends ServiceType, K extends keyof S['methods'] & string>(
    service: S, method: K, request: ReqInitOf<S['methods'][K]>, options: CallOptions = {},
  ): Promise<ResOf<S['methods'][K]>> {
    const m = service.methods[method]!;
    const payload = await this.callRaw(service.name, method, m.request.encode(request), options);
    try {
      return m.response.decode(payload) as ResOf<S['methods'][K]>;
    } catch (err) {
      throw new TtrpcError(Code.Internal, (err as Error).message);
    }
  }

  /** A call with the payload already encoded; resolves to the reply's payload bytes. */
  callRaw(service: string, method: string, payload: Uint8Array, options: CallOptions = {}): Promise<Buffer> {
    if (this.closedFlag) return Promise.reject(new TtrpcClosedError());
    const metadata: { key: string; value: string }[] = [];
    for (const [key, values] of Object.entries(options.metadata ?? {})) {
      for (const value of typeof values === 'string' ? [values] : values) metadata.push({ key, value });
    }
    const body = Request.encode({
      service, method, payload, metadata,
      timeout_nano: options.timeoutMs ? BigInt(Math.round(options.timeoutMs * 1e6)) : 0n,
    });
    if (body.length > MAX_MESSAGE_LENGTH) return Promise.reject(new TtrpcError(Code.ResourceExhausted, oversizeMessage(body.length)));
    if (this.nextStreamId > 0xffffffff) return Promise.reject(new TtrpcError(Code.ResourceExhausted, 'ttrpc: stream ids exhausted'));
    const streamId = this.nextStreamId;
    this.nextStreamId += 2;
    return new Promise<Buffer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => settle(new TtrpcError(Code.Canceled, 'context canceled'));
      const settle = (err: Error | undefined, value?: Buffer) => {
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.pending.delete(streamId);
        if (err) reject(err);
        else resolve(value!);
      };
      this.pending.set(streamId, { resolve: (v) => settle(undefined, v), reject: (e) => settle(e) });
      if (options.timeoutMs) timer = setTimeout(() => settle(new TtrpcError(Code.DeadlineExceeded, 'context deadline exceeded')), options.timeoutMs);
      if (options.signal) {
        if (options.signal.aborted) return onAbort();
        options.signal.addEventListener('abort', onAbort, { once: true });
      }
      this.socket.write(encodeFrame(streamId, MessageType.Request, 0, body));
    });
  }

  /** Closes the connection; calls in flight fail with TtrpcClosedError. */
  close(): Promise<void> {
    if (this.closedFlag) return Promise.resolve();
    return new Promise((resolve) => {
      this.onClose(resolve);
      this.socket.destroy();
    });
  }
}
