// Writes to fds 1 and 2 without process.stdout/process.stderr: their first use builds a stream
// (node:stream, and node:net for a pipe, as callers like go-runc give us), ~2-4 ms of a command
// that prints one line. Node makes those writes synchronous on Linux anyway.
import { writeSync } from 'node:fs';

let pause: Int32Array | undefined;

export function writeFd(fd: number, text: string | Uint8Array): void {
  const buf = typeof text === 'string' ? Buffer.from(text) : text;
  for (let off = 0; off < buf.length;) {
    try {
      off += writeSync(fd, buf, off);
    } catch (err) {
      // A non-blocking fd from the caller: wait for room rather than drop output.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait((pause ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, 1);
    }
  }
}

export const writeStdout = (text: string): void => writeFd(1, text);

/** Diagnostics never fail a command: a closed or broken stderr loses them, as a stream would. */
export function writeStderr(text: string): void {
  try { writeFd(2, text); } catch { /* nowhere to say it */ }
}
