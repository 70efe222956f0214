// Rootless mode, decided as runc decides it: who runs us (euid, a user namespace), where state
// goes by default ($XDG_RUNTIME_DIR/tsrun), whether cgroup permission errors are tolerated, and
// how a container's id maps can be written by a user who is not root.
import { accessSync, chmodSync, constants, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { TsrunError } from './errors.js';
import { detectCgroupLayout, parseProcCgroup, readProcSelfCgroup, v1Paths } from './cgroups/layout.js';
import { CgroupError } from './cgroups/fsio.js';
import type { LinuxIDMapping as IdMapping, Spec } from './spec/types.js';

const euid = (): number => process.geteuid?.() ?? 0;
const egid = (): number => process.getegid?.() ?? 0;

let inUserNs: boolean | undefined;

/** runc's RunningInUserNS: the uid map is anything but the initial namespace's identity map. */
export function runningInUserNS(uidMap?: string): boolean {
  if (uidMap === undefined && inUserNs !== undefined) return inUserNs;
  let text = uidMap;
  if (text === undefined) {
    try { text = readFileSync('/proc/self/uid_map', 'utf8'); } catch { return (inUserNs = false); }
  }
  const lines = text.trim().split('\n').map((l) => l.trim().split(/\s+/));
  const initial = lines.length === 1 && lines[0][0] === '0' && lines[0][1] === '0' && lines[0][2] === '4294967295';
  if (uidMap === undefined) inUserNs = !initial;
  return !initial;
}

/** runc's shouldHonorXDGRuntimeDir: a plain user, or root of a user namespace not called "root". */
export function honorXdgRuntimeDir(env: NodeJS.ProcessEnv = process.env, id = euid()): boolean {
  if (!env.XDG_RUNTIME_DIR) return false;
  if (id !== 0) return true;
  if (!runningInUserNS()) return false;
  return env.USER === undefined || env.USER !== 'root';
}

/** The default for --root, and whether it lies in $XDG_RUNTIME_DIR (then it is made at start, as runc does). */
export function defaultStateRoot(env: NodeJS.ProcessEnv = process.env): { root: string; xdg: boolean } {
  if (honorXdgRuntimeDir(env)) return { root: `${env.XDG_RUNTIME_DIR}/tsrun`, xdg: true };
  return { root: '/run/tsrun', xdg: false };
}

/**
 * Anything in XDG_RUNTIME_DIR gets the sticky bit, or the session manager may clean it out
 * (the XDG base directory specification); runc's wording on failure.
 */
export function prepareXdgStateRoot(root: string): void {
  try {
    mkdirSync(root, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new TsrunError(`the path in $XDG_RUNTIME_DIR must be writable by the user: ${(err as Error).message}`);
  }
  try {
    chmodSync(root, 0o1700);
  } catch (err) {
    throw new TsrunError(`you should check permission of the path in $XDG_RUNTIME_DIR: ${(err as Error).message}`);
  }
}

/** `--rootless true|false|auto` (Go's strconv.ParseBool spellings), null for auto. */
export function parseRootlessFlag(value: string): boolean | null {
  if (value === '' || value.toLowerCase() === 'auto') return null;
  if (/^(1|t|T|TRUE|true|True)$/.test(value)) return true;
  if (/^(0|f|F|FALSE|false|False)$/.test(value)) return false;
  throw TsrunError.invalid(`strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`);
}

/**
 * runc's shouldUseRootlessCgroupManager: permission errors on cgroups are tolerated (when no
 * limit needs them) for a plain user, and for root of a user namespace with the cgroupfs driver.
 */
export function rootlessCgroups(flag: string, systemdCgroup: boolean, id = euid()): boolean {
  const explicit = parseRootlessFlag(flag);
  if (explicit !== null) return explicit;
  if (id !== 0) return true;
  if (!runningInUserNS()) return false;
  // A systemd driver in a user namespace talks to a systemd that owns the cgroups it makes.
  return !systemdCgroup;
}

/** The caller is not root: id maps are written without privileges, devices cannot be made. */
export function rootlessEuid(): boolean {
  return euid() !== 0;
}

/** exec.LookPath: the first executable of that name on PATH, or undefined. */
export function lookPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch { /* next */ }
  }
  return undefined;
}

