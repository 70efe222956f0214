import { constants, openSync, closeSync, unlinkSync } from 'node:fs';
import { fsPromises } from '../lazy-modules.js';
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
    if (status === 'stopped') throw new TsrunError('cannot start a container that has stopped');
    if (status !== 'created') throw new TsrunError('cannot start an already running container');
    const fifo = execFifoPath(root, id);
    const content = await readExecFifo(fifo, state.pid, state.pidStartTime);
    try { unlinkSync(fifo); } catch { /* already gone */ }
    if (content.length === 0) throw new TsrunError('cannot start a container that has stopped');
    await runHooksWarnOnly(state.hooks, 'poststart', hookState(state, 'running'));
  } finally {
    release();
  }
}

async function readExecFifo(fifo: string, pid: number, startTime: string | undefined): Promise<Buffer> {
  // A blocking open on the thread pool: it returns once the init holds the write end. If the
  // init dies first, opening the write end ourselves unblocks it and the read sees EOF.
  const opening = fsPromises().open(fifo, constants.O_RDONLY);
  const watchdog = setInterval(() => {
    if (processAlive(pid, startTime)) return;
    try { closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)); } catch { /* no reader yet */ }
  }, 10);
  let handle;
  try {
    handle = await opening;
  } catch (err) {
    clearInterval(watchdog);
    throw err;
  }
  try {
    const chunks: Buffer[] = [];
    for (;;) {
      const buf = Buffer.alloc(64);
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks);
  } finally {
    clearInterval(watchdog);
    await handle.close();
  }
}
