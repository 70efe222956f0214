import { lstatSync, readlinkSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';

/**
 * Resolves a path inside an untrusted rootfs the way the kernel's RESOLVE_IN_ROOT does:
 * symlinks (absolute or with "..") are followed but never leave the rootfs.
 * Returns the host path of the final component, or undefined if it does not exist.
 */
export function resolveInRoot(rootfs: string, path: string, maxLinks = 40): string | undefined {
  const pending = path.split('/').filter(Boolean);
  const resolved: string[] = [];
  let links = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') { resolved.pop(); continue; }
    const host = posix.join(rootfs, ...resolved, part);
    let st;
    try { st = lstatSync(host); } catch { return undefined; }
    if (st.isSymbolicLink()) {
      if (++links > maxLinks) return undefined;
      const target = readlinkSync(host);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/').filter(Boolean));
      continue;
    }
    resolved.push(part);
  }
  return posix.join(rootfs, ...resolved);
}

/** The home directory of uid in the container's /etc/passwd, "/" when there is none (as runc). */
export function containerHome(rootfs: string, uid: number): string {
  const file = resolveInRoot(rootfs, '/etc/passwd');
  if (!file) return '/';
  let text: string;
  try {
    const st = lstatSync(file);
    if (!st.isFile() || st.size > 4 << 20) return '/';
    text = readFileSync(file, 'utf8');
  } catch {
    return '/';
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 6 && Number(f[2]) === uid && f[2] !== '') return f[5] || '/';
  }
  return '/';
}
