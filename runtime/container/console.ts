// The container's terminal on tsrun's side. The executor makes the pty inside the container and
// sends the master over a unix socket it is given (PLAN-FORMAT.md, CONSOLE): the caller's
// --console-socket, or one end of a socket pair when tsrun itself sits between its own terminal
// and the container (`run`/`exec` in the foreground).
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { ReadStream } from 'node:tty';
import { TsrunError, describeSystemError } from '../errors.js';
import { net } from '../lazy-modules.js';
import { terminalSyscalls, type TerminalSyscalls, type WindowSize } from '../sys/terminal.js';
import type { ExitStatus } from '../sys/syscalls.js';
import type { ExecutorRun } from './executor.js';

/** The end of the console socket that the executor gets. */
export type ConsoleSocket = Socket | number;

/** Our copy of the executor's console socket, closed once the executor has its own. */
export function closeConsoleSocket(socket: ConsoleSocket | undefined): void {
  if (typeof socket === 'number') closeSync(socket);
  else socket?.destroy();
}

/** runc's checks, in its words, before anything is made. */
export function checkTerminalUse(terminal: boolean, detach: boolean, consoleSocket: string | undefined): void {
  if (detach && terminal && !consoleSocket) throw TsrunError.invalid('cannot allocate tty if tsrun will detach without setting console socket');
  if ((!detach || !terminal) && consoleSocket) throw TsrunError.invalid('cannot use console socket if tsrun will not detach or allocate tty');
}

const CONNECT_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ECONNREFUSED: 'connection refused',
  EACCES: 'permission denied',
  ENOTDIR: 'not a directory',
  EPROTOTYPE: 'protocol wrong type for socket',
  ENAMETOOLONG: 'file name too long',
};

/**
 * Connects to the caller's console socket, once: go-runc and conmon accept a single connection.
 * The error reads as Go's net.Dial's does in runc.
 */
export function dialConsoleSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = net().connect({ path });
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      // Nothing is read from it here: the executor's copy is what talks to the caller.
      socket.pause();
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      const text = (err.code && CONNECT_ERRORS[err.code]) ?? describeSystemError(err);
      reject(new TsrunError(`dial unix ${path}: connect: ${text}`));
    });
  });
}

/** Where tsrun's own terminal is: stderr, stdout, stdin, else /dev/tty, as runc looks for it. */
export class HostConsole {
  private saved: Buffer | undefined;
  private constructor(readonly fd: number, private readonly owned: boolean, private readonly sys: TerminalSyscalls) {}

  static find(sys: TerminalSyscalls = terminalSyscalls()): HostConsole {
    for (const fd of [2, 1, 0]) if (sys.isatty(fd)) return new HostConsole(fd, false, sys);
    let fd: number;
    try { fd = openSync('/dev/tty', 'r'); } catch (err) { throw new TsrunError(describeSystemError(err)); }
    return new HostConsole(fd, true, sys);
  }

  windowSize(): WindowSize | undefined { return this.sys.getWindowSize(this.fd); }

  makeRaw(): void { this.saved ??= this.sys.makeRaw(this.fd); }

  /** Restores the terminal as it was; idempotent. */
  close(): void {
    if (this.saved) this.sys.restoreMode(this.fd, this.saved);
    this.saved = undefined;
    if (this.owned) { try { closeSync(this.fd); } catch { /* closed */ } }
  }
}

/** The socket pair for a console tsrun handles itself: [ours, the executor's]. */
export function consolePair(sys: TerminalSyscalls = terminalSyscalls()): [number, number] {
  return sys.socketPair();
}

/** Takes the master the executor sent (before READY, so it is there once the container is ready). */
export function receiveMaster(ours: number, sys: TerminalSyscalls = terminalSyscalls()): number {
  try {
    return sys.receiveFd(ours).fd;
  } catch (err) {
    throw new TsrunError(`receive console master: ${(err as Error).message}`);
  }
}

