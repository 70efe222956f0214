// What only a foreground command (`run` without -d, `exec` without -d) does, and the library
// never does: forward our signals to the process, proxy our own terminal, and wait for it. The
// executor waits for the process itself and reports its exit (executorWaits: it stays the
// process's parent, as a child subreaper), so tsrun needs no FFI for any of this.
import type { ExitStatus } from '../sys/syscalls.js';
import { SignalForwarder } from '../signals.js';
import { proxyConsole, type HostConsole } from '../container/console.js';
import { mark } from '../timing.js';

export class Foreground {
  private readonly signals: SignalForwarder;

  /** Before anything is started: signals that arrive meanwhile are kept for the process. */
  constructor() {
    this.signals = new SignalForwarder();
  }

  /** Waits for the process (proxying the terminal when there is one): its exit status. */
  async wait(pid: number, tty: { master: number; host: HostConsole } | undefined, exited: Promise<ExitStatus> | undefined): Promise<number> {
    if (!exited) throw new Error('a foreground process is started with executorWaits');
    this.signals.forwardTo(pid);
    const status = tty ? await proxyConsole(tty.master, tty.host, exited) : await exited;
    this.signals.stop();
    mark('waited');
    return status.code;
  }

  stop(): void {
    this.signals.stop();
  }
}
