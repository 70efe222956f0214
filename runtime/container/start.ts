import { close, constants, open, openSync, closeSync, read, unlinkSync } from 'node:fs';
import { TsrunError } from '../errors.js';
import { lockContainer } from './lock.js';
import { execFifoPath, loadState } from './state.js';
import { containerStatus, hookState } from './status.js';
import { processAlive } from './proc.js';
import { runHooksWarnOnly } from './hooks.js';

/**
 * Lets a created container run: opening the exec fifo for reading releases the init, which
 * writes one byte and execs (its write end closes on exec, so we then read EOF).
 */
export async function startContainer(root: string, id: string): Promise<void> {
  const release = await lockContainer(root, id);
  try {
    const state = loadState(root, id);
    const status = containerStatus(root, state);
    if (status === 'stopped') throw TsrunError.precondition('cannot start a container that has stopped');
    if (status !== 'created') throw TsrunError.precondition('cannot start an already running container');
    const fifo = execFifoPath(root, id);
    const content = await readExecFifo(fifo, state.pid, state.pidStartTime);
    try { unlinkSync(fifo); } catch { /* already gone */ }
    if (content.length === 0) throw TsrunError.precondition('cannot start a container that has stopped');
    await runHooksWarnOnly(state.hooks, 'poststart', hookState(state, 'running'));
  } finally {
    release();
  }
}

function readExecFifo(fifo: string, pid: number, startTime: string | undefined): Promise<Buffer> {
  // A blocking open on the thread pool (callback fs: node:fs/promises costs ~1.5 ms to load): it
  // returns once the init holds the write end. If the init dies first, opening the write end
  // ourselves unblocks it and the read sees EOF.
  const watchdog = setInterval(() => {
    if (processAlive(pid, startTime)) return;
    try { closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)); } catch { /* no reader yet */ }
  }, 10);
  return new Promise<Buffer>((resolve, reject) => {
    open(fifo, constants.O_RDONLY, (err, fd) => {
      clearInterval(watchdog);
      if (err) return reject(err);
      const chunks: Buffer[] = [];
      const next = () => read(fd, Buffer.alloc(64), 0, 64, null, (rerr, n, buf) => {
        if (rerr || n === 0) {
          close(fd, () => (rerr ? reject(rerr) : resolve(Buffer.concat(chunks))));
          return;
        }
        chunks.push(buf.subarray(0, n));
        next();
      });
      next();
    });
  });
}