export interface IdMapTools {
  /** write "deny" to /proc/C/setgroups before gid_map (the kernel asks it of an unprivileged writer) */
  setgroupsDeny: boolean;
  newuidmap?: string;
  newgidmap?: string;
}

const ownOnly = (maps: IdMapping[] | undefined, id: number) => maps?.length === 1 && maps[0].size === 1 && maps[0].hostID === id;

/**
 * How an unprivileged caller gets the container's id maps written. The kernel lets a user map
 * only its own id, in one line, and only its own gid after setgroups is denied; anything more
 * goes through the setuid helpers newuidmap/newgidmap, which allow the ranges of
 * /etc/subuid and /etc/subgid. As runc: setgroups is denied exactly when the gid map is the
 * caller's gid as root, and the helpers are used when a direct write is refused.
 */
export function idMapTools(uidMappings: IdMapping[] | undefined, gidMappings: IdMapping[] | undefined, opts: { user?: string; subuid?: string; subgid?: string; path?: string } = {}): IdMapTools {
  const gid = egid();
  const uid = euid();
  const tools: IdMapTools = {
    setgroupsDeny: gidMappings?.length === 1 && gidMappings[0].containerID === 0 && gidMappings[0].hostID === gid && gidMappings[0].size === 1,
  };
  const user = opts.user ?? userName(uid);
  const needs: [string, IdMapping[] | undefined, number, string, 'newuidmap' | 'newgidmap'][] = [
    ['uid', uidMappings, uid, opts.subuid ?? '/etc/subuid', 'newuidmap'],
    ['gid', gidMappings, gid, opts.subgid ?? '/etc/subgid', 'newgidmap'],
  ];
  for (const [kind, maps, own, file, tool] of needs) {
    if (ownOnly(maps, own) && (kind === 'uid' || tools.setgroupsDeny)) continue;
    const path = lookPath(tool, opts.path);
    if (!path) {
      throw TsrunError.invalid(`rootless container: the ${kind} mappings need more than the user's own ${kind} (${own}), which takes ${tool} (package uidmap), and ${tool} is not in PATH`);
    }
    const ranges = subordinateRanges(file, user, own);
    {
      for (const m of maps ?? []) {
        const end = m.hostID + m.size;
        const covered = (m.size === 1 && m.hostID === own) || ranges.some((r) => m.hostID >= r.start && end <= r.start + r.count);
        if (covered) continue;
        if (ranges.length === 0) {
          throw TsrunError.invalid(`rootless container: ${kind} mapping ${m.containerID}:${m.hostID}:${m.size} needs a range of ${user ?? `user ${own}`} in ${file}, and there is none`);
        }
        throw TsrunError.invalid(`rootless container: ${kind} mapping ${m.containerID}:${m.hostID}:${m.size} is outside the user's own ${kind} and ${user ?? own}'s ranges in ${file} (${ranges.map((r) => `${r.start}-${r.start + r.count - 1}`).join(', ')})`);
      }
    }
    if (tool === 'newuidmap') tools.newuidmap = path;
    else tools.newgidmap = path;
  }
  return tools;
}

function userName(uid: number): string | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && Number(f[2]) === uid) return f[0];
    }
  } catch { /* no passwd */ }
  return process.env.USER;
}

/** A user's subordinate ranges (lines naming the user or its numeric id), as shadow's helpers read them. */
export function subordinateRanges(file: string, user: string | undefined, id: number): { start: number; count: number }[] {
  if (!existsSync(file)) return [];
  const out: { start: number; count: number }[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if (!owner || start === undefined || count === undefined) continue;
    if (owner !== user && owner !== String(id)) continue;
    out.push({ start: Number(start), count: Number(count) });
  }
  return out;
}

const mapsId = (maps: IdMapping[] | undefined, id: number) => (maps ?? []).some((m) => id >= m.containerID && id - m.containerID < m.size);

/**
 * What an unprivileged caller's container needs beyond the spec (runc's rootless checks first):
 * its own user namespace with mappings, no additional groups, mount options naming only mapped
 * ids, except devpts's gid= (the tty group), which is dropped where it is not mapped, as the
 * kernel would refuse the mount. Returns the spec to plan and how the id maps get written.
 */
