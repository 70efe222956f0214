// SO_PEERCRED, which Node has no API for: the ttrpc server accepts only peers running as its own
// user, as containerd's shims do (ttrpc's UnixSocketRequireSameUser). koffi is loaded on first
// use only (see syscalls.ts).
import type { Socket } from 'node:net';
import { koffi as loadKoffi } from './koffi.js';

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

export interface PeerCred { pid: number; uid: number; gid: number }

let getsockoptFn: ((fd: number, level: number, name: number, val: Buffer, len: number[]) => number) | undefined;
let errnoFn: (() => number) | undefined;

/** The credentials the kernel recorded for the peer of a connected unix socket fd. */
export function peerCred(fd: number): PeerCred {
  if (!getsockoptFn) {
    const koffi = loadKoffi();
    const libc = koffi.load('libc.so.6');
    getsockoptFn = libc.func('int getsockopt(int, int, int, _Out_ uint8_t *val, _Inout_ uint32_t *len)');
    errnoFn = () => koffi.errno();
  }
  // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
  const buf = Buffer.alloc(12);
  const len = [12];
  if (getsockoptFn!(fd, SOL_SOCKET, SO_PEERCRED, buf, len) !== 0) throw new Error(`getsockopt(SO_PEERCRED): errno ${errnoFn!()}`);
  return { pid: buf.readInt32LE(0), uid: buf.readUInt32LE(4), gid: buf.readUInt32LE(8) };
}

/** The fd under a connected net.Socket (libuv's pipe handle), or -1 when it has none. */
export function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}
