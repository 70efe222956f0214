import { net } from '../lazy-modules.js';
import { TsrunError } from '../errors.js';

/**
 * Serializes operations on one container. The lock is an abstract unix socket bound for as
 * long as the operation runs: the kernel drops it when the holder exits, even by SIGKILL, so
 * a crashed tsrun never leaves a stale lock, and taking it costs no file system work.
 */
export async function lockContainer(root: string, id: string, timeoutMs = 60_000): Promise<() => void> {
  const name = '\0tsrun-lock/' + lockKey(`${root}\0${id}`);
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    const fast = bindAbstract(name);
    const held = fast === undefined ? await tryListen(name) : fast;
    if (held) return () => held.close();
    if (Date.now() > deadline) throw new TsrunError(`timed out waiting for the lock of container ${id}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}

/**
 * A short fixed-length name for root+id (an abstract socket name is limited to 107 bytes).
 * Not a security boundary: two keys colliding would only serialize two containers. Four
 * FNV-1a lanes instead of node:crypto, whose loading costs ~3 ms of every command.
 */
export function lockKey(text: string): string {
  const lanes = [0x811c9dc5, 0x050c5d1f, 0x1b873593, 0x7feb352d];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    for (let l = 0; l < 4; l++) lanes[l] = Math.imul(lanes[l] ^ c ^ (l << 8), 0x01000193) >>> 0;
  }
  return lanes.map((v) => v.toString(16).padStart(8, '0')).join('');
}

interface Held { close(): void }

/**
 * Binds the name with Node's own pipe handle, synchronously: ~0.2 ms, where loading node:net
 * and listening costs ~7 ms of every command. null: someone holds it. undefined: this Node has
 * no such binding (or would warn about using it): the caller uses node:net instead.
 */
function bindAbstract(name: string): Held | null | undefined {
  if (/pending-deprecation/.test(`${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`)) return undefined;
  let binding: { Pipe: new (type: number) => { bind(name: string): number; close(): void }; constants: { SERVER: number } };
  try {
    binding = (process as unknown as { binding(name: string): typeof binding }).binding('pipe_wrap');
  } catch {
    return undefined;
  }
  const handle = new binding.Pipe(binding.constants.SERVER);
  const rc = handle.bind(name);
  if (rc === 0) return handle;
  handle.close();
  if (rc === -98 /* EADDRINUSE */) return null;
  return undefined;
}

function tryListen(name: string): Promise<Held | undefined> {
  return new Promise((resolve, reject) => {
    const server = net().createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(undefined);
      else reject(err);
    });
    server.listen({ path: name }, () => { server.unref(); resolve(server); });
  });
}
