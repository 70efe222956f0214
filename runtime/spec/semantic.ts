/**
 * Checks of a schema-valid config.json that a JSON Schema cannot express: relations between fields,
 * names looked up in tables, and the root filesystem on disk.
 *
 * Where runc 1.1.5 rejects the same thing, the message is runc's, word for word (containerd,
 * Docker and Podman match substrings of runc's messages). Checks runc does not make (or makes only
 * when the container starts) say which field is wrong: "config.json: /hooks/prestart/0/path: ...".
 *
 * A few relative paths that runc accepts with a warning (or silently) are made absolute in the spec
 * and reported in `warnings`; unknown capabilities are dropped when `unknownCapabilities` is 'warn'.
 */
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { TsrunError, describeSystemError } from '../errors.js';
import { CAPABILITY_NUMBERS, RLIMIT_NUMBERS, UINT64_MAX_AS_NUMBER } from './tables.js';
import type { Linux, LinuxNamespaceType, LinuxResources, LinuxSeccomp, Process, Spec } from './types.js';

export interface CheckOptions {
  /** Absolute bundle directory; a relative root.path is resolved against it. */
  bundle: string;
  /** A spec without process is an error (create, run). Default true. */
  requireProcess?: boolean;
  /** Unknown capability names: 'error' (default) or 'warn' (dropped, as runc 1.1 does). */
  unknownCapabilities?: 'error' | 'warn';
}

export interface CheckResult {
  /** Absolute path of the root filesystem directory. */
  rootfs: string;
  warnings: string[];
}

/** Names the document and where in it a value is, for messages. */
export interface Where {
  file: string;
  /** JSON Pointer of the checked object in the document: "/process" in config.json, "" in process.json. */
  base: string;
}

