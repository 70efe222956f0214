// umount2(2), which Node has no API for: delete detaches what a container without a mount namespace
// of its own left in the host's (runtime/container/host-mounts.ts). koffi is loaded on first use only.
import { koffi as loadKoffi } from './koffi.js';

const MNT_DETACH = 2;
const UMOUNT_NOFOLLOW = 8;

let umountFn: ((target: string, flags: number) => number) | undefined;
let errnoFn: (() => number) | undefined;

/** Lazily detaches the topmost mount at `path` (not following a final symlink); returns 0 or the errno. */
export function detachMount(path: string): number {
  if (!umountFn) {
    const koffi = loadKoffi();
    const libc = koffi.load('libc.so.6');
    umountFn = libc.func('int umount2(const char *, int)');
    errnoFn = () => koffi.errno();
  }
  return umountFn!(path, MNT_DETACH | UMOUNT_NOFOLLOW) === 0 ? 0 : errnoFn!();
}
