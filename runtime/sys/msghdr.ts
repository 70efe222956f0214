// struct msghdr as koffi sees it, for the modules that pass fds over unix sockets (terminal.ts,
// criu.ts): declared once per process (koffi's type names are global), with the calls on it.
type Koffi = { struct: (name: string, def: Record<string, string>) => unknown };
type Libc = { func: (signature: string) => unknown };

let declared = false;

export function msghdrFunctions<F>(koffi: Koffi, libc: Libc): { socketpair: F; sendmsg: F; recvmsg: F } {
  if (!declared) {
    koffi.struct('tsrun_iovec', { base: 'void *', len: 'size_t' });
    koffi.struct('tsrun_msghdr', {
      name: 'void *', namelen: 'uint32', iov: 'tsrun_iovec *', iovlen: 'size_t', control: 'void *', controllen: 'size_t', flags: 'int',
    });
    declared = true;
  }
  return {
    socketpair: libc.func('int socketpair(int, int, int, _Out_ int *sv)') as F,
    sendmsg: libc.func('intptr_t sendmsg(int, const tsrun_msghdr *msg, int)') as F,
    // koffi passes Buffers in pointer fields by reference: recvmsg fills them in place.
    recvmsg: libc.func('intptr_t recvmsg(int, _Inout_ tsrun_msghdr *msg, int)') as F,
  };
}

export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_SEQPACKET = 5;
export const SOCK_CLOEXEC = 0o2000000;
export const MSG_CMSG_CLOEXEC = 0x40000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
/** CMSG_SPACE(sizeof(int)) and CMSG_LEN(sizeof(int)) on 64-bit Linux. */
export const CMSG_SPACE_ONE_FD = 24;
export const CMSG_LEN_ONE_FD = 20;

/** The fds of every SCM_RIGHTS message in a received control buffer (`used`: msg.controllen). */
export function rightsIn(control: Buffer, used: number): number[] {
  const fds: number[] = [];
  for (let off = 0; off + 16 <= used;) {
    const len = Number(control.readBigUInt64LE(off));
    if (len < 16) break;
    if (control.readInt32LE(off + 8) === SOL_SOCKET && control.readInt32LE(off + 12) === SCM_RIGHTS) {
      for (let p = off + 16; p + 4 <= off + len; p += 4) fds.push(control.readInt32LE(p));
    }
    off += (len + 7) & ~7;
  }
  return fds;
}

/** A control buffer that passes one fd. */
export function rightsOf(fd: number): Buffer {
  const control = Buffer.alloc(CMSG_SPACE_ONE_FD);
  control.writeBigUInt64LE(BigInt(CMSG_LEN_ONE_FD), 0);
  control.writeInt32LE(SOL_SOCKET, 8);
  control.writeInt32LE(SCM_RIGHTS, 12);
  control.writeInt32LE(fd, 16);
  return control;
}
