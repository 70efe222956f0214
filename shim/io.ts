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
import type { Writable } from 'node:stream';
import { dirname } from 'node:path';
import { Socket } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { childProcess } from '../runtime/lazy-modules.js';
import { ReadStream } from 'node:tty';
import type { StdioSpec } from '../runtime/index.js';
import { dup, pipe } from './sys.js';

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
  private stdinSocket: Socket | undefined;
  private stdinWriter: Socket | undefined;
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
  private outputSink(p: string): Writable {
    if (isFile(p)) {
      const path = new URL(p).pathname;
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      return createWriteStream(path, { flags: 'a', mode: 0o644 });
    }
    if (p.startsWith('binary://')) throw Object.assign(new Error(`tsrun shim: binary:// loggers are not supported yet (${p})`), { code: 'EINVAL' });
    return new Socket({ fd: openSync(fifoPath(p), fsc.O_RDWR | fsc.O_NONBLOCK), readable: false, writable: true });
  }

  /** A pipe whose write end the process gets; what it writes is copied to the sink until EOF. */
  private outputPipe(sink: Writable): { fd: number; done: Promise<void> } {
    const [r, w] = pipe();
    this.own(w);
    const source = new Socket({ fd: r, readable: true, writable: false });
    this.copies.push(source, sink as Writable & { destroy(): void });
    const done = new Promise<void>((resolve) => {
      sink.once('close', () => resolve());
      sink.once('finish', () => resolve());
      sink.on('error', () => { source.destroy(); resolve(); });
      source.on('error', () => sink.end());
    });
    // EOF once every holder of the write end has closed it: the sink is closed then, as the runc
    // shim does (a client such as dockerd waits for the FIFO's EOF before deleting the task).
    source.pipe(sink);
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
    const fifo = new Socket({ fd: openSync(fifoPath(path), fsc.O_RDONLY | fsc.O_NONBLOCK), readable: true, writable: false });
    this.copies.push(fifo);
    const [r, w] = pipe();
    const writer = new Socket({ fd: w, readable: false, writable: true });
    this.copies.push(writer);
    fifo.on('error', () => writer.end());
    writer.on('error', () => fifo.destroy());
    fifo.pipe(writer); // the process sees EOF when the client closes its end, as with the runc shim
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
    const reader = new ReadStream(dup(master));
    this.copies.push(reader);
    let out: Socket | undefined;
    if (stdout) {
      out = new Socket({ fd: this.own(openSync(fifoPath(stdout), fsc.O_RDWR | fsc.O_NONBLOCK)), readable: false, writable: true });
      this.owned.pop(); // the socket owns it now
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
      const sock = new Socket({ fd: inFd, readable: true, writable: false });
      this.stdinSocket = sock;
      this.copies.push(sock);
      sock.on('data', (chunk: Buffer) => {
        let off = 0;
        while (off < chunk.length) {
          try { off += writeSync(writeFd, chunk, off); } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return; }
        }
      });
      sock.on('error', () => undefined);
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
