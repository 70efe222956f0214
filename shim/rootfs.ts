// The rootfs mounts containerd sends with Create (an image's overlay, or a bind), mounted on the
// bundle's rootfs directory before the container is created and unmounted when it is deleted.
import type { types } from '../proto/index.js';
import { mount, umount, MNT_DETACH } from './sys.js';

const MS_RDONLY = 1;
const MS_BIND = 4096;
const MS_REC = 16384;
const FLAGS: Record<string, number> = { ro: MS_RDONLY, bind: MS_BIND, rbind: MS_BIND | MS_REC, rw: 0, rprivate: 0 };

export function mountRootfs(mounts: types.Mount[], target: string): void {
  const done: string[] = [];
  try {
    for (const m of mounts) {
      let flags = 0;
      const data: string[] = [];
      for (const o of m.options) {
        if (o in FLAGS) flags |= FLAGS[o];
        else data.push(o);
      }
      if (m.type === 'bind' || flags & MS_BIND) {
        mount(m.source, target, null, (flags & ~MS_RDONLY) | MS_BIND, null);
        done.push(target);
        // A read-only bind takes a remount: the kernel ignores MS_RDONLY on the first call.
        if (flags & MS_RDONLY) mount('', target, null, MS_BIND | MS_RDONLY | 32 /* MS_REMOUNT */, null);
      } else {
        mount(m.source || m.type, target, m.type, flags, data.join(',') || null);
        done.push(target);
      }
    }
  } catch (err) {
    for (const t of done.reverse()) try { umount(t, MNT_DETACH); } catch { /* best effort */ }
    throw err;
  }
}

/** Unmounts everything stacked on `target`; nothing mounted is fine. */
export function unmountRootfs(target: string): void {
  for (let i = 0; i < 16; i++) {
    try { umount(target, MNT_DETACH); } catch { return; }
  }
}
