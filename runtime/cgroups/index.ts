// The cgroup module: creates the container's cgroup(s), writes its limits, finds, signals
// and removes its processes. runc 1.1's cgroupfs driver semantics; plain synchronous file I/O
// (the executor, not Node, writes the container's pid into procsFiles()).
import { readFileSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { TsrunError } from '../errors.js';
import { BaseManager, type ManagerOptions, type SavedCgroup } from './common.js';
import { CgroupFs } from './fsio.js';
import { cleanPath, detectCgroupLayout, innerPath, parseProcCgroup, readProcSelfCgroup, v1Paths, v2Path } from './layout.js';
import { V1Manager } from './v1.js';
import { V2Manager } from './v2.js';
import { SystemdManager, type SavedSystemdCgroup } from './systemd.js';
import { systemdUnitRef, systemdV1Paths, systemdV2Path, type SystemdUnitRef } from './systemd-unit.js';
import { annotationProperties } from './systemd-properties.js';
import { connectUserSystemd, userManagerCgroup } from './systemd-user.js';
import type { CgroupConfig, CgroupHost, CgroupLayout, CgroupManager } from './types.js';
import { currentContext } from '../context.js';

export type {
  CgroupConfig, CgroupHost, CgroupLayout, CgroupManager, CgroupMount, LinuxResources, LinuxDeviceCgroup,
} from './types.js';
export type { SavedCgroup } from './common.js';
export { detectCgroupLayout, layoutFromMountinfo, parseProcCgroup, v1MountOrder } from './layout.js';
export { convertCpuSharesToWeight, convertBlkioWeightToIoWeight, convertMemorySwapToV2 } from './convert.js';

function isDirectory(path: string): boolean {
  try { return statSync(path).isDirectory(); } catch { return false; }
}

function layoutOf(host: CgroupHost): CgroupLayout {
  return host.layout ?? detectCgroupLayout();
}

/** v1 controller key -> mountpoint of its hierarchy ("" = the unified one on a hybrid host). */
function v1MountOf(layout: CgroupLayout, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) {
    const mp = k === '' ? layout.unified?.mountpoint : layout.v1[k]?.mountpoint;
    if (mp) out[k] = mp;
  }
  return out;
}

function allMountpoints(layout: CgroupLayout): string[] {
  const mps = Object.values(layout.v1).map((m) => m.mountpoint);
  if (layout.unified) mps.push(layout.unified.mountpoint);
  return [...new Set(mps)];
}

/** The manager for a container's cgroup, chosen by the host's layout (v1 and hybrid: v1 driver). */
export function cgroupManager(cfg: CgroupConfig, host: CgroupHost = {}): CgroupManager {
  if (cfg.systemd) {
    // runc's words (and check) when there is no systemd to ask for a scope.
    const running = host.systemdRunning ?? isDirectory('/run/systemd/system');
    if (!running) throw new TsrunError('systemd not running on this host, cannot use systemd cgroups manager');
    const layout = layoutOf(host);
    if (cfg.rootless && layout.mode !== 'v2') throw new TsrunError('cannot use rootless systemd cgroups manager on cgroup v1');
    const ref = systemdUnitRef(cfg.cgroupsPath, cfg.id, cfg.rootless === true);
    if (cfg.rootless) ref.manager = cfg.userManager ?? '/';
    const m = systemdManager(ref, layoutOf(host), host, cfg.rootless === true, false, [], cfg.resources);
    m.extraProperties = annotationProperties(cfg.annotations);
    return m;
  }
  const layout = layoutOf(host);
  const own = parseProcCgroup(host.procSelfCgroup ?? readProcSelfCgroup());
  const inner = innerPath(cfg.cgroupsPath, cfg.id);
  // "/" is the hierarchy root and "." our own cgroup: destroy() would kill everything in them.
  if (inner === '/' || inner === '.') {
    throw new TsrunError(`invalid cgroupsPath ${JSON.stringify(cfg.cgroupsPath)}: the container needs a cgroup of its own`);
  }
  const fs = new CgroupFs(host);
  const opts: ManagerOptions = {
    rootless: cfg.rootless === true,
    explicitPath: cleanPath(cfg.cgroupsPath ?? '') !== '',
    initial: cfg.resources,
  };
  if (layout.mode === 'v2') {
    return new V2Manager(fs, v2Path(layout, inner, own), layout.unified!.mountpoint, allMountpoints(layout), opts);
  }
  const paths = v1Paths(layout, inner, own);
  // The device cgroup is what keeps a container off the host's disks: no devices hierarchy, no container.
  if (!paths.devices && !opts.rootless) throw new TsrunError('mountpoint for devices not found');
  return new V1Manager(fs, paths, v1MountOf(layout, Object.keys(paths)), allMountpoints(layout), opts);
}

