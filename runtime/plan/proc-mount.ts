import { lstatSync, readlinkSync, statfsSync } from 'node:fs';
import { posix } from 'node:path';
import { TsrunError, describeSystemError } from '../errors.js';

const PROC_SUPER_MAGIC = 0x9fa0;

/** Files under /proc that lxcfs emulates: runc lets binds cover exactly these. */
const LXCFS_PROC_FILES = ['/proc/cpuinfo', '/proc/diskstats', '/proc/meminfo', '/proc/stat', '/proc/swaps', '/proc/uptime', '/proc/loadavg', '/proc/slabinfo', '/proc/net/dev'];

/**
 * The container path `target` resolves to inside `rootfs`, following the symlinks that exist
 * now as the executor would (absolute ones from the rootfs, `..` never above it).
 */
export function resolveInRoot(rootfs: string, target: string): string {
  const rest = target.split('/').filter((s) => s !== '' && s !== '.');
  const done: string[] = [];
  let links = 0;
  while (rest.length) {
    const part = rest.shift()!;
    if (part === '..') { done.pop(); continue; }
    const host = posix.join(rootfs, ...done, part);
    let link: string | undefined;
    try { if (lstatSync(host).isSymbolicLink()) link = readlinkSync(host); } catch { /* missing: the executor makes it */ }
    if (link === undefined) { done.push(part); continue; }
    if (++links > 255) throw new TsrunError(`too many levels of symbolic links in ${target}`);
    if (link.startsWith('/')) done.length = 0;
    rest.unshift(...link.split('/').filter((s) => s !== '' && s !== '.'));
  }
  return '/' + done.join('/');
}

/**
 * runc's checkProcMount for binds: nothing may be bound over /proc unless it is a procfs, and
 * nothing inside /proc except the files lxcfs provides. A host directory at /proc would take
 * the sysctls and LSM labels the runtime writes there (CVE-2019-16884).
 */
export function checkProcMount(rootfs: string, target: string, source: string, what: string): void {
  const dest = resolveInRoot(rootfs, target);
  const hostDest = posix.join(rootfs, dest);
  if (dest === '/proc') {
    let type: number;
    try { type = Number(statfsSync(source).type); } catch (err) { throw new TsrunError(`${what}: ${describeSystemError(err)}`); }
    if (type !== PROC_SUPER_MAGIC) throw new TsrunError(`${what}: "${hostDest}" cannot be mounted because it is not of type proc`);
    return;
  }
  if (!dest.startsWith('/proc/')) return;
  if (LXCFS_PROC_FILES.includes(dest)) return;
  throw new TsrunError(`${what}: "${hostDest}" cannot be mounted because it is inside /proc`);
}