function writeAll(fd: number, data: Buffer): void {
  for (let off = 0; off < data.length;) {
    try {
      off += writeSync(fd, data, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}

/**
 * Copies between tsrun's terminal and the container's pty until the process has exited, like
 * `runc run`: tsrun's terminal in raw mode (so Ctrl-C and friends reach the container as bytes,
 * and its line discipline acts on them), the window size copied now and on SIGWINCH. (The
 * executor has cleared ONLCR on the pty, so output bytes pass unchanged.) Returns the
 * process's status.
 */
export async function proxyConsole(master: number, host: HostConsole, exited: Promise<ExitStatus>,
  sys: TerminalSyscalls = terminalSyscalls()): Promise<ExitStatus> {
  const resize = () => {
    const size = sys.getWindowSize(host.fd);
    // Stdout may be gone by now (runc ignores this too).
    if (size) { try { sys.setWindowSize(master, size); } catch { /* ignored */ } }
  };
  resize();
  host.makeRaw();
  process.on('SIGWINCH', resize);

  // A tty stream makes the master non-blocking, which the final drain below relies on.
  const { ReadStream } = require('node:tty') as typeof import('node:tty');
  const output: ReadStream = new ReadStream(master);
  output.on('data', (chunk: Buffer) => writeAll(1, chunk));
  // EIO once the last holder of the slave is gone: the normal end.
  output.on('error', () => undefined);

  const pending: Buffer[] = [];
  let retry: NodeJS.Timeout | undefined;
  const flushInput = () => {
    retry = undefined;
    while (pending.length) {
      try {
        const n = writeSync(master, pending[0]);
        if (n < pending[0].length) pending[0] = pending[0].subarray(n); else pending.shift();
      } catch (err) {
        // The container is not reading: try again a little later rather than spin.
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') retry = setTimeout(flushInput, 10);
        else pending.length = 0;
        return;
      }
    }
  };
  const onInput = (chunk: Buffer) => { pending.push(chunk); if (!retry) flushInput(); };
  const stdin = process.stdin;
  stdin.on('data', onInput);
  stdin.on('error', () => undefined);

  try {
    return await exited;
  } finally {
    process.off('SIGWINCH', resize);
    stdin.off('data', onInput);
    stdin.pause();
    if (retry) clearTimeout(retry);
    // What the process wrote last may not have been read yet.
    const buf = Buffer.alloc(65536);
    for (;;) {
      let n = 0;
      try { n = readSync(master, buf, 0, buf.length, null); } catch { break; }
      if (n <= 0) break;
      writeAll(1, buf.subarray(0, n));
    }
    output.destroy();
    host.close();
  }
}

/**
 * Starts the executor with the console socket a terminal needs: the caller's (--console-socket)
 * or one end of a pair whose other end we keep, to take the master from once the process is
 * READY. Only the executor keeps the socket, so that the caller sees its end close once the
 * master has been sent. `started` learns the pid as soon as it exists, so that a failure can
 * still kill the process.
 */
export async function startWithConsole(
  terminal: boolean, socketPath: string | undefined, host: HostConsole | undefined,
  start: (socket: ConsoleSocket | undefined) => ExecutorRun, started: (pid: number) => void,
): Promise<{ run: ExecutorRun; pid: number; master?: number }> {
  let ownEnd: number | undefined;
  try {
    let socket: ConsoleSocket | undefined;
    if (terminal && socketPath) socket = await dialConsoleSocket(socketPath);
    else if (terminal) [ownEnd, socket] = consolePair();
    let run: ExecutorRun;
    try {
      run = start(socket);
    } finally {
      closeConsoleSocket(socket);
    }
    run.pid.then(started, () => undefined);
    run.initPid.then(started, () => undefined);
    await run.ready;
    const pid = await run.initPid;
    started(pid);
    if (ownEnd === undefined) return { run, pid };
    const master = receiveMaster(ownEnd);
    // As runc: raw from the moment the pty is ours, so that early keystrokes reach it unchanged.
    host?.makeRaw();
    return { run, pid, master };
  } finally {
    if (ownEnd !== undefined) closeSync(ownEnd);
  }
}
