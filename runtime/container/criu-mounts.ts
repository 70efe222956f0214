// Which of a container's mounts CRIU must treat as external, and where they come from again on
// restore (runc: addCriuDumpMount, addMaskPaths, addCriuRestoreMount). CRIU can recreate mounts
// of filesystems it knows (proc, sysfs, tmpfs with its content, devpts, mqueue), but a bind
// mount of a host path is not reachable from inside the container: it is dumped under a key
// (the mount point), and a restore says which host path each key stands for.
import { posix } from 'node:path';
import type { Spec } from '../spec/types.js';

export interface ExtMount { key: string; val: string }

/** The device nodes every container gets (runc's default devices), which may be bind mounts. */
const DEFAULT_DEVICE_PATHS = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty'];

function clean(p: string): string {
  const n = posix.normalize(posix.join('/', p));
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

function isBind(m: NonNullable<Spec['mounts']>[number]): boolean {
  return m.type === 'bind' || (m.options ?? []).includes('bind') || (m.options ?? []).includes('rbind');
}

/** "/sys/fs/cgroup/memory/a/b" -> "memory": the hierarchy a v1 cgroup dir belongs to. */
function hierarchyOf(dir: string): string | undefined {
  return /^\/sys\/fs\/cgroup\/([^/]+)/.exec(dir)?.[1];
}

export interface MountContext {
  spec: Spec;
  /** the container's cgroup dirs by controller (v1: "memory", …; "" for the unified one) */
  cgroupPaths: Record<string, string>;
  cgroupVersion: 1 | 2;
}

/**
 * The spec's bind mounts, as pairs of (mount point in the container, host source); the v1
 * cgroup hierarchies bound in when there is no cgroup namespace (or a v2 one bound without it);
 * the device nodes.
 */
function externalBinds(ctx: MountContext): Array<{ dest: string; source: string }> {
  const out: Array<{ dest: string; source: string }> = [];
  const cgroupns = (ctx.spec.linux?.namespaces ?? []).some((n) => n.type === 'cgroup');
  for (const m of ctx.spec.mounts ?? []) {
    if (isBind(m)) out.push({ dest: clean(m.destination), source: m.source ?? '' });
    else if (m.type === 'cgroup' && !cgroupns) {
      if (ctx.cgroupVersion === 2) {
        const dir = ctx.cgroupPaths[''];
        if (dir) out.push({ dest: clean(m.destination), source: dir });
        continue;
      }
      const seen = new Set<string>();
      for (const [controller, dir] of Object.entries(ctx.cgroupPaths)) {
        const hierarchy = hierarchyOf(dir);
        if (controller === '' || !hierarchy || seen.has(hierarchy)) continue;
        seen.add(hierarchy);
        out.push({ dest: posix.join(clean(m.destination), hierarchy), source: dir });
      }
    }
  }
  const devices = new Set([...DEFAULT_DEVICE_PATHS, ...(ctx.spec.linux?.devices ?? []).map((d) => clean(d.path))]);
  for (const d of devices) out.push({ dest: d, source: d });
  return out;
}

/**
 * For a dump: each external mount under its own mount point as key; masked files (bound from
 * /dev/null) under the key "/dev/null". `isMaskedFile(path)` says whether a masked path exists in
 * the container and is not a directory (those are masked with a tmpfs, which CRIU restores).
 */
export function dumpExtMounts(ctx: MountContext, isMaskedFile: (path: string) => boolean): ExtMount[] {
  const out: ExtMount[] = externalBinds(ctx).map((b) => ({ key: b.dest, val: b.dest }));
  for (const p of ctx.spec.linux?.maskedPaths ?? []) {
    if (isMaskedFile(p)) out.push({ key: clean(p), val: '/dev/null' });
  }
  return out;
}

/** For a restore: which host path each key of the dump stands for, from the (new) bundle's spec. */
export function restoreExtMounts(ctx: MountContext): ExtMount[] {
  const out: ExtMount[] = externalBinds(ctx).map((b) => ({ key: b.dest, val: b.source }));
  if ((ctx.spec.linux?.maskedPaths ?? []).length) out.push({ key: '/dev/null', val: '/dev/null' });
  return out;
}

/** CRIU's name for a namespace type in `--external <type>[<inode>]:<key>`, and runc's key for it. */
export function externalNamespaceKey(type: 'network' | 'pid'): string {
  return type === 'network' ? 'extRootNetNS' : 'extRootPidNS';
}
