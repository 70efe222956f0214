import type { HostView } from './host.js';
import { TsrunError } from '../errors.js';
import type { Spec } from '../spec/types.js';
import { Tag, type PlanRecord } from './records.js';
import { containerPath } from './mounts.js';

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

interface DeviceNode { path: string; type: 'c' | 'b' | 'p'; major: number; minor: number; mode: number; uid: number; gid: number }

/** The devices every container gets, as runc makes them. */
const DEFAULT_DEVICES: DeviceNode[] = [
  { path: '/dev/null', type: 'c', major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/zero', type: 'c', major: 1, minor: 5, mode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/full', type: 'c', major: 1, minor: 7, mode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/random', type: 'c', major: 1, minor: 8, mode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/urandom', type: 'c', major: 1, minor: 9, mode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/tty', type: 'c', major: 5, minor: 0, mode: 0o666, uid: 0, gid: 0 },
];

/** The cgroup device rules runc always allows on top of the spec's own. */
export const DEFAULT_DEVICE_RULES = [
  { allow: true, type: 'c', major: -1, minor: -1, access: 'm' },
  { allow: true, type: 'b', major: -1, minor: -1, access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 136, minor: -1, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' },
];

export type DeviceRule = { allow: boolean; type?: string; major?: number; minor?: number; access?: string };

function specDevices(spec: Spec): DeviceNode[] {
  return (spec.linux?.devices ?? []).map((d) => {
    const type = d.type === 'u' ? 'c' : d.type;
    if (type !== 'c' && type !== 'b' && type !== 'p') throw TsrunError.invalid(`device ${d.path}: unknown device type "${d.type}"`);
    if (type !== 'p' && (d.major === undefined || d.minor === undefined)) {
      throw TsrunError.invalid(`device ${d.path}: major and minor numbers are required for type "${d.type}"`);
    }
    return {
      path: containerPath(d.path), type, major: d.major ?? 0, minor: d.minor ?? 0,
      mode: (d.fileMode ?? 0o666) & 0o7777, uid: d.uid ?? 0, gid: d.gid ?? 0,
    };
  });
}

/** Device nodes and /dev symlinks, made after the mounts and before the root changes. */
export function planDev(host: HostView, spec: Spec, inUserNamespace: boolean, populate: boolean): PlanRecord[] {
  const out: PlanRecord[] = [];
  const nodes = populate ? [...DEFAULT_DEVICES] : [];
  for (const d of specDevices(spec)) {
    const i = nodes.findIndex((n) => n.path === d.path);
    if (i >= 0) nodes[i] = d; else nodes.push(d);
  }
  for (const d of nodes) {
    if (inUserNamespace && d.type !== 'p') {
      // mknod of devices is not allowed in a user namespace: bind the host's node instead.
      out.push({ tag: Tag.BIND_DEVICE, hostPath: d.path, path: d.path });
      continue;
    }
    const typeBits = d.type === 'c' ? S_IFCHR : d.type === 'b' ? S_IFBLK : S_IFIFO;
    out.push({ tag: Tag.MKNOD, path: d.path, mode: typeBits | d.mode, major: d.major, minor: d.minor, uid: d.uid, gid: d.gid });
  }
  if (populate) {
    const links: [string, string][] = [
      ['/proc/self/fd', '/dev/fd'], ['/proc/self/fd/0', '/dev/stdin'], ['/proc/self/fd/1', '/dev/stdout'],
      ['/proc/self/fd/2', '/dev/stderr'], ['pts/ptmx', '/dev/ptmx'],
    ];
    if (host.exists('/proc/kcore')) links.push(['/proc/kcore', '/dev/core']);
    // runc removes whatever is at /dev/ptmx first (a privileged container lists the host's ptmx
    // among its devices); the other links leave an existing entry alone.
    for (const [target, path] of links) out.push({ tag: path === '/dev/ptmx' ? Tag.SYMLINK_REPLACE : Tag.SYMLINK, target, path });
  }
  return out;
}

/**
 * The cgroup device rules: the spec's, then runc's defaults. A node of linux.devices adds no
 * rule (as runc): it is made in /dev, but reachable only if linux.resources.devices grants it,
 * or a spec that denies a device would be undone by listing it.
 */
export function deviceCgroupRules(spec: Spec): DeviceRule[] {
  const rules: DeviceRule[] = [];
  for (const r of spec.linux?.resources?.devices ?? []) rules.push({ ...r });
  rules.push(...DEFAULT_DEVICE_RULES);
  return rules;
}
