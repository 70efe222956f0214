import { posix, resolve as resolveHost } from 'node:path';
import { TsrunError, describeSystemError } from '../errors.js';
import type { Spec } from '../spec/types.js';
import { MountCreate, MountOption, Tag, type PlanRecord } from './records.js';
import { MS, parseMountOptions, type ParsedMountOptions } from './mount-options.js';
import { idMapContent, type NamespacePlan } from './namespaces.js';
import { checkProcMount } from './proc-mount.js';
import type { HostView } from './host.js';
import { MAX_PLAN_STRING } from '../spec/limits.js';

export interface CgroupMountContext {
  version: 1 | 2;
  /** controller (or "" for the unified hierarchy) -> the container's cgroup directory on the host */
  paths: Record<string, string>;
  /** v1: the hierarchies' mount point names (cpu, cpuacct, …) in the host's mount order, which runc binds them in */
  mountOrder?: string[];
}

export type SpecMount = NonNullable<Spec['mounts']>[number];

export function containerPath(p: string): string {
  return posix.resolve('/', p);
}

/** The executor makes at most this many user namespaces for id-mapped mounts, and this many id-mapped mounts. */
export const MAX_IDMAP_USERNS = 64;
export const MAX_IDMAP_MOUNTS = 256;

/**
 * The user namespaces that id-mapped mounts take their mappings from, one per distinct mapping
 * (each costs the executor a helper process). Their IDMAP_USERNS/IDMAP_USERNS_PATH records belong
 * with the executor's records, before the mounts: the caller places `records`.
 */
export class IdmapUsernsTable {
  readonly records: PlanRecord[] = [];
  private readonly byKey = new Map<string, number>();
  mounts = 0;

  index(source: { uidMap: string; gidMap: string } | { path: string }): number {
    const key = 'path' in source ? `path\0${source.path}` : `maps\0${source.uidMap}\0${source.gidMap}`;
    const known = this.byKey.get(key);
    if (known !== undefined) return known;
    if (this.records.length >= MAX_IDMAP_USERNS) {
      throw TsrunError.invalid(`id-mapped mounts use more than ${MAX_IDMAP_USERNS} different mappings`);
    }
    this.records.push('path' in source
      ? { tag: Tag.IDMAP_USERNS_PATH, path: source.path }
      : { tag: Tag.IDMAP_USERNS, uidMap: source.uidMap, gidMap: source.gidMap });
    this.byKey.set(key, this.records.length - 1);
    return this.records.length - 1;
  }
}

/**
 * The MOUNT_IDMAP record for an id-mapped mount (options idmap/ridmap, or mappings on the mount,
 * which runc 1.2 treats as idmap), or undefined for a plain one. As runc: the mount's own
 * mappings, else the container's user namespace (its mappings, or the joined one's path).
 */
function planIdmap(m: SpecMount, target: string, opts: ParsedMountOptions, isBind: boolean, spec: Spec, ns: NamespacePlan, idmaps: IdmapUsernsTable): PlanRecord | undefined {
  const hasMappings = m.uidMappings !== undefined || m.gidMappings !== undefined;
  if (opts.idmap === 'none' && !hasMappings) return undefined;
  if (!isBind) throw TsrunError.invalid(`invalid mount ${target}: id-mapped mounts are only supported for bind-mounts`);
  let userns: number;
  const joinedUser = ns.joined.find((j) => j.type === 'user');
  if (hasMappings) {
    userns = idmaps.index(mappingSource(target, idMapContent(m.uidMappings), idMapContent(m.gidMappings), 'on the mount'));
  } else if (ns.created.has('user')) {
    userns = idmaps.index(mappingSource(target, idMapContent(spec.linux?.uidMappings), idMapContent(spec.linux?.gidMappings), "in the container's user namespace"));
  } else if (joinedUser) {
    userns = idmaps.index({ path: joinedUser.path });
  } else {
    throw TsrunError.invalid(`invalid mount ${target}: id-mapped mounts must have both uid and gid mappings specified: the mount has none, and the container has no user namespace`);
  }
  if (++idmaps.mounts > MAX_IDMAP_MOUNTS) throw TsrunError.invalid(`more than ${MAX_IDMAP_MOUNTS} id-mapped mounts`);
  return { tag: Tag.MOUNT_IDMAP, userns, recursive: opts.idmap === 'ridmap' };
}

function mappingSource(target: string, uidMap: string, gidMap: string, where: string): { uidMap: string; gidMap: string } {
  if (!uidMap || !gidMap) throw TsrunError.invalid(`invalid mount ${target}: id-mapped mounts must have both uid and gid mappings specified (none ${where})`);
  return { uidMap, gidMap };
}

