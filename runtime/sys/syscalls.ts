// The one door to system calls Node has no API for. koffi is loaded on first use only: its
// import costs ~5 ms (koffi.ts), which the commands that do not need it (create, start, delete…) must not pay.
import { koffi as loadKoffi } from './koffi.js';

export interface ExitStatus { code: number; signal: number }

export interface Syscalls {
  setChildSubreaper(): void;
  /** Waits (on a worker thread) for a child, or an adopted orphan, to exit and reaps it. */
  waitExit(pid: number): Promise<ExitStatus>;
}

const P_PID = 1;
const WEXITED = 4;
const PR_SET_CHILD_SUBREAPER = 36;
const CLD_EXITED = 1;

type KoffiFn = ((...args: unknown[]) => number) & { async: (...args: unknown[]) => void };

class KoffiSyscalls implements Syscalls {
  private fns: { prctl: KoffiFn; waitid: KoffiFn; errno: () => number } | undefined;

  private load() {
    if (this.fns) return this.fns;
    const koffi = loadKoffi();
    const libc = koffi.load('libc.so.6');
    this.fns = {
      prctl: libc.func('int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)'),
      // siginfo_t is 128 bytes; si_code at 8, si_pid at 16, si_status at 24 on x86_64/aarch64.
      waitid: libc.func('int waitid(int, int, _Out_ uint8_t *info, int)'),
      errno: () => koffi.errno(),
    };
    return this.fns;
  }

  setChildSubreaper(): void {
    const { prctl, errno } = this.load();
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) !== 0) throw new Error(`prctl(PR_SET_CHILD_SUBREAPER): errno ${errno()}`);
  }

  waitExit(pid: number): Promise<ExitStatus> {
    const { waitid } = this.load();
    return new Promise((resolve, reject) => {
      const info = Buffer.alloc(128);
      const attempt = () => waitid.async(P_PID, pid, info, WEXITED, (err: Error | null, rc: number) => {
        if (err) return reject(err);
        if (rc !== 0) {
          // EINTR from a signal Node handles: wait again.
          return attempt();
        }
        const code = info.readInt32LE(8);
        const status = info.readInt32LE(24);
        resolve(code === CLD_EXITED ? { code: status, signal: 0 } : { code: 128 + status, signal: status });
      });
      attempt();
    });
  }
}

let instance: Syscalls | undefined;

export function syscalls(): Syscalls {
  return (instance ??= new KoffiSyscalls());
}

/** Tests replace the real implementation with a double. */
export function setSyscallsForTesting(s: Syscalls | undefined): void {
  instance = s;
}
