// A host described in memory for the plan compiler (runtime/plan/host.ts): files, directories
// and symlinks at absolute paths, no temp dirs needed.
import { posix } from 'node:path';
import type { FileInfo, HostView } from '../../runtime/plan/host.js';

export type Entry = { file: string } | { dir: true } | { link: string };

function enoent(syscall: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOENT: no such file or directory, ${syscall} '${path}'`), { code: 'ENOENT', syscall, path });
}

export function memoryHost(entries: Record<string, Entry>, fsTypes: Record<string, number> = {}): HostView {
  const at = (path: string) => entries[posix.normalize(path)];
  const info = (e: Entry): FileInfo => ('file' in e ? { type: 'file', size: Buffer.byteLength(e.file) } : 'dir' in e ? { type: 'directory', size: 0 } : { type: 'symlink', size: e.link.length });
  const view: HostView = {
    lstat(path) {
      const e = at(path);
      return e ? info(e) : undefined;
    },
    stat(path) {
      let p = posix.normalize(path);
      for (let i = 0; i < 40; i++) {
        const e = at(p);
        if (!e) throw enoent('stat', path);
        if (!('link' in e)) return info(e);
        p = posix.resolve(posix.dirname(p), e.link);
      }
      throw Object.assign(new Error(`ELOOP: stat '${path}'`), { code: 'ELOOP' });
    },
    readlink(path) {
      const e = at(path);
      if (!e || !('link' in e)) throw Object.assign(new Error(`EINVAL: readlink '${path}'`), { code: e ? 'EINVAL' : 'ENOENT' });
      return e.link;
    },
    readFile(path) {
      const st = view.stat(path);
      if (st.type !== 'file') throw Object.assign(new Error(`EISDIR: read '${path}'`), { code: 'EISDIR' });
      let p = posix.normalize(path);
      for (let e = at(p); e && 'link' in e; e = at(p)) p = posix.resolve(posix.dirname(p), e.link);
      return (at(p) as { file: string }).file;
    },
    statfsType(path) {
      view.stat(path);
      return fsTypes[posix.normalize(path)] ?? 0xef53;
    },
    exists(path) {
      try { view.stat(path); return true; } catch { return false; }
    },
  };
  return view;
}
