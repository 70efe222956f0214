// The runtime options containerd hands a shim with Create (and on start's stdin): the runc
// shim's containerd.runc.v1.Options, or CRI's and Docker's runtimeoptions.v1.Options naming a
// tsrun shim options file (config_path; containerd 2.x also sends its text as config_body).
// That file is TOML (JSON when its name ends in .json) with the runc Options' fields, spelled
// either as the proto names (`systemd_cgroup`) or as CRI's config.toml spells the runc options
// (`SystemdCgroup`), plus `protocol` ("ttrpc" or "grpc") and `shim_group` ("namespace", "pod" or "container"), both read
// by the launcher at `start`.
// Any other options type is accepted and ignored, where the runc shim fails Create.
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { runc_options, runtimeoptions, unpackAny, type google_protobuf } from '../proto/index.js';
import { parseToml, plain } from '../runtime/setup/toml.js';
import { parseCgroupMounts } from '../runtime/cgroups/layout.js';

export interface ShimOptions {
  root: string;
  systemdCgroup: boolean;
  noPivotRoot: boolean;
  noNewKeyring: boolean;
  /** owner of the stdio FIFOs, for a container in a user namespace (-1: unchanged) */
  ioUid: number;
  ioGid: number;
  /** the cgroup this shim moves itself into */
  shimCgroup: string;
  binaryName: string;
  protocol: string;
  /** how containers share shim processes (read by the launcher at `start`) */
  shimGroup: string;
}

export class OptionsError extends Error {}

const NAMES: Record<string, keyof ShimOptions> = {
  root: 'root', systemdcgroup: 'systemdCgroup', nopivotroot: 'noPivotRoot', nonewkeyring: 'noNewKeyring',
  iouid: 'ioUid', iogid: 'ioGid', shimcgroup: 'shimCgroup', binaryname: 'binaryName', protocol: 'protocol', shimgroup: 'shimGroup',
};
const BOOLEAN = new Set<keyof ShimOptions>(['systemdCgroup', 'noPivotRoot', 'noNewKeyring']);
const NUMBER = new Set<keyof ShimOptions>(['ioUid', 'ioGid']);
/** runc Options fields the tsrun shim has no use for */
const IGNORED = new Set(['criupath', 'criuimagepath', 'criuworkpath', 'taskapiaddress', 'taskapiversion']);

function defaults(): ShimOptions {
  return { root: '', systemdCgroup: false, noPivotRoot: false, noNewKeyring: false, ioUid: -1, ioGid: -1, shimCgroup: '', binaryName: '', protocol: '', shimGroup: '' };
}

/** A tsrun shim options file's text (TOML, or JSON for a name ending in .json). */
export function parseOptionsFile(text: string, name: string, warn: (msg: string) => void = () => undefined): ShimOptions {
  let doc: Record<string, unknown>;
  try {
    doc = (name.endsWith('.json') ? JSON.parse(text) : plain(parseToml(text).root)) as Record<string, unknown>;
  } catch (err) {
    throw new OptionsError(`tsrun shim options ${name}: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new OptionsError(`tsrun shim options ${name}: not a table`);
  const o = defaults();
  for (const [key, value] of Object.entries(doc)) {
    const norm = key.toLowerCase().replace(/_/g, '');
    const field = NAMES[norm];
    if (!field) {
      if (!IGNORED.has(norm)) warn(`tsrun shim options ${name}: unknown key ${key} ignored`);
      continue;
    }
    const bad = (want: string) => new OptionsError(`tsrun shim options ${name}: ${key} must be ${want}`);
    if (BOOLEAN.has(field)) {
      if (typeof value !== 'boolean') throw bad('a boolean');
      (o[field] as boolean) = value;
    } else if (NUMBER.has(field)) {
      const n = typeof value === 'bigint' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) throw bad('a uid or gid');
      (o[field] as number) = n;
    } else {
      if (typeof value !== 'string') throw bad('a string');
      (o[field] as string) = value;
    }
  }
  if (o.protocol && o.protocol !== 'ttrpc' && o.protocol !== 'grpc') throw new OptionsError(`tsrun shim options ${name}: protocol must be "ttrpc" or "grpc"`);
  if (o.shimGroup && !['namespace', 'pod', 'container'].includes(o.shimGroup)) {
    throw new OptionsError(`tsrun shim options ${name}: shim_group must be "namespace", "pod" or "container"`);
  }
  return o;
}

/** The options of a Create request (absent, runc's, CRI's, or a type tsrun does not know). */
export function runtimeOptions(any: google_protobuf.AnyInit | undefined | null, warn: (msg: string) => void = () => undefined): ShimOptions {
  const o = defaults();
  if (!any || !any.type_url) return o;
  const runc = unpackAny(any, runc_options.Options);
  if (runc) {
    return {
      ...o, root: runc.root, systemdCgroup: runc.systemd_cgroup, noPivotRoot: runc.no_pivot_root, noNewKeyring: runc.no_new_keyring,
      // proto3 cannot tell 0 from unset: as the runc shim, 0 means root, which is what an unchanged FIFO has
      ioUid: runc.io_uid || -1, ioGid: runc.io_gid || -1, shimCgroup: runc.shim_cgroup, binaryName: runc.binary_name,
    };
  }
  const cri = unpackAny(any, runtimeoptions.Options);
  if (cri) {
    if (cri.config_body && cri.config_body.length > 0) return parseOptionsFile(Buffer.from(cri.config_body).toString('utf8'), cri.config_path || 'config_body', warn);
    if (!cri.config_path) return o;
    let text: string;
    try { text = readFileSync(cri.config_path, 'utf8'); } catch (err) { throw new OptionsError(`tsrun shim options: ${(err as Error).message}`); }
    return parseOptionsFile(text, cri.config_path, warn);
  }
  warn(`runtime options of type ${any.type_url} ignored`);
  return o;
}

/**
 * Moves this process into `cgroup` (a path below the hierarchies' roots) in every hierarchy
 * that has it, as the runc shim joins its shim_cgroup.
 */
export function joinShimCgroup(cgroup: string, pid = process.pid): void {
  const rel = posix.normalize(`/${cgroup}`);
  let joined = 0;
  for (const m of parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'))) {
    const procs = posix.join(m.mountpoint, rel, 'cgroup.procs');
    if (!existsSync(procs)) continue;
    writeFileSync(procs, String(pid));
    joined++;
  }
  if (joined === 0) throw new OptionsError(`shim_cgroup ${cgroup}: no such cgroup`);
}
