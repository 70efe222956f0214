import { close, constants, existsSync, open, openSync, closeSync, read, unlinkSync } from 'node:fs';
import { TsrunError } from '../errors.js';
import { lockContainer } from './lock.js';
import { execFifoPath, loadState, saveState } from './state.js';
import { containerStatus, hookState } from './status.js';
import { processAlive, stillExecutor, waitForExit } from './proc.js';
import { runHooksWarnOnly } from './hooks.js';
import { faultPoint } from '../fault.js';
import { requireStatus } from './transitions.js';
import { mark } from '../timing.js';
import { readToEnd, uvAvailable } from './uv.js';

/**
 * Lets a created container run: opening the exec fifo for reading releases the init, which
 * writes one byte and execs (its write end closes on exec, so we then read EOF).
 * Crash-consistent: a start killed after releasing the init leaves the fifo, but the status
 * comes from the init itself (still the executor or not), and a second start fails at once.
 */
export async function startContainer(root: string, id: string, fromRun = false): Promise<void> {
  const release = await lockContainer(root, id);
  try {
    const state = loadState(root, id);
    let status = containerStatus(root, state);
    const fifo = execFifoPath(root, id);
    // An init that is no longer the executor while its fifo is still there either runs (an
    // earlier start released it and died) or is on its way out (a filter that denies
    // everything kills it right after READY): a moment tells them apart.
    if (status === 'running' && existsSync(fifo) && await waitForExit(state.pid, state.pidStartTime, 250)) status = 'stopped';
    if (status !== 'created' && status !== 'stopped') {
      // A fifo left by a start that was killed after releasing the init.
      try { unlinkSync(fifo); } catch { /* none */ }
    }
    requireStatus(fromRun ? 'start-after-create' : 'start', status, id);
    // Created by a create that was killed before it wrote its last state: finished here.
    if (state.creating) {
      delete state.creating;
      delete state.creator;
      saveState(root, state);
    }
    mark('start:checked');
    faultPoint('start:1');
    const content = await readExecFifo(fifo, state.pid, state.pidStartTime);
    mark('start:released');
    faultPoint('start:2');
    try { unlinkSync(fifo); } catch { /* already gone */ }
    if (content.length === 0) {
      // No byte: the init died before it could exec (it may still be on its way out, as when
      // seccomp kills its execve), or an earlier start released it and died before reading.
      const died = await waitForExit(state.pid, state.pidStartTime, 250);
      if (!died) throw TsrunError.precondition('cannot start an already running container');
      // runc's words for an init that died before it could start the program.
      throw TsrunError.precondition('container process is already dead');
    }
    await runHooksWarnOnly(state.hooks, 'poststart', hookState(state, 'running'));
  } finally {
    release();
  }
}

function readExecFifo(fifo: string, pid: number, startTime: string | undefined): Promise<Buffer> {
  // A blocking open on the thread pool (callback fs: node:fs/promises costs ~1.5 ms to load): it
  // returns once the init holds the write end. If the init dies first, opening the write end
  // ourselves unblocks it and the read sees EOF. Likewise if the init runs the container's
  // program already: an earlier start released it and was killed before it removed the fifo.
  const watchdog = setInterval(() => {
    if (processAlive(pid, startTime) && stillExecutor(pid)) return;
    try { closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)); } catch { /* no reader yet */ }
  }, 10);
  if (uvAvailable()) {
    // Without the thread pool: a non-blocking open returns at once and still lets the init's
    // open for writing through; the kernel reports no hang-up before a writer has come and gone.
    let fd: number;
    try { fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK); } catch (err) { clearInterval(watchdog); return Promise.reject(err); }
    const read = readToEnd(fd);
    read.then(() => clearInterval(watchdog), () => clearInterval(watchdog));
    return read;
  }
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
