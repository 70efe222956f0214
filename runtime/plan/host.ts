// What the plan compiler may know of the host and of the rootfs: it asks a HostView instead of
// reading files itself, so that it stays a pure function of its inputs (runtime/host-view.ts is
// the real one; tests describe any host they like).
import { posix } from 'node:path';
import { TsrunError } from '../errors.js';

export interface FileInfo {
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
}

export interface HostView {
  /** the entry itself (a symlink is not followed); undefined when there is none */
  lstat(path: string): FileInfo | undefined;
  /** what the path leads to; throws the system error (ENOENT…) as node:fs does */
  stat(path: string): FileInfo;
  readlink(path: string): string;
  /** a small text file (the rootfs's /etc/passwd); throws as node:fs does */
  readFile(path: string): string;
  /** the filesystem type's magic number (statfs f_type); throws as node:fs does */
  statfsType(path: string): number;
  exists(path: string): boolean;
}

/**
 * The container path `target` resolves to inside `rootfs`, following the symlinks that exist
 * now as the executor will (absolute ones from the rootfs, `..` never above it); components that
 * do not exist yet are kept as they are.
 */
export function resolveInRoot(host: HostView, rootfs: string, target: string): string {
  const rest = target.split('/').filter((s) => s !== '' && s !== '.');
  const done: string[] = [];
  let links = 0;
  while (rest.length) {
    const part = rest.shift()!;
    if (part === '..') { done.pop(); continue; }
    const here = posix.join(rootfs, ...done, part);
    const link = host.lstat(here)?.type === 'symlink' ? host.readlink(here) : undefined;
    if (link === undefined) { done.push(part); continue; }
    if (++links > 255) throw new TsrunError(`too many levels of symbolic links in ${target}`);
    if (link.startsWith('/')) done.length = 0;
    rest.unshift(...link.split('/').filter((s) => s !== '' && s !== '.'));
  }
  return '/' + done.join('/');
}

/** Whether an LSM is active on the host (runc refuses a profile or label for one that is not). */
export function lsmEnabled(host: HostView, lsm: 'apparmor' | 'selinux'): boolean {
  try {
    if (lsm === 'apparmor') return host.readFile('/sys/module/apparmor/parameters/enabled').startsWith('Y');
    return host.exists('/sys/fs/selinux/enforce');
  } catch {
    return false;
  }
}
