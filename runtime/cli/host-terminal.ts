// tsrun's own terminal, which only a foreground CLI command has: found as runc finds it, put in
// raw mode while the container's pty is proxied through it, and restored afterwards.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import type { ReadStream } from 'node:tty';
import { TsrunError, describeSystemError } from '../errors.js';
import { terminalSyscalls, type TerminalSyscalls, type WindowSize } from '../sys/terminal.js';
import type { ExitStatus } from '../sys/syscalls.js';
import type { HostTerminal } from '../container/console.js';

/** Where tsrun's own terminal is: stderr, stdout, stdin, else /dev/tty, as runc looks for it. */
export class HostConsole implements HostTerminal {
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

