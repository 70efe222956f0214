// The exit of a foreground process as the executor reports it (ModeFlag.Wait, PLAN-FORMAT.md):
// the executor stays the process's parent and exits with its status, a shell's way (the code,
// or 128 + the signal). tsrun then needs neither to be a child subreaper nor a waitid on a
// thread, both of which go through koffi, whose load alone costs ~17 ms of every `run`.
import type { ExitInfo } from '../reaper.js';
import { log } from '../log.js';
import type { EventEmitter } from 'node:events';
import { waitForExit } from './proc.js';

/** The executor's process: a ChildProcess, or the same without node:child_process (./uv.ts). */
export type ExecutorChild = EventEmitter & { pid?: number; exitCode: number | null; signalCode: NodeJS.Signals | null };

/** 255: the executor could not say (it lost the process); runc's status for an unknown one. */
const UNKNOWN = 255;

export function executorExit(child: ExecutorChild, pid: () => number): Promise<ExitInfo> {
  return new Promise((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      // The signal that ended the process is folded into the status (128 + it), not known apart.
      if (code !== null && code !== UNKNOWN) { resolve({ exitStatus: code, signal: 0, exitedAt: new Date() }); return; }
      const unknown = () => resolve({ exitStatus: UNKNOWN, signal: 0, exitedAt: new Date(), unknown: true });
      if (code === UNKNOWN) { unknown(); return; }
      // Killed itself: the process was reparented to the system's init, which has its status.
      // Wait until it is gone, so that `run` still returns only when the container has exited.
      log.warn(`the executor was killed by ${signal ?? 'a signal'}: the exit status of process ${pid()} is unknown`);
      const wait = (): Promise<void> => waitForExit(pid(), undefined, 60_000).then((gone) => (gone ? unknown() : wait()));
      void wait();
    };
    if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode, child.signalCode);
    else child.once('exit', done);
    child.once('error', () => resolve({ exitStatus: UNKNOWN, signal: 0, exitedAt: new Date(), unknown: true }));
  });
}
