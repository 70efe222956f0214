// A Kubernetes CRI client for the tests: @grpc/grpc-js carrying tsrun's own codecs for the runtime.v1 messages
// (proto/schema/runtime.v1.schema), so that nothing parses a .proto file at run time.
import * as grpc from '@grpc/grpc-js';
import * as cri from '../../proto/generated/runtime.v1.js';

export { cri };

type Methods = typeof cri.RuntimeService.methods;
type Req<M extends keyof Methods> = Parameters<Methods[M]['request']['encode']>[0];
type Res<M extends keyof Methods> = ReturnType<Methods[M]['response']['decode']>;

/** A failed call: gRPC's status code and containerd's message. */
export class CriError extends Error {
  constructor(readonly code: number, readonly details: string) {
    super(`CRI error ${code}: ${details}`);
  }
}

export class CriClient {
  private readonly client: grpc.Client;

  constructor(socket: string) {
    this.client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
  }

  call<M extends keyof Methods>(method: M, request: Req<M>, timeoutMs = 60_000): Promise<Res<M>> {
    const m = cri.RuntimeService.methods[method];
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        `/${cri.RuntimeService.name}/${m.name}`,
        (value: Req<M>) => Buffer.from(m.request.encode(value as never)),
        (bytes: Buffer) => m.response.decode(bytes) as Res<M>,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, value) => {
          if (err) reject(new CriError(err.code, err.details));
          else resolve(value as Res<M>);
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
