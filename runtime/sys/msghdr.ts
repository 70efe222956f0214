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