/** The cgroupfs driver over a systemd unit's dirs, inside the systemd driver. */
function systemdManager(ref: SystemdUnitRef, layout: CgroupLayout, host: CgroupHost, rootless: boolean, attached: boolean, created: string[], initial?: CgroupConfig['resources']): SystemdManager {
  const fs = new CgroupFs(host);
  const opts: ManagerOptions = { rootless, explicitPath: true, initial };
  const mounts = allMountpoints(layout);
  if (layout.mode !== 'v2' && !layout.v1.devices && !rootless) throw new TsrunError('mountpoint for devices not found');
  const fsDriver = layout.mode === 'v2'
    ? new V2Manager(fs, systemdV2Path(layout, ref), layout.unified!.mountpoint, mounts, opts, created)
    : new V1Manager(fs, systemdV1Paths(layout, ref, host.pid1Cgroup ?? readPid1Cgroup()), v1MountOf(layout, Object.keys(layout.v1).concat(layout.mode === 'hybrid' ? [''] : [])), mounts, opts, created);
  return new SystemdManager(fsDriver, ref, attached, host.systemdBus ?? (rootless ? connectUserSystemd : currentContext()?.systemdBus));
}

function readPid1Cgroup(): string {
  try { return readFileSync('/proc/1/cgroup', 'utf8'); } catch { return ''; }
}

/** What the state dir keeps so that `delete` can find the cgroup after a crash. */
export function serializeCgroupPaths(m: CgroupManager): SavedCgroup {
  if (m instanceof SystemdManager) return m.serialize();
  if (!(m instanceof BaseManager)) throw new TsrunError('not a tsrun cgroup manager');
  return m.serialize();
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}

/** A manager for a saved cgroup (from serializeCgroupPaths); resources are not known, only dirs. */
export function cgroupManagerFromState(saved: unknown, host: CgroupHost = {}): CgroupManager {
  const s = saved as Partial<SavedCgroup> | null;
  if (!s || typeof s !== 'object' || (s.version !== 1 && s.version !== 2) || !isStringRecord(s.paths)) {
    throw new TsrunError(`invalid saved cgroup state: ${JSON.stringify(saved)}`);
  }
  const created = Array.isArray(s.created) ? s.created.filter((d): d is string => typeof d === 'string') : [];
  const layout = layoutOf(host);
  const mounts = allMountpoints(layout);
  const check = (p: string) => {
    if (!posix.isAbsolute(p) || posix.normalize(p) !== p || !mounts.some((m) => p === m || p.startsWith(m + '/'))) {
      throw new TsrunError(`invalid saved cgroup path ${JSON.stringify(p)}: not below a cgroup mount`);
    }
  };
  Object.values(s.paths).forEach((p) => {
    check(p);
    if (mounts.includes(p)) throw new TsrunError(`invalid saved cgroup path ${JSON.stringify(p)}: a hierarchy root`);
  });
  created.forEach(check);
  const unit = (s as Partial<SavedSystemdCgroup>).systemd;
  if (unit !== undefined) {
    if (!isStringRecord(unit) || typeof unit.unit !== 'string' || typeof unit.slice !== 'string' || typeof unit.name !== 'string') {
      throw new TsrunError(`invalid saved systemd unit: ${JSON.stringify(unit)}`);
    }
    const m = systemdManager({ slice: unit.slice, unit: unit.unit, name: unit.name, ...(unit.manager !== undefined ? { manager: unit.manager } : {}) }, layout, host, s.rootless === true, true, created);
    // The dirs are recomputed from the unit: they must be the ones saved.
    if (JSON.stringify(m.paths) !== JSON.stringify(s.paths)) throw new TsrunError(`invalid saved cgroup state: paths ${JSON.stringify(s.paths)} are not those of ${unit.unit}`);
    return m;
  }
  const opts: ManagerOptions = { rootless: s.rootless === true, explicitPath: true };
  const fs = new CgroupFs(host);
  if (s.version === 2) {
    const dir = s.paths[''];
    if (dir === undefined || Object.keys(s.paths).length !== 1) throw new TsrunError(`invalid saved cgroup v2 paths: ${JSON.stringify(s.paths)}`);
    const mp = mounts.find((m) => dir === m || dir.startsWith(m + '/'))!;
    return new V2Manager(fs, dir, layout.unified?.mountpoint ?? mp, mounts, opts, created);
  }
  return new V1Manager(fs, { ...s.paths }, v1MountOf(layout, Object.keys(s.paths)), mounts, opts, created);
}

/**
 * Rootless --systemd-cgroup asks the user's systemd where its units go before the manager is made
 * (runc's getSliceFull); elsewhere, and where cgroupManager refuses first, undefined.
 */
export async function userSystemdManager(cfg: Pick<CgroupConfig, 'systemd' | 'rootless'>, host: CgroupHost = {}): Promise<string | undefined> {
  if (!cfg.systemd || !cfg.rootless) return undefined;
  if (!(host.systemdRunning ?? isDirectory('/run/systemd/system')) || layoutOf(host).mode !== 'v2') return undefined;
  return userManagerCgroup(host.systemdBus ?? connectUserSystemd);
}
