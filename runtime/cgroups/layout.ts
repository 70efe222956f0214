// Where the cgroup hierarchies are mounted (/proc/self/mountinfo), which cgroup tsrun is in
// (/proc/self/cgroup), and how a container's cgroupsPath becomes one dir per hierarchy,
// following runc 1.1's cgroupfs driver.
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { TsrunError, describeSystemError } from '../errors.js';
import type { CgroupLayout, CgroupMount } from './types.js';

export const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';

/** The v1 controllers runc's cgroupfs driver knows, in the order it sets them up. */
export const V1_SUBSYSTEMS = [
  'cpuset', 'devices', 'memory', 'cpu', 'cpuacct', 'pids', 'blkio', 'hugetlb', 'net_cls', 'net_prio',
  'perf_event', 'freezer', 'rdma', 'name=systemd', 'misc',
] as const;

const V1_CONTROLLER_OPTIONS = new Set<string>([...V1_SUBSYSTEMS, 'debug']);

/** Undoes mountinfo's octal escapes (\040 for a space, ...). */
function unescapeMountField(s: string): string {
  return s.includes('\\') ? s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) : s;
}

interface AnyMount {
  mountpoint: string;
  root: string;
  fstype: string;
  superOptions: string;
}

function parseMounts(mountinfo: string): AnyMount[] {
  const out: AnyMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f.length < sep + 4) continue;
    out.push({ mountpoint: unescapeMountField(f[4]), root: unescapeMountField(f[3]), fstype: f[sep + 1], superOptions: f[sep + 3] });
  }
  return out;
}

function toCgroupMount(m: AnyMount): CgroupMount | undefined {
  if (m.fstype !== 'cgroup' && m.fstype !== 'cgroup2') return undefined;
  const controllers = m.fstype === 'cgroup'
    ? m.superOptions.split(',').filter((o) => V1_CONTROLLER_OPTIONS.has(o) || o.startsWith('name='))
    : [];
  return { mountpoint: m.mountpoint, root: m.root, fstype: m.fstype, controllers };
}

/** The cgroup and cgroup2 mounts of a mountinfo text, in order. */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  return parseMounts(mountinfo).map(toCgroupMount).filter((m): m is CgroupMount => m !== undefined);
}

/**
 * Builds the layout from a mountinfo text: v2 when a cgroup2 file system is mounted at `root`;
 * otherwise v1, and "hybrid" when a cgroup2 file system is also mounted at root/unified
 * (runc's hybrid mountpoint). A later mount at a mountpoint hides earlier ones (and what was below).
 */
export function layoutFromMountinfo(mountinfo: string, root = DEFAULT_CGROUP_ROOT): CgroupLayout {
  const all = parseMounts(mountinfo);
  // Mounts still visible: the last one at each mountpoint, not below a later mount over a parent dir.
  const visible: CgroupMount[] = [];
  all.forEach((m, i) => {
    const cg = toCgroupMount(m);
    if (!cg) return;
    for (let j = i + 1; j < all.length; j++) {
      const later = all[j].mountpoint;
      if (later === cg.mountpoint || (later !== '/' && cg.mountpoint.startsWith(later + '/'))) return;
    }
    visible.push(cg);
  });
  const top = visible.find((m) => m.mountpoint === root);
  if (top && top.fstype === 'cgroup2') return { mode: 'v2', root, v1: {}, unified: top };

  const v1: Record<string, CgroupMount> = {};
  const under = (m: CgroupMount) => m.mountpoint.startsWith(root + '/');
  // Mounts under the root first (runc looks there first), then any other.
  for (const pass of [true, false]) {
    for (const m of visible) {
      if (m.fstype !== 'cgroup' || under(m) !== pass) continue;
      for (const c of m.controllers) if (!v1[c]) v1[c] = m;
    }
  }
  if (Object.keys(v1).length === 0) {
    throw new TsrunError(`no cgroup mount found in mountinfo (expected cgroup2 or cgroup v1 hierarchies under ${root})`);
  }
  const hybrid = visible.find((m) => m.mountpoint === posix.join(root, 'unified') && m.fstype === 'cgroup2');
  if (hybrid) return { mode: 'hybrid', root, v1, unified: hybrid };
  return { mode: 'v1', root, v1 };
}

/** The v1 hierarchies' mount point names in the order they are mounted. */
export function v1MountOrder(layout: CgroupLayout): string[] {
  return [...new Set(Object.values(layout.v1).map((m) => posix.basename(m.mountpoint)))];
}

const layoutCache = new Map<string, CgroupLayout>();

/** The cgroup layout of this machine: read /proc/self/mountinfo once per process. */
export function detectCgroupLayout(root = DEFAULT_CGROUP_ROOT): CgroupLayout {
  let layout = layoutCache.get(root);
  if (!layout) {
    let text: string;
    try {
      text = readFileSync('/proc/self/mountinfo', 'utf8');
    } catch (err) {
      throw new TsrunError(`cannot read mount table: ${describeSystemError(err)}`);
    }
    layout = layoutFromMountinfo(text, root);
    layoutCache.set(root, layout);
  }
  return layout;
}

