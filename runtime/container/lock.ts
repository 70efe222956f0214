import { createHash } from 'node:crypto';
import type { Server } from 'node:net';
import { net } from '../lazy-modules.js';
import { TsrunError } from '../errors.js';

/**
 * Serializes operations on one container. The lock is an abstract unix socket bound for as
 * long as the operation runs: the kernel drops it when the holder exits, even by SIGKILL, so
 * a crashed tsrun never leaves a stale lock, and taking it costs no file system work.
 */
export async function lockContainer(root: string, id: string, timeoutMs = 60_000): Promise<() => void> {
  const name = '\0tsrun-lock/' + createHash('sha256').update(`${root}\0${id}`).digest('hex').slice(0, 40);
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    const server = await tryListen(name);
    if (server) {
      server.unref();
      return () => server.close();
    }
    if (Date.now() > deadline) throw new TsrunError(`timed out waiting for the lock of container ${id}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}

function tryListen(name: string): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = net().createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(undefined);
      else reject(err);
    });
    server.listen({ path: name }, () => resolve(server));
  });
}
