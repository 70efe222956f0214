import { readFileSync, readlinkSync } from 'node:fs';

export interface ProcStat { state: string; ppid: number; startTime: string }

/** Fields of /proc/PID/stat, or undefined when the process does not exist. */
export function procStat(pid: number): ProcStat | undefined {
  if (!(pid > 0)) return undefined;
  let text: string;
  // utf8, not latin1: readFileSync decodes utf8 in one call into C++, and its latin1 path costs a
  // command ~0.6 ms of compiling Node's fs helpers on first use. Only the command name may hold
  // bytes that are not ASCII, and no decoding of them makes a ')'.
  try { text = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return undefined; }
  // The command name may contain spaces and parentheses: fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0], ppid: Number(fields[1]), startTime: fields[19] };
}

/** Alive and the same process (pids are reused): a zombie counts as gone. */
export function processAlive(pid: number, startTime?: string): boolean {
  const st = procStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return startTime === undefined || st.startTime === startTime;
}

export async function waitForExit(pid: number, startTime: string | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  while (processAlive(pid, startTime)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 20);
  }
  return true;
}

/**
 * Whether the process still runs the executor (a container init waiting at the exec fifo)
 * rather than the container's program: the executor runs from a sealed memfd of this name.
 */
export function stillExecutor(pid: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/exe`).startsWith('/memfd:tsrun-executor');
  } catch (err) {
    // Rootless, the waiting init is not dumpable and its exe link is not ours to read: its
    // name (world-readable) tells the same until it execs.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') return false;
    try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'tsrun-init'; } catch { return false; }
  }
}
