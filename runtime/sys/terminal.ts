// Terminal system calls Node has no API for: receiving an fd (SCM_RIGHTS), termios on an fd that
// is not our stdin, window sizes. Only `run`/`exec` in the foreground with a terminal need them,
// so koffi is loaded on first use, as in syscalls.ts.
import { AF_UNIX, CMSG_LEN_ONE_FD, CMSG_SPACE_ONE_FD, MSG_CMSG_CLOEXEC, SOCK_CLOEXEC, SOCK_STREAM, msghdrFunctions, rightsIn } from './msghdr.js';
import { koffi as loadKoffi } from './koffi.js';

export interface WindowSize { rows: number; cols: number }

export interface TerminalSyscalls {
  /** A connected AF_UNIX stream socket pair, both ends close-on-exec. */
  socketPair(): [number, number];
  /**
   * Receives the one message of the console socket protocol without blocking: its data and the
   * one fd it carries (close-on-exec). Anything else (no fd, more fds, truncation) is an error.
   */
  receiveFd(sock: number): { name: string; fd: number };
  isatty(fd: number): boolean;
  getWindowSize(fd: number): WindowSize | undefined;
  setWindowSize(fd: number, size: WindowSize): void;
  /** Puts the terminal in raw mode (runc's: see rawModeOf); returns the settings to restore. */
  makeRaw(fd: number): Buffer;
  restoreMode(fd: number, saved: Buffer): void;
}

const MSG_DONTWAIT = 0x40;
const MSG_CTRUNC = 0x8;
const TIOCGWINSZ = 0x5413;
const TIOCSWINSZ = 0x5414;
const TCSANOW = 0;
/** glibc's struct termios is 60 bytes. */
const TERMIOS_SIZE = 60;
/** go-runc's limit on the name sent with the master. */
const MAX_NAME = 4096;

type KoffiFn = (...args: unknown[]) => number;

interface Fns {
  socketpair: KoffiFn; recvmsg: KoffiFn; isatty: KoffiFn; ioctl: KoffiFn; tcgetattr: KoffiFn; tcsetattr: KoffiFn;
  close: KoffiFn; errno: () => number;
}

class KoffiTerminal implements TerminalSyscalls {
  private fns: Fns | undefined;

  private load(): Fns {
    if (this.fns) return this.fns;
    const koffi = loadKoffi();
    const libc = koffi.load('libc.so.6');
    const { socketpair, recvmsg } = msghdrFunctions<KoffiFn>(koffi, libc);
    this.fns = {
      socketpair, recvmsg,
      isatty: libc.func('int isatty(int)'),
      ioctl: libc.func('int ioctl(int, unsigned long, ...)'),
      tcgetattr: libc.func('int tcgetattr(int, _Out_ uint8_t *termios)'),
      tcsetattr: libc.func('int tcsetattr(int, int, const uint8_t *termios)'),
      close: libc.func('int close(int)'),
      errno: () => koffi.errno(),
    };
    return this.fns;
  }

  private fail(what: string): never {
    const e = this.load().errno();
    const err = new Error(`${what}: errno ${e}`) as NodeJS.ErrnoException;
    err.errno = e;
    throw err;
  }