/** Checks `spec` (already schema-valid). Throws TsrunError for the first problem found. */
export function checkSpec(spec: Spec, opts: CheckOptions): CheckResult {
  const warnings: string[] = [];
  const file = 'config.json';
  const linux: Linux = spec.linux ?? {};
  const namespaces = new Map<LinuxNamespaceType, string>(); // type → path ('' for a new namespace)

  // runc: validateProcessSpec, while loading the spec.
  if (spec.process) {
    checkProcess(spec.process, { file, base: '/process', unknownCapabilities: opts.unknownCapabilities ?? 'error' }, warnings);
  } else if (opts.requireProcess ?? true) {
    throw TsrunError.invalid('process property must not be empty');
  }

  // runc: specconv.CreateLibcontainerConfig.
  if (!spec.root) throw TsrunError.invalid('root must be specified');

  (linux.namespaces ?? []).forEach((ns, i) => {
    const path = ns.path ?? '';
    if (namespaces.has(ns.type)) throw TsrunError.invalid(`malformed spec file: duplicated ns {${goQuote(ns.type)} ${goQuote(path)}}`);
    if (path !== '' && !isAbsolute(path)) {
      throw fieldError(file, ptr('/linux/namespaces', i, 'path'), `namespace path ${goQuote(path)} must be absolute`);
    }
    namespaces.set(ns.type, path);
  });

  const hasUidMappings = (linux.uidMappings?.length ?? 0) > 0;
  const hasGidMappings = (linux.gidMappings?.length ?? 0) > 0;
  if (namespaces.has('user')) {
    if (!hasUidMappings) throw TsrunError.invalid('User namespaces enabled, but no uid mappings found.');
    if (!hasGidMappings) throw TsrunError.invalid('User namespaces enabled, but no gid mappings found.');
  } else if (hasUidMappings || hasGidMappings) {
    throw TsrunError.invalid("User namespace mappings specified, but USER namespace isn't enabled in the config");
  }

  (spec.mounts ?? []).forEach((m, i) => {
    if (!isAbsolute(m.destination)) {
      warnings.push(`mount destination ${m.destination} is not absolute. Support for non-absolute mount destinations will be removed in a future release.`);
      m.destination = `/${m.destination}`;
    }
    const uidMapped = m.uidMappings !== undefined;
    const gidMapped = m.gidMappings !== undefined;
    if (uidMapped !== gidMapped) {
      throw fieldError(file, ptr('/mounts', i), 'uidMappings and gidMappings must be given together');
    }
    const idmapOption = m.options?.find((o) => o === 'idmap' || o === 'ridmap');
    if (idmapOption && !uidMapped && !namespaces.has('user')) {
      throw fieldError(file, ptr('/mounts', i), `option ${idmapOption} needs uidMappings and gidMappings on the mount, or a user namespace`);
    }
  });

  (linux.devices ?? []).forEach((d) => {
    if (!isAbsolute(d.path)) {
      warnings.push(`device path ${d.path} is not absolute; using /${d.path}`);
      d.path = `/${d.path}`;
    }
  });

  if (linux.seccomp) checkSeccomp(linux.seccomp, file);
  if (linux.resources) checkResources(linux.resources, { file, base: '/linux/resources' });

  if (linux.personality?.flags?.length) {
    throw fieldError(file, '/linux/personality/flags', `personality flags are not supported: ${linux.personality.flags.join(', ')}`);
  }

  for (const key of ['maskedPaths', 'readonlyPaths'] as const) {
    const paths = linux[key];
    paths?.forEach((p, i) => {
      if (!isAbsolute(p)) {
        warnings.push(`${key} entry ${p} is not absolute; using /${p}`);
        paths[i] = `/${p}`;
      }
    });
  }

  (['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const).forEach((name) => {
    spec.hooks?.[name]?.forEach((h, i) => {
      if (!isAbsolute(h.path)) throw fieldError(file, ptr('/hooks', name, i, 'path'), `hook path ${goQuote(h.path)} must be absolute`);
    });
  });

  // runc: libcontainer/configs/validate (rootfs first).
  const rootfs = checkRootfs(opts.bundle, spec.root.path);

  if (spec.hostname && !namespaces.has('uts')) throw TsrunError.invalid('unable to set hostname without a private UTS namespace');
  if (spec.domainname && !namespaces.has('uts')) throw TsrunError.invalid('unable to set domainname without a private UTS namespace');

  if (((linux.maskedPaths?.length ?? 0) > 0 || (linux.readonlyPaths?.length ?? 0) > 0) && !namespaces.has('mount')) {
    throw TsrunError.invalid('unable to restrict sys entries without a private MNT namespace');
  }

  if (linux.sysctl) checkSysctl(linux.sysctl, namespaces, file);

  if (linux.timeOffsets && Object.keys(linux.timeOffsets).length > 0) {
    for (const [clock, offset] of Object.entries(linux.timeOffsets)) {
      if (clock !== 'monotonic' && clock !== 'boottime') {
        throw fieldError(file, ptr('/linux/timeOffsets', clock), `unknown clock ${goQuote(clock)}: time namespaces offset "monotonic" and "boottime" only`);
      }
      if ((offset.nanosecs ?? 0) >= 1e9) {
        throw fieldError(file, ptr('/linux/timeOffsets', clock, 'nanosecs'), `must be less than 1000000000, got ${offset.nanosecs}`);
      }
    }
    if (!namespaces.has('time')) throw TsrunError.invalid("time namespace offsets specified, but time namespace isn't enabled in the config");
    if (namespaces.get('time') !== '') throw TsrunError.invalid('time namespace offsets cannot be set when joining an existing time namespace');
  }

  return { rootfs, warnings };
}

/**
 * The checks of a process (config.json's, or exec's process.json): runc's validateProcessSpec, the
 * environment as runc's init checks it, rlimit types, and capability names.
 */
