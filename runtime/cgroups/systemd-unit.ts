// Where a container's cgroup lives under the systemd driver: the unit name and slice from a
// "slice:prefix:name" cgroupsPath, and the cgroup dirs systemd gives that unit. Pure functions
// of their inputs (runc 1.1's systemd driver conventions), tested without systemd.
import { posix } from 'node:path';
import { TsrunError } from '../errors.js';
import { parseProcCgroup } from './layout.js';
import type { CgroupLayout } from './types.js';

export interface SystemdUnitRef {
  /** The parent slice as given ("system.slice"), or the default one. */
  slice: string;
  /** The transient unit: "<prefix>-<name>.scope", or <name> itself when that is a slice. */
  unit: string;
  /** runc's Description: "libcontainer container <name>". */
  name: string;
  /** Rootless: the cgroup of the user's systemd, below which its units are (systemd-user.ts). */
  manager?: string;
}

const SLICE_SUFFIX = '.slice';

/**
 * "system.slice:docker:ID" -> slice system.slice, unit docker-ID.scope. An empty cgroupsPath
 * gives runc's defaults (system.slice, or user.slice rootless, and the "runc" prefix): tools
 * that look for a container's scope by runc's name find it.
 */
export function systemdUnitRef(cgroupsPath: string | undefined, id: string, rootless = false): SystemdUnitRef {
  let slice = '';
  let prefix = 'runc';
  let name = id;
  if (cgroupsPath) {
    const parts = cgroupsPath.split(':');
    if (parts.length !== 3) {
      throw TsrunError.invalid(`expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups, got ${JSON.stringify(cgroupsPath)} instead`);
    }
    [slice, prefix, name] = parts as [string, string, string];
  }
  if (slice === '') slice = rootless ? 'user.slice' : 'system.slice';
  expandSlice(slice); // refused here, before anything is made
  if (name === '') throw TsrunError.invalid(`invalid systemd cgroupsPath ${JSON.stringify(cgroupsPath)}: the name part is empty`);
  const unit = name.endsWith(SLICE_SUFFIX) ? name : `${prefix}-${name}.scope`;
  checkUnitName(unit);
  return { slice, unit, name };
}

/** systemd's unit name rules, so that a bad name fails before systemd is asked. */
function checkUnitName(unit: string): void {
  if (unit.length > 255 || !/^[A-Za-z0-9:_.\\@-]+$/.test(unit)) {
    throw TsrunError.invalid(`invalid systemd unit name ${JSON.stringify(unit)}: only ASCII letters, digits, ":", "-", "_", ".", "\\" and "@" are allowed (at most 255)`);
  }
}

/**
 * A slice name as the cgroup path systemd gives it: "a-b-c.slice" ->
 * "/a.slice/a-b.slice/a-b-c.slice"; "-.slice" is the root.
 */
export function expandSlice(slice: string): string {
  const invalid = () => TsrunError.invalid(`invalid slice name: ${slice}`);
  if (!slice.endsWith(SLICE_SUFFIX) || slice.length <= SLICE_SUFFIX.length || slice.includes('/')) throw invalid();
  const stem = slice.slice(0, -SLICE_SUFFIX.length);
  if (stem === '-') return '/';
  let path = '';
  let sofar = '';
  for (const part of stem.split('-')) {
    if (part === '') throw invalid();
    sofar = sofar === '' ? part : `${sofar}-${part}`;
    path += `/${sofar}${SLICE_SUFFIX}`;
  }
  return path;
}

/** The unit's path below a hierarchy root: slice dirs, then the unit. */
export function unitCgroupPath(ref: SystemdUnitRef): string {
  return posix.join(ref.manager ?? '/', expandSlice(ref.slice), ref.unit);
}

/**
 * v1 and hybrid: controller -> dir, as systemd places the unit in each hierarchy: below the
 * cgroup of pid 1 in that hierarchy (minus its init.scope), then the slice and unit.
 * Hybrid adds "" for the unified hierarchy.
 */
export function systemdV1Paths(layout: CgroupLayout, ref: SystemdUnitRef, pid1CgroupText: string): Record<string, string> {
  const init = parseProcCgroup(pid1CgroupText);
  const rel = unitCgroupPath(ref);
  const base = (key: string) => {
    const p = init[key] ?? '/';
    return p.endsWith('/init.scope') ? posix.dirname(p) : p;
  };
  const paths: Record<string, string> = {};
  for (const [sub, mount] of Object.entries(layout.v1)) {
    paths[sub] = posix.join(mount.mountpoint, base(sub), rel);
  }
  if (layout.mode === 'hybrid' && layout.unified) paths[''] = posix.join(layout.unified.mountpoint, base(''), rel);
  return paths;
}

/** v2: the unit's dir below the unified mount (runc ignores pid 1's own cgroup here). */
export function systemdV2Path(layout: CgroupLayout, ref: SystemdUnitRef): string {
  if (!layout.unified) throw TsrunError.invalid('cgroup v2 hierarchy is not mounted');
  return posix.join(layout.unified.mountpoint, unitCgroupPath(ref));
}
