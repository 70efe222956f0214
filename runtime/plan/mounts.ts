import { statSync } from 'node:fs';
import { posix, resolve as resolveHost } from 'node:path';
import { TsrunError, describeSystemError } from '../errors.js';
import type { Spec } from '../spec/types.js';
import { MountCreate, MountOption, Tag, type PlanRecord } from './records.js';
import { MS, parseMountOptions } from './mount-options.js';
import type { NamespacePlan } from './namespaces.js';

export interface CgroupMountContext {
  version: 1 | 2;
  /** controller (or "" on v2) -> the container's cgroup directory on the host */
  paths: Record<string, string>;
}

export type SpecMount = NonNullable<Spec['mounts']>[number];

export function containerPath(p: string): string {
  return posix.resolve('/', p);
}

/** Turns the spec's mounts into MOUNT/MKDIR/SYMLINK records. */
export function planMounts(spec: Spec, bundle: string, ns: NamespacePlan, cgroups: CgroupMountContext): PlanRecord[] {
  const out: PlanRecord[] = [];
  for (const m of spec.mounts ?? []) {
    const target = containerPath(m.destination);
    const type = m.type ?? '';
    if (type === 'cgroup' || type === 'cgroup2') {
      out.push(...planCgroupMount(m, target, ns, cgroups));
      continue;
    }
    const opts = parseMountOptions(m.options);
    if (opts.idmap !== 'none') {
      throw new TsrunError(`mount ${target}: idmapped mounts ("${opts.idmap}") are not supported yet`);
    }
    const isBind = type === 'bind' || (opts.flags & MS.BIND) !== 0n;
    // sysfs cannot be mounted from a user namespace that does not own the network namespace: bind the host's instead, as runc does.
    if (type === 'sysfs' && ns.created.has('user') && !ns.has.has('network')) {
      out.push(bindStep('/sys', target, MS.BIND | MS.REC | (opts.flags & ~MS.BIND), MountCreate.Directory, opts.propagation, opts.attrSet, opts.attrClear));
      continue;
    }
    if (isBind) {
      const source = resolveHost(bundle, m.source ?? '');
      let create = MountCreate.Directory;
      try {
        create = statSync(source).isDirectory() ? MountCreate.Directory : MountCreate.File;
      } catch (err) {
        throw new TsrunError(`error mounting "${m.source}" to rootfs at "${target}": stat ${source}: ${describeSystemError(err).replace(/^[a-z]+ [^:]+: /, '')}`);
      }
      out.push(bindStep(source, target, opts.flags | MS.BIND, create, opts.propagation, opts.attrSet, opts.attrClear));
      continue;
    }
    out.push({
      tag: Tag.MOUNT, source: m.source ?? type, target, fstype: type, flags: opts.flags, data: opts.data.join(','),
      create: MountCreate.Directory, options: opts.attrSet || opts.attrClear ? MountOption.RecursiveAttrs : 0,
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
  const seen = new Set<string>();
  for (const dir of Object.values(cgroups.paths)) {
    const hierarchy = hierarchyDirName(dir);
    if (!hierarchy || seen.has(hierarchy)) continue;
    seen.add(hierarchy);
    out.push(bindStep(dir, posix.join(target, hierarchy), flags | MS.BIND, MountCreate.Directory, [], 0n, 0n));
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