export function rootlessSpec(spec: Spec): { spec: Spec; idMaps?: IdMapTools; dropped: string[] } {
  const linux = spec.linux ?? {};
  const userNs = linux.namespaces?.find((ns) => ns.type === 'user');
  if (!userNs) throw TsrunError.invalid('rootless container requires user namespaces');
  const dropped: string[] = [];
  if (spec.process?.user?.additionalGids?.length) throw TsrunError.invalid('cannot set any additional groups in a rootless container');
  if (userNs.path) return { spec, dropped };
  if (!linux.uidMappings?.length) throw TsrunError.invalid('rootless containers requires at least one UID mapping');
  if (!linux.gidMappings?.length) throw TsrunError.invalid('rootless containers requires at least one GID mapping');
  const mounts = (spec.mounts ?? []).map((m) => {
    const options = (m.options ?? []).filter((opt) => {
      const id = /^(uid|gid)=(\d+)$/.exec(opt);
      if (!id) return true;
      const maps = id[1] === 'uid' ? linux.uidMappings : linux.gidMappings;
      if (mapsId(maps, Number(id[2]))) return true;
      if (m.type === 'devpts' && id[1] === 'gid') { dropped.push(`${m.destination}: ${opt}`); return false; }
      throw TsrunError.invalid(`cannot specify ${id[1]}= mount options for unmapped ${id[1]} in rootless containers`);
    });
    return m.options ? { ...m, options } : m;
  });
  return { spec: { ...spec, mounts }, idMaps: idMapTools(linux.uidMappings, linux.gidMappings), dropped };
}

/**
 * The cgroup paths the container's cgroup mount shows: those rootless creation skipped are the
 * caller's own (the init is in those, having joined none).
 */
export function withOwnCgroups(paths: Record<string, string>): Record<string, string> {
  const layout = detectCgroupLayout();
  const own = v1Paths(layout, '', parseProcCgroup(readProcSelfCgroup()));
  const missing = Object.keys(own).filter((k) => k !== '' && !(k in paths));
  if (layout.mode === 'v2' || missing.length === 0) return paths;
  const filled = { ...paths };
  for (const k of missing) filled[k] = own[k];
  return filled;
}

/**
 * Limits written where the container could not get a cgroup fail as runc's do: runc writes them
 * while its init waits (procHooks), so its message carries that context.
 */
export function rootlessCgroupApply<T>(rootless: boolean, apply: () => T): T {
  try {
    return apply();
  } catch (err) {
    if (!rootless || !(err instanceof TsrunError)) throw err;
    throw new TsrunError(`unable to start container process: error during container init: error setting cgroup config for procHooks process: ${err.message}`, err.exitCode, err.kind);
  }
}

/**
 * sysfs can only be mounted by the owner of the network namespace's user namespace: a
 * container in a user namespace of its own (or of tsrun's caller) without a network namespace
 * of its own gets the host's /sys bound instead, read-only as the mount asked, as runc does.
 */
export function bindSysfsWhereUnmountable(spec: Spec, hostUserNs: boolean): Spec {
  const ns = spec.linux?.namespaces ?? [];
  const userNs = hostUserNs || ns.some((n) => n.type === 'user');
  const ownNet = ns.some((n) => n.type === 'network' && !n.path);
  if (!userNs || ownNet || !spec.mounts?.some((m) => m.type === 'sysfs')) return spec;
  const mounts = spec.mounts.map((m) => {
    if (m.type !== 'sysfs') return m;
    const options = (m.options ?? []).filter((o) => o !== 'bind' && o !== 'rbind');
    return { ...m, type: 'bind', source: '/sys', options: ['rbind', ...options] };
  });
  return { ...spec, mounts };
}

/** A cgroup the user may not make (outside its delegation, or --rootless=false) fails in runc's words. */
export function rootlessCgroupCreate(rootless: boolean, create: () => void): void {
  try {
    create();
  } catch (err) {
    const m = rootless && err instanceof CgroupError && (err.errno === 'EACCES' || err.errno === 'EPERM') ? /^failed to create cgroup ("(?:[^"\\]|\\.)*")/.exec(err.message) : null;
    if (!m) throw err;
    throw new TsrunError(`unable to start container process: unable to apply cgroup configuration: mkdir ${JSON.parse(m[1])}: permission denied`);
  }
}
