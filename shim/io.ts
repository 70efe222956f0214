// A process's stdio as containerd names it: FIFO paths (ctr's, CRI's), `file://` paths, or
// nothing. Without a terminal the process gets pipes, and this process copies between them and
// the FIFOs or files, as the runc shim does: a host FIFO or file open in the container is
// something CRIU cannot dump (it is in no mount of the container's), while a pipe is recorded
// as `pipe:[inode]` and handed back at restore as an inherited fd. The copies are libuv pipe
// handles with backpressure: a slow or absent reader stalls the writer, nothing is dropped or
// buffered beyond a chunk. Each output FIFO is opened read-write, which keeps a reader on it for
// as long as the process runs, so a client that goes away never makes a write fail with EPIPE
// and one that comes back reads on. With a terminal, the pty master the library hands over is
// copied to the stdout FIFO, and the stdin FIFO to the master.
import { openSync, closeSync, writeSync, mkdirSync, fstatSync, fchownSync, createWriteStream, constants as fsc } from 'node:fs';
import { dirname } from 'node:path';
import type { Socket } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import type * as Tty from 'node:tty';
import { childProcess, net } from '../runtime/lazy-modules.js';
import { UvPipe, uvAvailable } from '../runtime/container/uv.js';
import type { StdioSpec } from '../runtime/index.js';
import { dup, pipe } from './sys.js';

/**
 * One end of a copy, as a net.Socket, an fs.WriteStream and a UvPipe all are: libuv's pipe
 * handles where the process prefers them (the shim: no node:net and stream machinery to load
 * before a new shim's first Create), net's sockets otherwise.
 */
interface Chan {
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'close' | 'finish' | 'drain', listener: () => void): unknown;
  once(event: 'close' | 'finish' | 'drain', listener: () => void): unknown;
  write(data: Uint8Array): boolean;
  end(cb?: () => void): unknown;
  destroy(): unknown;
  pause(): unknown;
  resume(): unknown;
  readonly destroyed: boolean;
}

/** A chan on an fd of ours (a pipe end or a FIFO), which it then owns; a reader starts at resume(). */
function openChan(fd: number, how: { readable: boolean; writable: boolean }): Chan {
  if (uvAvailable()) return UvPipe.open(fd);
  return new (net().Socket)({ fd, ...how }) as Socket & Chan;
}

/** Copies source into sink until the source's EOF, then ends the sink; the reader waits while the sink is full. */
function copy(source: Chan, sink: Chan): void {
  source.on('data', (chunk) => {
    if (!sink.write(chunk)) {
      source.pause();
      sink.once('drain', () => source.resume());
    }
  });
  // a source that fails closes too
  source.on('error', () => undefined);
  source.on('close', () => { if (!sink.destroyed) sink.end(); });
  source.resume();
}

export interface StdioPaths { stdin: string; stdout: string; stderr: string }
/** io_uid/io_gid of the runtime options; -1 leaves that id unchanged */
export interface IoOwner { uid: number; gid: number }

function isFile(p: string): boolean { return p.startsWith('file://'); }
function fifoPath(p: string): string { return p.startsWith('fifo://') ? p.slice(7) : p; }