export function checkProcess(process: Process, where: Where & { unknownCapabilities: 'error' | 'warn' }, warnings: string[]): void {
  const { file, base } = where;
  if (process.cwd === '') throw TsrunError.invalid('Cwd property must not be empty');
  if (!isAbsolute(process.cwd)) throw TsrunError.invalid('Cwd must be an absolute path');
  if (!process.args || process.args.length === 0) throw TsrunError.invalid('args must not be empty');

  checkEnvironment(process.env ?? []);

  const seen = new Set<string>();
  process.rlimits?.forEach((r, i) => {
    if (!Object.hasOwn(RLIMIT_NUMBERS, r.type)) throw TsrunError.invalid(`wrong rlimit value: ${r.type}`);
    if (seen.has(r.type)) throw fieldError(file, ptr(base, 'rlimits', i, 'type'), `duplicate rlimit type ${goQuote(r.type)}`);
    seen.add(r.type);
    if (r.soft > r.hard) throw fieldError(file, ptr(base, 'rlimits', i), `${r.type}: soft limit ${r.soft} is greater than hard limit ${r.hard}`);
  });

  const caps = process.capabilities;
  if (caps) {
    const unknown = new Set<string>();
    for (const set of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const) {
      const names = caps[set];
      if (!names) continue;
      names.forEach((name, i) => {
        if (Object.hasOwn(CAPABILITY_NUMBERS, name)) return;
        if (where.unknownCapabilities === 'error') {
          throw fieldError(file, ptr(base, 'capabilities', set, i), `unknown capability ${goQuote(name)}`);
        }
        unknown.add(name);
      });
      if (unknown.size > 0) caps[set] = names.filter((n) => Object.hasOwn(CAPABILITY_NUMBERS, n));
    }
    if (unknown.size > 0) warnings.push(`ignoring unknown or unavailable capabilities: [${[...unknown].sort().join(' ')}]`);
  }
}

/** Checks of linux.resources (config.json's, or update's resources document). */
export function checkResources(resources: LinuxResources, where: Where): void {
  const { file, base } = where;
  const swappiness = resources.memory?.swappiness;
  // runc treats uint64(-1) as "not set" (some callers cast -1); as a double it is 2^64.
  if (swappiness !== undefined && swappiness > 100 && swappiness < UINT64_MAX_AS_NUMBER) {
    throw fieldError(file, ptr(base, 'memory', 'swappiness'), `invalid value:${swappiness}. valid memory swappiness range is 0-100`);
  }
  resources.blockIO?.weightDevice?.forEach((d, i) => {
    if (d.weight === undefined && d.leafWeight === undefined) {
      throw fieldError(file, ptr(base, 'blockIO', 'weightDevice', i), 'must have weight or leafWeight (or both)');
    }
  });
  for (const [device, limits] of Object.entries(resources.rdma ?? {})) {
    if (limits.hcaHandles === undefined && limits.hcaObjects === undefined) {
      throw fieldError(file, ptr(base, 'rdma', device), 'must have hcaHandles or hcaObjects (or both)');
    }
  }
}

function checkSeccomp(seccomp: LinuxSeccomp, file: string): void {
  const base = '/linux/seccomp';
  const takesErrno = (action: string): boolean => action === 'SCMP_ACT_ERRNO' || action === 'SCMP_ACT_TRACE';
  if (seccomp.defaultErrnoRet !== undefined && !takesErrno(seccomp.defaultAction)) {
    throw fieldError(file, `${base}/defaultErrnoRet`, `an errno return code needs SCMP_ACT_ERRNO or SCMP_ACT_TRACE, but defaultAction is ${seccomp.defaultAction}`);
  }
  if (seccomp.defaultAction === 'SCMP_ACT_NOTIFY') throw TsrunError.invalid('SCMP_ACT_NOTIFY cannot be used as default action');
  let notify = false;
  seccomp.syscalls?.forEach((call, i) => {
    if (call.errnoRet !== undefined && !takesErrno(call.action)) {
      throw fieldError(file, ptr(base, 'syscalls', i, 'errnoRet'), `an errno return code needs SCMP_ACT_ERRNO or SCMP_ACT_TRACE, but action is ${call.action}`);
    }
    if (call.action === 'SCMP_ACT_NOTIFY') {
      notify = true;
      if (call.names.includes('write')) throw TsrunError.invalid('SCMP_ACT_NOTIFY cannot be used for the write syscall');
    }
  });
  if (notify && !seccomp.listenerPath) {
    throw fieldError(file, base, 'SCMP_ACT_NOTIFY is used but listenerPath is not set');
  }
  if (seccomp.listenerMetadata && !seccomp.listenerPath) {
    throw fieldError(file, `${base}/listenerMetadata`, 'must not be set without listenerPath');
  }
}

