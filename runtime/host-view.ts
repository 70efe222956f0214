// The plan compiler's view of the real host (runtime/plan/host.ts), and the identity of the
// namespaces exec joins: the only file reads the compiler's inputs need.
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync, statfsSync, type Stats } from 'node:fs';
import type { FileInfo, HostView } from './plan/host.js';

function info(st: Stats): FileInfo {
  const type = st.isFile() ? 'file' : st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : 'other';
  return { type, size: st.size };
}

export const realHostView: HostView = {
  lstat(path) {
    try { return info(lstatSync(path)); } catch { return undefined; }
  },
  stat: (path) => info(statSync(path)),
  readlink: (path) => readlinkSync(path),
  readFile: (path) => readFileSync(path, 'utf8'),
  statfsType: (path) => Number(statfsSync(path).type),
  exists: (path) => existsSync(path),
};

/** Identity of a namespace file ("dev:ino"), or undefined when the kernel lacks that type. */
export function nsIdentity(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
