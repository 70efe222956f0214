// A process's stdio as containerd names it: FIFO paths (ctr's, CRI's), `file://` paths, or
// nothing. Without a terminal the FIFOs themselves become the process's fds 0-2, so output
// never passes through this process (no copy, no buffering here): each output FIFO is opened
// read-write, which keeps a reader on it for as long as the process runs, so a client that goes
// away never makes the container's writes fail with EPIPE. With a terminal, the pty master the
// library hands over is copied to the stdout FIFO, and the stdin FIFO to the master.
import { openSync, closeSync, writeSync, mkdirSync, fstatSync, fchownSync, constants as fsc } from 'node:fs';
import { dirname } from 'node:path';
import { Socket } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { ReadStream } from 'node:tty';
import type { StdioSpec } from '../runtime/index.js';
import { setBlocking, dup } from './sys.js';

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

  private openOutput(p: string): number {
    if (isFile(p)) {
      const path = new URL(p).pathname;
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      return this.own(openSync(path, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT, 0o644));
    }
    if (p.startsWith('binary://')) throw Object.assign(new Error(`tsrun shim: binary:// loggers are not supported yet (${p})`), { code: 'EINVAL' });
    return this.own(openSync(fifoPath(p), fsc.O_RDWR));
  }

  /**
   * A `binary://` logger (as the runc shim runs it): the query pairs as arguments, the
   * container's stdout on its fd 3 and stderr on fd 4, and fd 5 closed by it once it is ready.
   */
  private async startLogger(env: { id: string; namespace: string }): Promise<void> {
    const url = new URL(this.paths.stdout);
    const args: string[] = [];
    for (const [k, v] of url.searchParams) args.push(k, ...(v ? [v] : []));
    const child = spawn(decodeURIComponent(url.pathname), args, {
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
    if (this.paths.stdin) {
      const fd = this.own(openSync(fifoPath(this.paths.stdin), fsc.O_RDONLY | fsc.O_NONBLOCK));
      setBlocking(fd, true);
      this.fds.stdin = fd;
    }
  }

  private openAll(): void {
    const { stdin, stdout, stderr } = this.paths;
    if (this.terminal) return; // the terminal's copies are set up once the master exists
    if (stdin) {
      // O_NONBLOCK so that the open does not wait for a writer; the process reads it blocking.
      const fd = this.own(openSync(fifoPath(stdin), fsc.O_RDONLY | fsc.O_NONBLOCK));
      setBlocking(fd, true);
      this.fds.stdin = fd;
    }
    if (stdout) this.fds.stdout = this.openOutput(stdout);
    if (stderr) {
      // file:// sends both streams to one file, as the runc shim does.
      this.fds.stderr = isFile(stderr) && stderr === stdout ? this.fds.stdout : this.openOutput(stderr);
    }
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

  /** Waits (a little) for the terminal's last output to reach the client. */
  async drain(): Promise<void> {
    if (!this.terminal) return;
    await Promise.race([this.outputDone, new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  closeStdin(): void {
    this.stdinSocket?.destroy();
    this.stdinSocket = undefined;
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