  socketPair(): [number, number] {
    const f = this.load();
    const sv = [0, 0];
    if (f.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) !== 0) this.fail('socketpair');
    return [sv[0], sv[1]];
  }

  receiveFd(sock: number): { name: string; fd: number } {
    const f = this.load();
    const data = Buffer.alloc(MAX_NAME);
    // Room for one fd more than expected, so that extra fds show up as such instead of as truncation.
    const control = Buffer.alloc(CMSG_SPACE_ONE_FD * 2);
    const msg = { name: null, namelen: 0, iov: [{ base: data, len: data.length }], iovlen: 1, control, controllen: control.length, flags: 0 };
    const n = f.recvmsg(sock, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) this.fail('recvmsg');
    const fds = rightsIn(control, msg.controllen);
    const wellFormed = fds.length === 1 && msg.controllen === CMSG_SPACE_ONE_FD && !(msg.flags & MSG_CTRUNC)
      && Number(control.readBigUInt64LE(0)) === CMSG_LEN_ONE_FD && n > 0 && n < MAX_NAME;
    if (!wellFormed) {
      for (const fd of fds) f.close(fd);
      throw new Error(`console socket: expected one fd and a name, got ${fds.length} fd(s) and ${n} bytes`);
    }
    return { name: data.subarray(0, n).toString('utf8'), fd: fds[0] };
  }

  isatty(fd: number): boolean {
    return this.load().isatty(fd) === 1;
  }

  getWindowSize(fd: number): WindowSize | undefined {
    const ws = Buffer.alloc(8);
    if (this.load().ioctl(fd, TIOCGWINSZ, 'uint8_t *', ws) !== 0) return undefined;
    return { rows: ws.readUInt16LE(0), cols: ws.readUInt16LE(2) };
  }

  setWindowSize(fd: number, size: WindowSize): void {
    const ws = Buffer.alloc(8);
    ws.writeUInt16LE(size.rows, 0);
    ws.writeUInt16LE(size.cols, 2);
    if (this.load().ioctl(fd, TIOCSWINSZ, 'uint8_t *', ws) !== 0) this.fail('ioctl TIOCSWINSZ');
  }

  makeRaw(fd: number): Buffer {
    const f = this.load();
    const saved = Buffer.alloc(TERMIOS_SIZE);
    if (f.tcgetattr(fd, saved) !== 0) this.fail('tcgetattr');
    const raw = rawModeOf(saved);
    if (f.tcsetattr(fd, TCSANOW, raw) !== 0) this.fail('tcsetattr');
    return saved;
  }

  restoreMode(fd: number, saved: Buffer): void {
    this.load().tcsetattr(fd, TCSANOW, saved);
  }
}

/**
 * Raw mode as runc sets it on its own terminal (containerd/console's SetRaw): like cfmakeraw,
 * except that output processing (OPOST, so ONLCR) stays on. The container's pty has ONLCR
 * cleared, so each newline becomes CR LF exactly once, on the user's terminal.
 * Offsets: glibc's struct termios, c_iflag, c_oflag, c_cflag, c_lflag (u32 each), c_line, c_cc.
 */
export function rawModeOf(termios: Buffer): Buffer {
  const t = Buffer.from(termios);
  const IGNBRK = 0o1, BRKINT = 0o2, PARMRK = 0o10, ISTRIP = 0o40, INLCR = 0o100, IGNCR = 0o200, ICRNL = 0o400, IXON = 0o2000;
  const OPOST = 0o1;
  const ISIG = 0o1, ICANON = 0o2, ECHO = 0o10, ECHONL = 0o100, IEXTEN = 0o100000;
  const CSIZE = 0o60, PARENB = 0o400, CS8 = 0o60;
  const VTIME = 5, VMIN = 6, C_CC = 17;
  t.writeUInt32LE((t.readUInt32LE(0) & ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON)) >>> 0, 0);
  t.writeUInt32LE((t.readUInt32LE(4) | OPOST) >>> 0, 4);
  t.writeUInt32LE((((t.readUInt32LE(8) & ~(CSIZE | PARENB)) | CS8) >>> 0), 8);
  t.writeUInt32LE((t.readUInt32LE(12) & ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN)) >>> 0, 12);
  t[C_CC + VMIN] = 1;
  t[C_CC + VTIME] = 0;
  return t;
}

let instance: TerminalSyscalls | undefined;

export function terminalSyscalls(): TerminalSyscalls {
  return (instance ??= new KoffiTerminal());
}

/** Tests replace the real implementation with a double. */
export function setTerminalSyscallsForTesting(t: TerminalSyscalls | undefined): void {
  instance = t;
}