/**
 * Turns the spec's mounts into MOUNT/MKDIR/SYMLINK records (MOUNT_IDMAP before an id-mapped
 * one); the user namespaces those refer to are collected in `idmaps`.
 */
export function planMounts(host: HostView, spec: Spec, bundle: string, ns: NamespacePlan, cgroups: CgroupMountContext, idmaps = new IdmapUsernsTable(), rootfs?: string): PlanRecord[] {
  const out: PlanRecord[] = [];
  for (const m of spec.mounts ?? []) {
    const target = containerPath(m.destination);
    const type = m.type ?? '';
    const opts = parseMountOptions(m.options);
    const isBind = type === 'bind' || (opts.flags & MS.BIND) !== 0n;
    if (type === 'cgroup' || type === 'cgroup2') {
      // Never a bind in the spec's sense, so never id-mapped: this only refuses.
      planIdmap(m, target, opts, false, spec, ns, idmaps);
      out.push(...planCgroupMount(m, target, ns, cgroups));
      continue;
    }
    const idmap = planIdmap(m, target, opts, isBind, spec, ns, idmaps);
    // sysfs cannot be mounted from a user namespace that does not own the network namespace: bind the host's instead, as runc does.
    if (type === 'sysfs' && ns.created.has('user') && !ns.has.has('network')) {
      const step = bindStep('/sys', target, MS.BIND | MS.REC | (opts.flags & ~MS.BIND), MountCreate.Directory, opts.propagation, opts.attrSet, opts.attrClear) as Extract<PlanRecord, { tag: typeof Tag.MOUNT }>;
      step.options |= MountOption.OrdinaryDirectory;
      out.push(step);
      continue;
    }
    if (isBind) {
      const source = resolveHost(bundle, m.source ?? '');
      let create = MountCreate.Directory;
      try {
        create = host.stat(source).type === 'directory' ? MountCreate.Directory : MountCreate.File;
      } catch (err) {
        throw TsrunError.invalid(`error mounting "${m.source}" to rootfs at "${target}": stat ${source}: ${describeSystemError(err).replace(/^[a-z]+ [^:]+: /, '')}`);
      }
      if (rootfs !== undefined) checkProcMount(host, rootfs, target, source, `error mounting "${m.source}" to rootfs at "${target}"`);
      if (idmap) out.push(idmap);
      out.push(bindStep(source, target, opts.flags | MS.BIND, create, opts.propagation, opts.attrSet, opts.attrClear));
      continue;
    }
    const data = opts.data.join(',');
    if (Buffer.byteLength(data) > MAX_PLAN_STRING) throw new TsrunError(`invalid mount ${target}: options make ${Buffer.byteLength(data)} bytes of mount data, more than the ${MAX_PLAN_STRING} tsrun supports`);
    out.push({
      // A read-only /dev is filled first (devpts, the nodes) and made read-only at the end, as by runc.
      tag: Tag.MOUNT, source: m.source ?? type, target, fstype: type, flags: target === '/dev' ? opts.flags & ~MS.RDONLY : opts.flags, data,
      create: MountCreate.Directory,
      // runc mounts proc and sysfs only on a directory of the rootfs, never through a symlink.
      options: (opts.attrSet || opts.attrClear ? MountOption.RecursiveAttrs : 0) | (type === 'proc' || type === 'sysfs' ? MountOption.OrdinaryDirectory : 0),
      propagation: combinePropagation(opts.propagation), attrSet: opts.attrSet, attrClear: opts.attrClear,
    });
  }
  return out;
}

function combinePropagation(list: bigint[]): bigint {
  // Only the last propagation option takes effect, as with mount(8).
  return list.length ? list[list.length - 1] : 0n;
}

function bindStep(source: string, target: string, flags: bigint, create: MountCreate, propagation: bigint[], attrSet: bigint, attrClear: bigint): PlanRecord {
  const extra = flags & ~(MS.BIND | MS.REC | MS.REMOUNT);
  let options: number = MountOption.Bind;
  if (extra !== 0n) options |= MountOption.Remount;
  if (attrSet || attrClear) options |= MountOption.RecursiveAttrs;
  return {
    tag: Tag.MOUNT, source, target, fstype: 'bind', flags, data: '', create, options,
    propagation: combinePropagation(propagation), attrSet, attrClear,
  };
}

