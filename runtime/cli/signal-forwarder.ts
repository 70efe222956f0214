// Only a foreground CLI command forwards its signals: the library never installs a handler.
import { SIGNALS } from '../signals.js';

/** The signals `run` and a foreground `exec` pass on to the container's process, as runc does. */
export const FORWARDED_SIGNALS = Object.keys(SIGNALS).filter((s) => ![
  'SIGKILL', 'SIGSTOP', 'SIGCHLD', 'SIGCLD', 'SIGURG', 'SIGWINCH', 'SIGIOT', 'SIGPOLL', 'SIGUNUSED', 'SIGSEGV',
  'SIGBUS', 'SIGFPE', 'SIGILL', 'SIGPIPE', 'SIGPROF', 'SIGVTALRM', 'SIGSTKFLT', 'SIGTRAP',
].includes(s)) as NodeJS.Signals[];

/**
 * Catches the forwarded signals from before the container process exists (as runc's signal
 * handler does), so that one arriving while it starts is neither lost nor fatal to tsrun; they
 * are passed on, in order, once the process is known.
 */
export class SignalForwarder {
  private target = 0;
  private readonly pending: NodeJS.Signals[] = [];
  private readonly onSignal = (signal: NodeJS.Signals) => {
    if (this.target) this.send(signal);
    else this.pending.push(signal);
  };

  constructor() {
    for (const s of FORWARDED_SIGNALS) process.on(s, this.onSignal);
  }

  forwardTo(pid: number): void {
    this.target = pid;
    for (const s of this.pending.splice(0)) this.send(s);
  }

  stop(): void {
    for (const s of FORWARDED_SIGNALS) process.off(s, this.onSignal);
  }

  private send(signal: NodeJS.Signals): void {
    try { process.kill(this.target, signal); } catch { /* exited */ }
  }
}
