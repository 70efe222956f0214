// What only a foreground command (`run` without -d, `exec` without -d) does, and the library
// never does: become the child subreaper so that the container's process comes to us when the
// executor exits, forward our signals to it, proxy our own terminal, and wait for it.
import { syscalls } from '../sys/syscalls.js';
import { SignalForwarder } from './signal-forwarder.js';
import { proxyConsole, type HostConsole } from './host-terminal.js';

export class Foreground {
  private readonly signals: SignalForwarder;

  /** Before anything is started: signals that arrive meanwhile are kept for the process. */
  constructor() {
    syscalls().setChildSubreaper();
    this.signals = new SignalForwarder();
  }

  /** Waits for the process (proxying the terminal when there is one): its exit status. */
  async wait(pid: number, tty?: { master: number; host: HostConsole }): Promise<number> {
    this.signals.forwardTo(pid);
    const exited = syscalls().waitExit(pid);
    const status = tty ? await proxyConsole(tty.master, tty.host, exited) : await exited;
    this.signals.stop();
    return status.code;
  }

  stop(): void {
    this.signals.stop();
  }
}
