// What only a foreground command (`run` without -d, `exec` without -d) does, and the library
// never does: forward our signals to the process, proxy our own terminal, and wait for it. The
// executor waits for the process itself and reports its exit (executorWaits: it stays the
// process's parent, as a child subreaper), so tsrun needs no FFI for any of this.
import type { ExitInfo } from '../reaper.js';
import { SignalForwarder } from './signal-forwarder.js';
import { proxyConsole, type HostConsole } from './host-terminal.js';
import { mark } from '../timing.js';

export class Foreground {
  private readonly signals: SignalForwarder;

  /** Before anything is started: signals that arrive meanwhile are kept for the process. */
  constructor() {
    this.signals = new SignalForwarder();
  }

  /** Waits for the process (proxying the terminal when there is one): its exit status. */
  async wait(pid: number, tty: { master: number; host: HostConsole } | undefined, exited: Promise<ExitInfo>): Promise<number> {
    this.signals.forwardTo(pid);
    const status = exited.then((e) => ({ code: e.exitStatus, signal: e.signal }));
    const { code } = tty ? await proxyConsole(tty.master, tty.host, status) : await status;
    this.signals.stop();
    mark('waited');
    return code;
  }

  stop(): void {
    this.signals.stop();
  }
}
