// System calls for talking to `criu swrk` that Node has no API for: CRIU's RPC wants a
// SOCK_SEQPACKET pair (one message per packet, no length prefix; libuv cannot wrap one), replies
// may carry an fd (the orphan pty master), and a restore wants the rootfs bind-mounted where
// CRIU can use it as the root of the restored mount namespace. Loaded on first use, as syscalls.ts.
import { AF_UNIX, MSG_CMSG_CLOEXEC, SOCK_CLOEXEC, SOCK_SEQPACKET, SOCK_STREAM, msghdrFunctions, rightsIn, rightsOf } from './msghdr.js';
import { koffi as loadKoffi } from './koffi.js';

export interface Packet { data: Buffer; fds: number[] }

export interface CriuSyscalls {
  /** A connected AF_UNIX SOCK_SEQPACKET pair, both ends close-on-exec. */
  seqpacketPair(): [number, number];
  send(fd: number, data: Uint8Array): void;
  /** Receives one packet on a worker thread (the event loop runs meanwhile), with any fds it carries (close-on-exec). */
  receive(fd: number, max: number): Promise<Packet>;
  /** mount(src, dst, NULL, MS_BIND|MS_REC) */
  bindMount(source: string, target: string): void;
  /** umount2(target, MNT_DETACH); false when it was not a mount point */
  detach(target: string): boolean;
  /** Sends one fd with a name over a new connection to a unix stream socket (the console socket protocol). */
  sendFdTo(path: string, fd: number, name: string): void;
  close(fd: number): void;
}

const MSG_NOSIGNAL = 0x4000;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MNT_DETACH = 2;
const EINTR = 4;
const EINVAL = 22;

type KoffiFn = ((...args: unknown[]) => number) & { async: (...args: unknown[]) => void };

interface Fns {
  socketpair: KoffiFn; socket: KoffiFn; connect: KoffiFn; send: KoffiFn; sendmsg: KoffiFn; recvmsg: KoffiFn;
  mount: KoffiFn; umount2: KoffiFn; close: KoffiFn; errno: () => number;
}

export class SysError extends Error {
  constructor(readonly syscall: string, readonly errno: number, readonly path?: string) {
    super(`${syscall}${path ? ` ${path}` : ''}: errno ${errno}`);
  }
}

class KoffiCriu implements CriuSyscalls {
  private fns: Fns | undefined;

  private load(): Fns {
    if (this.fns) return this.fns;
    const koffi = loadKoffi();
    const libc = koffi.load('libc.so.6');
    const { socketpair, sendmsg, recvmsg } = msghdrFunctions<KoffiFn>(koffi, libc);
    this.fns = {
      socketpair, sendmsg, recvmsg,
      socket: libc.func('int socket(int, int, int)'),
      connect: libc.func('int connect(int, const uint8_t *addr, uint32_t)'),
      send: libc.func('intptr_t send(int, const uint8_t *buf, size_t, int)'),
      mount: libc.func('int mount(const char *, const char *, const char *, unsigned long, const void *)'),
      umount2: libc.func('int umount2(const char *, int)'),
      close: libc.func('int close(int)'),
      errno: () => koffi.errno(),
    };
    return this.fns;
  }

  private fail(syscall: string, path?: string): never {
    throw new SysError(syscall, this.load().errno(), path);
  }

  seqpacketPair(): [number, number] {
    const f = this.load();
    const sv = [0, 0];
    if (f.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) !== 0) this.fail('socketpair');
    return [sv[0], sv[1]];
  }

  send(fd: number, data: Uint8Array): void {
    const f = this.load();
    const buf = Buffer.from(data);
    for (;;) {
      const n = f.send(fd, buf, buf.length, MSG_NOSIGNAL);
      if (n === buf.length) return;
      if (n < 0 && f.errno() === EINTR) continue;
      this.fail('send');
    }
  }

  receive(fd: number, max: number): Promise<Packet> {
    const f = this.load();
    const data = Buffer.alloc(max);
    const control = Buffer.alloc(4096);
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const msg = { name: null, namelen: 0, iov: [{ base: data, len: data.length }], iovlen: 1, control, controllen: control.length, flags: 0 };
        f.recvmsg.async(fd, msg, MSG_CMSG_CLOEXEC, (err: Error | null, n: number) => {
          if (err) return reject(err);
          if (n < 0) {
            const e = f.errno();
            if (e === EINTR) return attempt();
            return reject(new SysError('recvmsg', e));
          }
          resolve({ data: Buffer.from(data.subarray(0, n)), fds: rightsIn(control, msg.controllen) });
        });
      };
      attempt();
    });
  }

  bindMount(source: string, target: string): void {
    if (this.load().mount(source, target, null, MS_BIND | MS_REC, null) !== 0) this.fail('mount', target);
  }

  detach(target: string): boolean {
    const f = this.load();
    if (f.umount2(target, MNT_DETACH) === 0) return true;
    if (f.errno() === EINVAL) return false;
    this.fail('umount2', target);
  }

  sendFdTo(path: string, fd: number, name: string): void {
    const f = this.load();
    const sock = f.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0) this.fail('socket');
    try {
      const addr = Buffer.alloc(110);
      addr.writeUInt16LE(AF_UNIX, 0);
      const p = Buffer.from(path);
      if (p.length > 107) throw new SysError('connect', 36, path);
      p.copy(addr, 2);
      if (f.connect(sock, addr, 2 + p.length + 1) !== 0) this.fail('connect', path);
      const data = Buffer.from(name);
      const control = rightsOf(fd);
      const msg = { name: null, namelen: 0, iov: [{ base: data, len: data.length }], iovlen: 1, control, controllen: control.length, flags: 0 };
      if (f.sendmsg(sock, msg, MSG_NOSIGNAL) < 0) this.fail('sendmsg', path);
    } finally {
      f.close(sock);
    }
  }

  close(fd: number): void {
    this.load().close(fd);
  }
}

let instance: CriuSyscalls | undefined;

export function criuSyscalls(): CriuSyscalls {
  return (instance ??= new KoffiCriu());
}

/** Tests replace the real implementation with a double. */
export function setCriuSyscallsForTesting(s: CriuSyscalls | undefined): void {
  instance = s;
}
