import { posix } from 'node:path';
import { TsrunError } from '../errors.js';
import type { Spec } from '../spec/types.js';
import { CAPABILITY_NUMBERS, RLIMIT_NUMBERS } from '../spec/tables.js';
import { CONSOLE_BIND_DEV, CONSOLE_CLEAR_ONLCR, Tag, consoleSocketFd, type ConsoleTaker, type PlanRecord } from './records.js';
import { lsmEnabled, type HostView } from './host.js';

type Process = NonNullable<Spec['process']>;

export function capabilityMask(names: readonly string[] | undefined, set: string): bigint {
  let mask = 0n;
  for (const name of names ?? []) {
    const bit = CAPABILITY_NUMBERS[name];
    if (bit === undefined) throw TsrunError.invalid(`unknown capability "${name}" in process.capabilities.${set}`);
    mask |= 1n << BigInt(bit);
  }
  return mask;
}

const RLIM_INFINITY = 0xffffffffffffffffn;

function rlimitValue(v: number | bigint): bigint {
  const b = BigInt(v);
  return b < 0n || b > RLIM_INFINITY ? RLIM_INFINITY : b;
}

const SCHED_POLICIES: Record<string, number> = {
  SCHED_OTHER: 0, SCHED_FIFO: 1, SCHED_RR: 2, SCHED_BATCH: 3, SCHED_ISO: 4, SCHED_IDLE: 5, SCHED_DEADLINE: 6,
};
const SCHED_FLAGS: Record<string, bigint> = {
  SCHED_FLAG_RESET_ON_FORK: 0x01n, SCHED_FLAG_RECLAIM: 0x02n, SCHED_FLAG_DL_OVERRUN: 0x04n,
  SCHED_FLAG_KEEP_POLICY: 0x08n, SCHED_FLAG_KEEP_PARAMS: 0x10n, SCHED_FLAG_UTIL_CLAMP_MIN: 0x20n,
  SCHED_FLAG_UTIL_CLAMP_MAX: 0x40n,
};
const IOPRIO_CLASSES: Record<string, number> = { IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 };
const PERSONALITY_DOMAINS: Record<string, bigint> = { LINUX: 0x0000n, LINUX32: 0x0008n };


/** "0-3,7" -> a cpu_set_t-sized byte mask. */
export function cpuListMask(list: string): Buffer {
  const mask = Buffer.alloc(128);
  for (const part of list.split(',')) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) throw TsrunError.invalid(`invalid CPU list "${list}"`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from || to >= mask.length * 8) throw TsrunError.invalid(`invalid CPU range "${part.trim()}" in "${list}"`);
    for (let cpu = from; cpu <= to; cpu++) mask[cpu >> 3] |= 1 << (cpu & 7);
  }
  return mask;
}

