// The byte streams ttrpc runs on: libuv's pipe handles (runtime/container/uv.ts) in a process
// that prefers them (the shim: node:net and the stream machinery it loads cost a new shim ~3 ms
// before its first call is read), else node:net, as the tests and library users get it.
import type { Server, Socket } from 'node:net';
import { UvPipe, UvServer, uvAvailable } from '../../runtime/container/uv.js';
import { net } from '../../runtime/lazy-modules.js';

/** A connected unix socket, as both a net.Socket and a UvPipe are. Reading starts at resume(). */
export interface Conn {
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  once(event: 'close', listener: () => void): unknown;
  write(data: Uint8Array): unknown;
  /** closes once what was written is flushed */
  end(cb?: () => void): unknown;
  destroy(): unknown;
  resume(): unknown;
  readonly destroyed: boolean;
}

export interface Listener {
  close(cb: () => void): void;
}

export function connectUnix(path: string): Promise<Conn> {
  if (uvAvailable()) return UvPipe.connect(path);
  return new Promise((resolve, reject) => {
    const socket = net().connect(path);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/** Listens on a path (which must not exist) or serves an fd already bound; `onError` gets the listener's later errors. */
export function listenUnix(how: { path: string } | { fd: number }, connection: (conn: Conn) => void, onError: (err: Error) => void): Promise<Listener> {
  if ('fd' in how && uvAvailable()) {
    try {
      return Promise.resolve(UvServer.listenFd(how.fd, connection, onError));
    } catch (err) {
      return Promise.reject(err);
    }
  }
  const server: Server = net().createServer();
  server.on('connection', connection);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(how, () => {
      server.off('error', reject);
      server.on('error', onError);
      resolve(server);
    });
  });
}

/** The fd under a connection, or -1 when it has none. */
export function connFd(conn: Conn): number {
  if (conn instanceof UvPipe) return conn.fd;
  const fd = (conn as unknown as Socket & { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}
