// The container's terminal on tsrun's side. The executor makes the pty inside the container and
// sends the master over a unix socket it is given (PLAN-FORMAT.md, CONSOLE): the caller's
// --console-socket, or one end of a socket pair when tsrun itself sits between its own terminal
// and the container (`run`/`exec` in the foreground, runtime/cli/host-terminal.ts).
import { closeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { TsrunError, describeSystemError } from '../errors.js';
import { net } from '../lazy-modules.js';
import { terminalSyscalls, type TerminalSyscalls, type WindowSize } from '../sys/terminal.js';
import type { ConsoleSocket, ExecutorRun } from './executor.js';

export type { ConsoleSocket } from './executor.js';

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

/**
 * tsrun's own terminal, when a foreground caller (the CLI's `run`, `exec`) proxies the container's
 * pty through it: the library only asks its size and, once the pty is there, to make it raw.
 */
export interface HostTerminal {
  windowSize(): WindowSize | undefined;
  makeRaw(): void;
  close(): void;
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

/**
 * Starts the executor with the console socket a terminal needs: the caller's (--console-socket)
 * or one end of a pair whose other end we keep, to take the master from once the process is
 * READY. Only the executor keeps the socket, so that the caller sees its end close once the
 * master has been sent. `started` learns the pid as soon as it exists, so that a failure can
 * still kill the process.
 */
export async function startWithConsole(
  terminal: boolean, socketPath: string | undefined, host: HostTerminal | undefined,
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
