import { posix } from 'node:path';
import { TsrunError, describeSystemError } from '../errors.js';
import { resolveInRoot, type HostView } from './host.js';

const PROC_SUPER_MAGIC = 0x9fa0;

/** Files under /proc that lxcfs emulates: runc lets binds cover exactly these. */
const LXCFS_PROC_FILES = ['/proc/cpuinfo', '/proc/diskstats', '/proc/meminfo', '/proc/stat', '/proc/swaps', '/proc/uptime', '/proc/loadavg', '/proc/slabinfo', '/proc/net/dev'];

/**
 * runc's checkProcMount for binds: nothing may be bound over /proc unless it is a procfs, and
 * nothing inside /proc except the files lxcfs provides. A host directory at /proc would take
 * the sysctls and LSM labels the runtime writes there (CVE-2019-16884).
 */
export function checkProcMount(host: HostView, rootfs: string, target: string, source: string, what: string): void {
  const dest = resolveInRoot(host, rootfs, target);
  const hostDest = posix.join(rootfs, dest);
  if (dest === '/proc') {
    let type: number;
    try { type = host.statfsType(source); } catch (err) { throw new TsrunError(`${what}: ${describeSystemError(err)}`); }
    if (type !== PROC_SUPER_MAGIC) throw new TsrunError(`${what}: "${hostDest}" cannot be mounted because it is not of type proc`);
    return;
  }
  if (!dest.startsWith('/proc/')) return;
  if (LXCFS_PROC_FILES.includes(dest)) return;
  throw new TsrunError(`${what}: "${hostDest}" cannot be mounted because it is inside /proc`);
}