/**
 * /proc/self/cgroup as a map: every controller of a v1 line maps to its path ("name=systemd"
 * keeps its prefix); the v2 line "0::/path" maps "" to its path.
 */
export function parseProcCgroup(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const a = line.indexOf(':');
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (b < 0) throw new TsrunError(`invalid cgroup entry: must contain at least two colons: ${line}`);
    const path = line.slice(b + 1);
    for (const sub of line.slice(a + 1, b).split(',')) out[sub] = path;
  }
  return out;
}

let ownCgroupText: string | undefined;
export function readProcSelfCgroup(): string {
  if (ownCgroupText === undefined) {
    try {
      ownCgroupText = readFileSync('/proc/self/cgroup', 'utf8');
    } catch (err) {
      throw new TsrunError(`cannot read own cgroup: ${describeSystemError(err)}`);
    }
  }
  return ownCgroupText;
}

/**
 * runc's CleanPath: lexical clean, and a relative path cannot climb out with "..":
 * "" -> "", "a/../../b" -> "b", "/x/../../y" -> "/y".
 */
export function cleanPath(p: string): string {
  if (p === '') return '';
  const cleaned = posix.normalize(p).replace(/\/+$/, '') || '/';
  if (cleaned.startsWith('/')) return cleaned;
  const rooted = posix.normalize('/' + cleaned);
  return rooted === '/' ? '.' : rooted.slice(1);
}

/** The container's cgroup path: cleaned cgroupsPath, or the container id when unset (runc uses the name). */
export function innerPath(cgroupsPath: string | undefined, id: string): string {
  const inner = cleanPath(cgroupsPath ?? '');
  return inner === '' ? cleanPath(id) : inner;
}

/** A cgroup path (as /proc/self/cgroup shows it) relative to a mount whose root is mountRoot. */
function relativeToMount(mountRoot: string, cgroup: string): string {
  const rel = posix.relative(mountRoot, cgroup);
  // A cgroup outside what is mounted (nested without cgroupns): the mount root is the best we have.
  return rel.startsWith('..') ? '' : rel;
}

/**
 * v1 (and hybrid) paths, one per mounted subsystem, as runc's initPaths: an absolute inner path
 * is below the hierarchy's mount, a relative one below our own cgroup in that hierarchy.
 * Hybrid adds "" for the unified hierarchy (runc always puts it at root/unified + inner).
 */
export function v1Paths(layout: CgroupLayout, inner: string, own: Record<string, string>): Record<string, string> {
  const paths: Record<string, string> = {};
  const abs = inner.startsWith('/');
  for (const sub of V1_SUBSYSTEMS) {
    const mount = layout.v1[sub];
    if (!mount) continue;
    if (abs) {
      paths[sub] = posix.join(mount.mountpoint, inner);
    } else {
      const mine = own[sub];
      if (mine === undefined) continue; // not in /proc/self/cgroup: runc skips it too
      paths[sub] = posix.join(mount.mountpoint, relativeToMount(mount.root, mine), inner);
    }
  }
  if (layout.mode === 'hybrid' && layout.unified) paths[''] = posix.join(layout.unified.mountpoint, inner);
  return paths;
}

/**
 * The v2 path, as runc's fs2 driver: absolute = below the mount; relative = below the *parent*
 * of our own cgroup (our own one has processes in it, so it cannot have controllers enabled
 * for children).
 */
export function v2Path(layout: CgroupLayout, inner: string, own: Record<string, string>): string {
  const mount = layout.unified;
  if (!mount) throw new TsrunError('cgroup v2 hierarchy is not mounted');
  if (inner.startsWith('/')) return posix.join(mount.mountpoint, inner);
  const mine = own[''];
  if (mine === undefined) throw new TsrunError('cgroup path not found in /proc/self/cgroup');
  return posix.join(mount.mountpoint, relativeToMount(mount.root, posix.dirname(mine)), inner);
}

/**
 * This process's own cgroup.procs in one hierarchy (the unified one if mounted, else pids or any
 * v1 one but memory), or undefined when there is none to be had.
 */
export function ownProcsFile(layout: CgroupLayout, own: Record<string, string>): string | undefined {
  const at = (mount: CgroupMount, path: string | undefined) => (path === undefined ? undefined : posix.join(mount.mountpoint, relativeToMount(mount.root, path), 'cgroup.procs'));
  if (layout.unified && own[''] !== undefined) return at(layout.unified, own['']);
  const sub = ['pids', ...Object.keys(layout.v1).filter((s) => s !== 'memory' && s !== 'pids')].find((s) => layout.v1[s] && own[s] !== undefined);
  return sub === undefined ? undefined : at(layout.v1[sub]!, own[sub]);
}
