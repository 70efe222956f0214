import { TsrunError } from './errors.js';

export const SIGNALS: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGIOT: 6, SIGBUS: 7, SIGFPE: 8,
  SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16,
  SIGCHLD: 17, SIGCLD: 17, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23,
  SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29, SIGPOLL: 29, SIGPWR: 30,
  SIGSYS: 31, SIGUNUSED: 31,
};
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/** "9", "KILL", "SIGKILL", "RTMIN+3" -> number, as runc accepts them. */
export function parseSignal(text: string): number {
  // runc takes any number as is (strconv.Atoi): 0 checks that the process exists.
  if (/^[+-]?\d+$/.test(text)) return Number(text);
  const name = text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`;
  if (name in SIGNALS) return SIGNALS[name];
  const rt = /^SIGRT(MIN|MAX)([+-]\d+)?$/.exec(name);
  if (rt) {
    const n = (rt[1] === 'MIN' ? SIGRTMIN : SIGRTMAX) + Number(rt[2] ?? 0);
    if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
  }
  throw new TsrunError(`unknown signal "${text}"`);
}

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