function remountStep(target: string, flags: bigint): PlanRecord {
  return {
    tag: Tag.MOUNT, source: '', target, fstype: '', flags: flags | MS.REMOUNT, data: '',
    create: MountCreate.MustExist, options: 0, propagation: 0n, attrSet: 0n, attrClear: 0n,
  };
}

/**
 * A cgroup mount shows the container its own cgroups. On v2 inside a cgroup namespace a
 * fresh cgroup2 mount does that; otherwise the container's cgroup directories are bound in.
 * On v1 a tmpfs holds one directory per hierarchy, made read-only at the end when asked.
 */
function planCgroupMount(m: SpecMount, target: string, ns: NamespacePlan, cgroups: CgroupMountContext): PlanRecord[] {
  const opts = parseMountOptions(m.options);
  const flags = opts.flags & ~(MS.BIND | MS.REC);
  if (cgroups.version === 2) {
    const dir = cgroups.paths[''];
    if (ns.has.has('cgroup')) {
      return [{
        tag: Tag.MOUNT, source: 'cgroup', target, fstype: 'cgroup2', flags, data: '',
        create: MountCreate.Directory, options: 0, propagation: combinePropagation(opts.propagation), attrSet: 0n, attrClear: 0n,
      }];
    }
    return [bindStep(dir, target, flags | MS.BIND | MS.REC, MountCreate.Directory, opts.propagation, 0n, 0n)];
  }
  const out: PlanRecord[] = [{
    tag: Tag.MOUNT, source: 'tmpfs', target, fstype: 'tmpfs', flags: flags & ~MS.RDONLY, data: 'mode=755',
    create: MountCreate.Directory, options: 0, propagation: 0n, attrSet: 0n, attrClear: 0n,
  }];
  // Only the v1 hierarchies, as runc: a hybrid host's unified one is not shown.
  const binds = new Map<string, string>();
  for (const [controller, dir] of Object.entries(cgroups.paths)) {
    const hierarchy = hierarchyDirName(dir);
    if (controller !== '' && hierarchy && !binds.has(hierarchy)) binds.set(hierarchy, dir);
  }
  const order = cgroups.mountOrder ?? [];
  const rank = (h: string) => (order.includes(h) ? order.indexOf(h) : order.length);
  for (const hierarchy of [...binds.keys()].sort((a, b) => rank(a) - rank(b))) {
    out.push(bindStep(binds.get(hierarchy)!, posix.join(target, hierarchy), flags | MS.BIND, MountCreate.Directory, [], 0n, 0n));
  }
  // A co-mounted hierarchy ("cpu,cpuacct") is also reachable by each controller's name, as runc links it.
  for (const hierarchy of binds.keys()) {
    if (!hierarchy.includes(',')) continue;
    for (const name of hierarchy.split(',')) {
      if (name && !binds.has(name)) out.push({ tag: Tag.SYMLINK, target: hierarchy, path: posix.join(target, name) });
    }
  }
  if (flags & MS.RDONLY) out.push(remountStep(target, flags));
  if (opts.propagation.length) {
    out.push({ ...(remountStep(target, 0n) as Extract<PlanRecord, { tag: typeof Tag.MOUNT }>), flags: 0n, propagation: combinePropagation(opts.propagation) });
  }
  return out;
}

/** "/sys/fs/cgroup/memory/a/b" -> "memory": the name of the hierarchy's mount point. */
function hierarchyDirName(dir: string): string | undefined {
  const m = /^\/sys\/fs\/cgroup\/([^/]+)/.exec(dir);
  return m ? m[1] : undefined;
}

/** Whether /dev is a filesystem of the container's own (so tsrun populates it) rather than a bind. */
export function needsDevSetup(spec: Spec): boolean {
  for (const m of spec.mounts ?? []) {
    if (containerPath(m.destination) !== '/dev') continue;
    const opts = parseMountOptions(m.options);
    return !(m.type === 'bind' || (opts.flags & MS.BIND) !== 0n);
  }
  return true;
}

/** The REMOUNT_READONLY of a read-only /dev of the container's own (see planMounts), or nothing. */
export function devReadonlyRemount(spec: Spec): PlanRecord[] {
  const dev = [...(spec.mounts ?? [])].find((m) => containerPath(m.destination) === '/dev');
  if (!dev || !needsDevSetup(spec)) return [];
  const { flags } = parseMountOptions(dev.options);
  if ((flags & MS.RDONLY) === 0n) return [];
  const keep = MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.NOATIME | MS.NODIRATIME | MS.RELATIME | MS.STRICTATIME;
  return [{ tag: Tag.REMOUNT_READONLY, path: '/dev', flags: flags & keep }];
}
