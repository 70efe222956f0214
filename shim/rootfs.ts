// The rootfs mounts containerd sends with Create (an image's overlay, or a bind), mounted on the
// bundle's rootfs directory before the container is created and unmounted when it is deleted.
import { childProcess } from '../runtime/lazy-modules.js';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
      let data: string[] = [];
      const idmap: { uidmap?: string; gidmap?: string } = {};
      for (const o of m.options) {
        if (o in FLAGS) flags |= FLAGS[o];
        else if (o.startsWith('uidmap=')) idmap.uidmap = o.slice(7);
        else if (o.startsWith('gidmap=')) idmap.gidmap = o.slice(7);
        else data.push(o);
      }
      let idmapped: string | undefined;
      if (idmap.uidmap && idmap.gidmap) {
        if (m.type !== 'overlay') throw new Error(`tsrun shim: id-mapped ${m.type} rootfs mounts are not supported`);
        ({ data, idmapped } = idmapLowerDirs(data, idmap.uidmap, idmap.gidmap, dirname(target)));
      }
      if (m.type === 'bind' || flags & MS_BIND) {
        mount(m.source, target, null, (flags & ~MS_RDONLY) | MS_BIND, null);
        done.push(target);
        // A read-only bind takes a remount: the kernel ignores MS_RDONLY on the first call.
        if (flags & MS_RDONLY) mount('', target, null, MS_BIND | MS_RDONLY | 32 /* MS_REMOUNT */, null);
      } else {
        try {
          mount(m.source || m.type, target, m.type, flags, data.join(',') || null);
        } finally {
          // The overlay holds its lower directories itself: the id-mapped clone is only needed to mount it.
          if (idmapped) {
            try { umount(idmapped, MNT_DETACH); } catch { /* not mounted */ }
            try { rmdirSync(idmapped); } catch { /* gone */ }
          }
        }
        done.push(target);
      }
    }
  } catch (err) {
    for (const t of done.reverse()) try { umount(t, MNT_DETACH); } catch { /* best effort */ }
    throw err;
  }
}

/**
 * A user-namespaced pod's image (containerd 2: `uidmap=`/`gidmap=` on its overlay): the lower directories are
 * read through an id-mapped clone of their common parent, as containerd's own mount code does. The clone is made by
 * the C launcher (`idmap-mount`): the user namespace it takes needs a single-threaded process to create.
 */
function idmapLowerDirs(data: string[], uidmap: string, gidmap: string, scratch: string): { data: string[]; idmapped: string } {
  const i = data.findIndex((o) => o.startsWith('lowerdir='));
  if (i < 0) throw new Error('tsrun shim: an id-mapped overlay without lowerdir');
  const lowers = data[i].slice(9).split(':');
  let common = lowers[0];
  for (const l of lowers) while (!l.startsWith(common)) common = common.slice(0, -1);
  common = common.endsWith('/') ? common.slice(0, -1) : dirname(common);
  if (common === '' || common === '/' || common === '.') throw new Error(`tsrun shim: no common parent of the lower directories ${lowers.join(':')}`);
  const idmapped = mkdtempSync(join(scratch, 'ovl-idmapped-'));
  const launcher = join(dirname(process.argv[1]), 'containerd-shim-tsrun-v2');
  const r = childProcess().spawnSync(launcher, ['idmap-mount', common, idmapped, uidmap, gidmap], { encoding: 'utf8' });
  if (r.status !== 0) {
    try { rmdirSync(idmapped); } catch { /* gone */ }
    throw new Error(`tsrun shim: ${(r.stderr || String(r.error)).trim()}`);
  }
  const out = [...data];
  out[i] = `lowerdir=${lowers.map((l) => idmapped + l.slice(common.length)).join(':')}`;
  return { data: out, idmapped };
}

/** Unmounts everything stacked on `target`; nothing mounted is fine. */
export function unmountRootfs(target: string): void {
  for (let i = 0; i < 16; i++) {
    try { umount(target, MNT_DETACH); } catch { return; }
  }
}
