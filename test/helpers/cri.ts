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

/**
 * Drives a CRI streaming URL (Exec's) over WebSocket with the v4.channel.k8s.io protocol, as kubectl does: each
 * binary frame's first byte is its channel (1 stdout, 2 stderr, 3 the final status as JSON). A stream server in
 * another network namespace (a private containerd's) is reached through a relay started there with nsenter.
 */
export async function stream(url: string, opts: { netns?: string; timeoutMs?: number } = {}): Promise<{ http: string; stdout: string; stderr: string; status: string }> {
  const { spawn } = await import('node:child_process');
  const { connect } = await import('node:net');
  const { randomBytes } = await import('node:crypto');
  const u = new URL(url);
  const key = randomBytes(16).toString('base64');
  const requestText = [
    `GET ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`, 'Connection: Upgrade', 'Upgrade: websocket',
    'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Protocol: v4.channel.k8s.io', `Origin: http://${u.host}`, '', '',
  ].join('\r\n');
  return new Promise((resolve, reject) => {
    const out = { http: '', stdout: '', stderr: '', status: '' };
    let buf = Buffer.alloc(0);
    let headerDone = false;
    let finish: () => void = () => undefined;
    const timer = setTimeout(() => { finish(); reject(new Error(`stream ${url}: timed out (${JSON.stringify(out)})`)); }, opts.timeoutMs ?? 20_000);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!headerDone) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        out.http = buf.subarray(0, buf.indexOf('\r\n')).toString();
        buf = buf.subarray(end + 4);
        headerDone = true;
      }
      for (;;) {
        if (buf.length < 2) return;
        const opcode = buf[0] & 0x0f;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + len) return;
        const payload = buf.subarray(off, off + len);
        buf = buf.subarray(off + len);
        if ((opcode === 1 || opcode === 2) && payload.length > 0) {
          const text = payload.subarray(1).toString();
          if (payload[0] === 1) out.stdout += text;
          else if (payload[0] === 2) out.stderr += text;
          else if (payload[0] === 3) out.status += text;
        }
      }
    };
    const done = () => { clearTimeout(timer); finish(); resolve(out); };
    if (opts.netns) {
      const code = `const s = require('net').connect(${Number(u.port)}, ${JSON.stringify(u.hostname)}); process.stdin.pipe(s); s.pipe(process.stdout); s.on('error', (e) => { console.error(e.message); process.exit(1); });`;
      const child = spawn('nsenter', [`--net=${opts.netns}`, process.execPath, '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
      finish = () => { child.kill(); };
      child.stdout!.on('data', onData);
      child.on('exit', done);
      child.on('error', reject);
      child.stdin!.write(requestText);
    } else {
      const sock = connect(Number(u.port), u.hostname, () => sock.write(requestText));
      finish = () => { sock.destroy(); };
      sock.on('data', onData);
      sock.on('close', done);
      sock.on('error', reject);
    }
  });
}
