import { posix } from 'node:path';
import { resolveInRoot, type HostView } from './host.js';

/** The home directory of uid in the container's /etc/passwd, "/" when there is none (as runc). */
export function containerHome(host: HostView, rootfs: string, uid: number): string {
  let text: string;
  try {
    // Read through the rootfs's own symlinks, never out of it.
    const file = posix.join(rootfs, resolveInRoot(host, rootfs, '/etc/passwd'));
    const st = host.lstat(file);
    if (st?.type !== 'file' || st.size > 4 << 20) return '/';
    text = host.readFile(file);
  } catch {
    return '/';
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 6 && Number(f[2]) === uid && f[2] !== '') return f[5] || '/';
  }
  return '/';
}