export class ProcessIO {
  private fds: { stdin: StdioSpec; stdout: StdioSpec; stderr: StdioSpec } = { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' };
  private owned: number[] = [];
  private copies: Array<{ destroy(): void }> = [];
  private outputDone: Promise<void> = Promise.resolve();
  private stdinSocket: Chan | undefined;
  private stdinWriter: Chan | undefined;
  private masterFd = -1;

  private constructor(readonly paths: StdioPaths, readonly terminal: boolean) {}

  private logger: ChildProcess | undefined;

  static async open(paths: StdioPaths, terminal: boolean, env: { id: string; namespace: string } = { id: '', namespace: '' }, owner?: IoOwner): Promise<ProcessIO> {
    const io = new ProcessIO(paths, terminal);
    try {
      if (!terminal && paths.stdout.startsWith('binary://')) await io.startLogger(env);
      else io.openAll();
      if (owner && (owner.uid >= 0 || owner.gid >= 0)) io.chown(owner);
    } catch (err) {
      io.close();
      throw err;
    }
    return io;
  }

  private own(fd: number): number { this.owned.push(fd); return fd; }

  /** The destination of an output: the FIFO (read-write, see above) or the file, appended to. */
  private outputSink(p: string): Chan {
    if (isFile(p)) {
      const path = new URL(p).pathname;
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      return createWriteStream(path, { flags: 'a', mode: 0o644 }) as unknown as Chan;
    }
    if (p.startsWith('binary://')) throw Object.assign(new Error(`tsrun shim: binary:// loggers are not supported yet (${p})`), { code: 'EINVAL' });
    // never resumed: read-write only to keep a reader on the FIFO (see above)
    return openChan(openSync(fifoPath(p), fsc.O_RDWR | fsc.O_NONBLOCK), { readable: false, writable: true });
  }

  /** A pipe whose write end the process gets; what it writes is copied to the sink until EOF. */
  private outputPipe(sink: Chan): { fd: number; done: Promise<void> } {
    const [r, w] = pipe();
    this.own(w);
    const source = openChan(r, { readable: true, writable: false });
    this.copies.push(source, sink);
    const done = new Promise<void>((resolve) => {
      sink.once('close', () => resolve());
      sink.once('finish', () => resolve());
      sink.on('error', () => { source.destroy(); resolve(); });
    });
    // EOF once every holder of the write end has closed it: the sink is closed then, as the runc
    // shim does (a client such as dockerd waits for the FIFO's EOF before deleting the task).
    copy(source, sink);
    return { fd: w, done };
  }

  /**
   * A `binary://` logger (as the runc shim runs it): the query pairs as arguments, the
   * container's stdout on its fd 3 and stderr on fd 4, and fd 5 closed by it once it is ready.
   */
  private async startLogger(env: { id: string; namespace: string }): Promise<void> {
    const url = new URL(this.paths.stdout);
    const args: string[] = [];
    for (const [k, v] of url.searchParams) args.push(k, ...(v ? [v] : []));
    const child = childProcess().spawn(decodeURIComponent(url.pathname), args, {
      stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, CONTAINER_ID: env.id, CONTAINER_NAMESPACE: env.namespace },
    });
    this.logger = child;
    const ready = (child.stdio as unknown as Socket[])[5];
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`logger ${url.pathname} exited with ${code} before it was ready`)));
      ready.on('data', () => undefined);
      ready.once('close', () => resolve());
    });
    const fdOf = (s: unknown) => (s as { _handle?: { fd?: number } })._handle?.fd ?? -1;
    this.fds.stdout = fdOf(child.stdio[3]);
    this.fds.stderr = fdOf(child.stdio[4]);
    this.copies.push(child.stdio[3] as Socket, child.stdio[4] as Socket);
    if (this.paths.stdin) this.fds.stdin = this.stdinPipe(this.paths.stdin);
  }

  /** A pipe whose read end the process gets, fed from the stdin FIFO. */
  private stdinPipe(path: string): number {
    // O_NONBLOCK so that the open does not wait for a writer. A reader opened before any
    // writer sees no hang-up until a writer has come and gone, so the copy waits for the client.
    const fifo = openChan(openSync(fifoPath(path), fsc.O_RDONLY | fsc.O_NONBLOCK), { readable: true, writable: false });
    this.copies.push(fifo);
    const [r, w] = pipe();
    const writer = openChan(w, { readable: false, writable: true });
    this.copies.push(writer);
    writer.on('error', () => fifo.destroy());
    copy(fifo, writer); // the process sees EOF when the client closes its end, as with the runc shim
    this.stdinSocket = fifo;
    this.stdinWriter = writer;
    return this.own(r);
  }

  private openAll(): void {
    const { stdin, stdout, stderr } = this.paths;
    if (this.terminal) return; // the terminal's copies are set up once the master exists
    if (stdin) this.fds.stdin = this.stdinPipe(stdin);
    const done: Promise<void>[] = [];
    if (stdout) {
      const out = this.outputPipe(this.outputSink(stdout));
      this.fds.stdout = out.fd;
      done.push(out.done);
    }
    if (stderr) {
      // file:// sends both streams to one file, as the runc shim does.
      if (isFile(stderr) && stderr === stdout) this.fds.stderr = this.fds.stdout;
      else {
        const err = this.outputPipe(this.outputSink(stderr));
        this.fds.stderr = err.fd;
        done.push(err.done);
      }
    }
    if (done.length) this.outputDone = Promise.all(done).then(() => undefined);
  }

  /**
   * The FIFOs and pipes the process gets become the io_uid's and io_gid's, as the runc shim's
   * pipes do: a process in a user namespace may then reopen them (/dev/stdout, /proc/self/fd/1).
   * Files (file://) keep their owner.
   */
  private chown(owner: IoOwner): void {
    for (const fd of new Set([this.fds.stdin, this.fds.stdout, this.fds.stderr])) {
      if (typeof fd !== 'number' || fd < 0 || !fstatSync(fd).isFIFO()) continue;
      fchownSync(fd, owner.uid, owner.gid);
    }
  }

  /** The process's fds 0-2, for Runtime.create / Container.exec. */
  stdio(): { stdin: StdioSpec; stdout: StdioSpec; stderr: StdioSpec } {
    return this.fds;
  }

  /** Once the process exists: our copies of its fds go, and a terminal's copying starts. */
  afterStart(master: number | undefined): void {
    for (const fd of this.owned) try { closeSync(fd); } catch { /* already closed */ }
    this.owned = [];
    if (this.logger) {
      // The logger sees EOF once the container's processes have closed them too.
      for (const c of this.copies) c.destroy();
      this.copies = [];
    }
    if (!this.terminal || master === undefined) return;
    this.masterFd = master;
    const { stdin, stdout } = this.paths;
    // Writes to the master go through a dup that stays blocking, whatever libuv does to the reader's fd.
    const writeFd = dup(master);
    this.owned.push(writeFd);
    // The reader gets a dup too: the master itself stays ours for ResizePty whatever the stream does with its fd.
    // node:tty only for a terminal
    const reader = new (require('node:tty') as typeof Tty).ReadStream(dup(master));
    this.copies.push(reader);
    let out: Chan | undefined;
    if (stdout) {
      out = openChan(openSync(fifoPath(stdout), fsc.O_RDWR | fsc.O_NONBLOCK), { readable: false, writable: true });
      out.on('error', () => undefined);
      this.copies.push(out);
    }
    this.outputDone = new Promise<void>((resolve) => {
      reader.on('data', (chunk: Buffer) => { out?.write(chunk); });
      // EIO once every holder of the pty's other end has closed it: the end of the output. The FIFO is then closed,
      // as the runc shim does: a client (dockerd) waits for its EOF before it deletes the task.
      const done = () => {
        if (out && !out.destroyed) out.end(() => out?.destroy());
        resolve();
      };
      reader.on('error', done);
      reader.on('end', done);
      reader.on('close', done);
    });
    if (stdin) {
      const inFd = openSync(fifoPath(stdin), fsc.O_RDONLY | fsc.O_NONBLOCK);
      const sock = openChan(inFd, { readable: true, writable: false });
      this.stdinSocket = sock;
      this.copies.push(sock);
      sock.on('data', (chunk: Buffer) => {
        let off = 0;
        while (off < chunk.length) {
          try { off += writeSync(writeFd, chunk, off); } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return; }
        }
      });
      sock.on('error', () => undefined);
      sock.resume();
    }
  }

  /** Waits (a little) for the process's last output to reach the client. */
  async drain(): Promise<void> {
    await Promise.race([this.outputDone, new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  closeStdin(): void {
    this.stdinSocket?.destroy();
    this.stdinSocket = undefined;
    this.stdinWriter?.destroy();
    this.stdinWriter = undefined;
  }

  close(): void {
    for (const c of this.copies) try { c.destroy(); } catch { /* gone */ }
    this.copies = [];
    for (const fd of this.owned) try { closeSync(fd); } catch { /* already closed */ }
    this.owned = [];
    this.masterFd = -1;
    const logger = this.logger;
    if (logger && logger.exitCode === null && logger.signalCode === null) {
      // It exits by itself at EOF; one that does not is stopped, as the runc shim does.
      const t = setTimeout(() => logger.kill('SIGKILL'), 12_000);
      t.unref();
      logger.once('exit', () => clearTimeout(t));
      logger.kill('SIGTERM');
    }
    this.logger = undefined;
  }
}