/** Sysctls namespaced by IPC namespaces (besides fs.mqueue.*), as runc lists them. */
const IPC_SYSCTLS = new Set([
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
]);

/** runc's rule: a sysctl may only be set in a namespace the container does not share with the host. */
function checkSysctl(sysctl: Record<string, string>, namespaces: Map<LinuxNamespaceType, string>, file: string): void {
  for (const key of Object.keys(sysctl)) {
    // Names are dotted (net.ipv4.ip_forward) or, as sysctl(8) also takes them, slashed.
    const segments = key.split(key.includes('/') ? '/' : '.');
    if (segments.some((s) => s === '' || s === '.' || s === '..') || hasSpaceOrNul(key)) {
      throw fieldError(file, ptr('/linux/sysctl', key), `sysctl ${goQuote(key)} is not a valid name`);
    }
    const name = segments.join('.');
    if (IPC_SYSCTLS.has(name) || name.startsWith('fs.mqueue.')) {
      if (!namespaces.has('ipc')) throw TsrunError.invalid(`sysctl ${goQuote(key)} is not allowed in the hosts ipc namespace`);
      continue;
    }
    if (name.startsWith('net.')) {
      const netns = namespaces.get('network');
      if (netns === undefined || (netns !== '' && isHostNetns(netns))) {
        throw TsrunError.invalid(`sysctl ${goQuote(key)} not allowed in host network namespace`);
      }
      continue;
    }
    if (namespaces.has('uts')) {
      if (name === 'kernel.domainname') continue;
      if (name === 'kernel.hostname') throw TsrunError.invalid(`sysctl ${goQuote(key)} is not allowed as it conflicts with the OCI "hostname" field`);
    }
    throw TsrunError.invalid(`sysctl ${goQuote(key)} is not in a separate kernel namespace`);
  }
}

function hasSpaceOrNul(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c === 0x20 || (c >= 0x09 && c <= 0x0d)) return true;
  }
  return false;
}

/** Whether a network namespace file is tsrun's own (the "host" one, for runc). */
function isHostNetns(path: string): boolean {
  try {
    const a = statSync(path);
    const b = statSync('/proc/self/ns/net');
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false; // joining fails later with a clearer error
  }
}

/** root.path resolved against the bundle: it must be a directory and (as in runc) not a symlink. */
function checkRootfs(bundle: string, rootPath: string): string {
  const rootfs = resolve(bundle, rootPath);
  let st;
  try {
    st = statSync(rootfs);
  } catch (err) {
    throw TsrunError.invalid(`invalid rootfs: ${describeSystemError(err)}`);
  }
  let real: string;
  try {
    real = realpathSync.native(rootfs);
  } catch (err) {
    throw TsrunError.invalid(`invalid rootfs: ${describeSystemError(err)}`);
  }
  if (real !== rootfs) throw TsrunError.invalid('invalid rootfs: not an absolute path, or a symlink');
  if (!st.isDirectory()) throw TsrunError.invalid(`invalid rootfs: ${rootfs}: not a directory`);
  return rootfs;
}

// ---------------------------------------------------------------- helpers

function fieldError(file: string, pointer: string, message: string): TsrunError {
  return TsrunError.invalid(`${file}: ${pointer === '' ? '' : `${pointer}: `}${message}`);
}

/** The environment as runc's init checks it: NAME=VALUE, a name, no NUL. */
export function checkEnvironment(env: string[]): void {
  for (const pair of env) {
    const eq = pair.indexOf('=');
    if (eq === -1 || pair.includes('\0')) throw TsrunError.invalid(`invalid environment variable: ${goQuote(pair)}`);
    if (eq === 0) throw TsrunError.invalid(`environment variable name can't be empty: ${goQuote(pair)}`);
  }
}

/** A JSON Pointer from a base pointer and more segments. */
function ptr(base: string, ...segments: (string | number)[]): string {
  return base + segments.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** Go's %q for plain strings (what runc's messages show). */
function goQuote(s: string): string {
  return JSON.stringify(s);
}