/** The records that shape the process right before exec: limits, identity, privileges, program. */
export function planProcess(spec: Spec, process: Process, opts: { preserveFds: number; keyringName?: string; home: string; host: HostView }): PlanRecord[] {
  const out: PlanRecord[] = [];
  for (const r of process.rlimits ?? []) {
    const resource = RLIMIT_NUMBERS[r.type];
    if (resource === undefined) throw TsrunError.invalid(`unknown rlimit type "${r.type}"`);
    const soft = rlimitValue(r.soft);
    const hard = rlimitValue(r.hard);
    out.push({ tag: Tag.RLIMIT, resource, soft, hard });
  }
  const personality = spec.linux?.personality;
  if (personality) {
    const domain = PERSONALITY_DOMAINS[personality.domain];
    if (domain === undefined) throw TsrunError.invalid(`unknown personality domain "${personality.domain}"`);
    out.push({ tag: Tag.PERSONALITY, persona: domain });
  }
  if (process.scheduler) {
    const s = process.scheduler;
    const policy = SCHED_POLICIES[s.policy];
    if (policy === undefined) throw TsrunError.invalid(`unknown scheduler policy "${s.policy}"`);
    let flags = 0n;
    for (const f of s.flags ?? []) {
      const bit = SCHED_FLAGS[f];
      if (bit === undefined) throw TsrunError.invalid(`unknown scheduler flag "${f}"`);
      flags |= bit;
    }
    out.push({
      tag: Tag.SCHEDULER, policy, nice: s.nice ?? 0, priority: s.priority ?? 0, flags,
      runtime: BigInt(s.runtime ?? 0), deadline: BigInt(s.deadline ?? 0), period: BigInt(s.period ?? 0),
    });
  }
  if (process.ioPriority) {
    const ioClass = IOPRIO_CLASSES[process.ioPriority.class];
    if (ioClass === undefined) throw TsrunError.invalid(`unknown ioPriority class "${process.ioPriority.class}"`);
    out.push({ tag: Tag.IOPRIO, ioClass, level: process.ioPriority.priority ?? 0 });
  }
  if (process.oomScoreAdj !== undefined) out.push({ tag: Tag.OOM_SCORE_ADJ, value: process.oomScoreAdj });
  if (opts.keyringName !== undefined) out.push({ tag: Tag.SESSION_KEYRING, name: opts.keyringName });

  const caps = process.capabilities ?? {};
  out.push({
    tag: Tag.CAPS,
    bounding: capabilityMask(caps.bounding, 'bounding'),
    effective: capabilityMask(caps.effective, 'effective'),
    permitted: capabilityMask(caps.permitted, 'permitted'),
    inheritable: capabilityMask(caps.inheritable, 'inheritable'),
    ambient: capabilityMask(caps.ambient, 'ambient'),
  });
  const user = process.user ?? { uid: 0, gid: 0 };
  out.push({
    tag: Tag.USER, uid: user.uid ?? 0, gid: user.gid ?? 0,
    umask: user.umask === undefined ? 0xffffffff : user.umask, additionalGids: user.additionalGids ?? [],
  });
  if (process.noNewPrivileges) out.push({ tag: Tag.NO_NEW_PRIVS });
  if (process.execCPUAffinity?.final) out.push({ tag: Tag.CPU_AFFINITY, mask: cpuListMask(process.execCPUAffinity.final) });
  // The labels are written right before exec, after the caller was told the container is
  // ready: refuse them here when the LSM is missing, as runc does at create time.
  if (process.apparmorProfile) {
    if (!lsmEnabled(opts.host, 'apparmor')) throw TsrunError.invalid(`unable to apply apparmor profile ${process.apparmorProfile}: apparmor is not enabled on this host`);
    out.push({ tag: Tag.LSM_LABEL, kind: 0, label: process.apparmorProfile });
  }
  if (process.selinuxLabel) {
    if (!lsmEnabled(opts.host, 'selinux')) throw TsrunError.invalid('selinux label is specified in config, but selinux is disabled or not supported');
    out.push({ tag: Tag.LSM_LABEL, kind: 1, label: process.selinuxLabel });
  }

  out.push({ tag: Tag.CWD, path: posix.resolve('/', process.cwd || '/') });
  const env = setenvAll(process.env ?? []);
  // runc gives the process a HOME from the container's passwd entry when the spec sets none.
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${opts.home}`);
  for (const value of env) out.push({ tag: Tag.ENV, value });
  if (!process.args?.length) throw TsrunError.invalid('args must not be empty');
  for (const value of process.args) out.push({ tag: Tag.ARG, value });
  if (opts.preserveFds > 0) out.push({ tag: Tag.PRESERVE_FDS, count: opts.preserveFds });
  return out;
}

/**
 * The CONSOLE record of a process with a terminal. consoleSize applies only with both sides set,
 * as in runc; the container's init (with a mount namespace) also gets the slave on /dev/console.
 * runc clears ONLCR on a pty it proxies itself: output bytes then reach its raw terminal unchanged.
 * It also sizes that pty like its own terminal (`hostWindow`), which we do before the process
 * runs rather than after, so that the process never sees the other size first.
 */
export function planConsole(process: Process, preserveFds: number, taker: ConsoleTaker, bindDevConsole: boolean,
  hostWindow?: { rows: number; cols: number }): PlanRecord {
  const size = hostWindow && hostWindow.rows > 0 && hostWindow.cols > 0 ? { height: hostWindow.rows, width: hostWindow.cols } : process.consoleSize;
  const sized = !!size && size.height > 0 && size.width > 0;
  if (sized && (size.height > 0xffff || size.width > 0xffff)) throw TsrunError.invalid(`consoleSize ${size.width}x${size.height} is out of range`);
  return {
    tag: Tag.CONSOLE, fd: consoleSocketFd(preserveFds), rows: sized ? size.height : 0, cols: sized ? size.width : 0,
    flags: (bindDevConsole ? CONSOLE_BIND_DEV : 0) | (taker === 'proxy' ? CONSOLE_CLEAR_ONLCR : 0),
  };
}

/**
 * The environment as runc's init builds it: os.Setenv for each entry in order, so a name given
 * twice (the spec's PATH and `exec --env PATH=...`) keeps the place it first had and the value it
 * was given last.
 */
export function setenvAll(list: string[]): string[] {
  const out: string[] = [];
  const at = new Map<string, number>();
  for (const pair of list) {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    const i = at.get(name);
    if (i === undefined) {
      at.set(name, out.length);
      out.push(pair);
    } else {
      out[i] = pair;
    }
  }
  return out;
}
