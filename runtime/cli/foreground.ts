// What only a foreground command (`run` without -d, `exec` without -d, `restore`) does, and the
// library never does: forward our signals to the process, proxy our own terminal, and wait for
// it. For run and exec the executor waits for the process itself and reports its exit
// (executorWaits: it stays the process's parent, as a child subreaper), so tsrun needs no FFI
// for any of this; restore's process is ours to wait for (koffi's waitid, as the subreaper).
import type { ExitInfo } from '../reaper.js';
import { syscalls, type ExitStatus } from '../sys/syscalls.js';
import { SignalForwarder } from './signal-forwarder.js';
import { proxyConsole, type HostConsole } from './host-terminal.js';
import { mark } from '../timing.js';

export class Foreground {
  private readonly signals: SignalForwarder;

  /** Before anything is started: signals that arrive meanwhile are kept for the process. */
  constructor(opts: { subreaper?: boolean } = {}) {
    if (opts.subreaper) syscalls().setChildSubreaper();
    this.signals = new SignalForwarder();
  }

  /** Waits for the process (proxying the terminal when there is one): its exit status. */
  async wait(pid: number, tty?: { master: number; host: HostConsole }, exited?: Promise<ExitInfo>): Promise<number> {
    this.signals.forwardTo(pid);
    const status: Promise<ExitStatus> = exited ? exited.then((e) => ({ code: e.exitStatus, signal: e.signal })) : syscalls().waitExit(pid);
    const { code } = tty ? await proxyConsole(tty.master, tty.host, status) : await status;
    this.signals.stop();
    mark('waited');
    return code;
  }

  stop(): void {
    this.signals.stop();
  }
}
