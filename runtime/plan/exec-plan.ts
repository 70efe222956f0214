import type { HostView } from './host.js';
import { posix } from 'node:path';
import { seccompRecords, type ListenerProcess } from './seccomp-listener.js';
import type { LinuxSeccomp } from '../spec/types.js';
import { TsrunError } from '../errors.js';
import type { Spec } from '../spec/types.js';
import { CAPABILITY_NUMBERS } from '../spec/tables.js';
import { PlanMode, Tag, type ConsoleTaker, type PlanRecord } from './records.js';
import { CLONE_NEW } from './namespaces.js';
import { planConsole, planProcess } from './process.js';

export type Process = NonNullable<Spec['process']>;

/** The /proc/PID/ns names of the namespace types, in join order: user first, mount last (as runc). */
const NS_FILES: [type: string, file: string][] = [
  ['user', 'user'], ['ipc', 'ipc'], ['uts', 'uts'], ['network', 'net'], ['pid', 'pid'],
  ['cgroup', 'cgroup'], ['time', 'time'], ['mount', 'mnt'],
];

/** Identity of a namespace file ("dev:ino"), or undefined when the kernel lacks that type. */
export type NsIdentity = (path: string) => string | undefined;


/**
 * The namespaces of the container's init that tsrun itself is not in: exec joins exactly those
 * (runc does the same; joining one's own namespace is pointless and, for user, refused).
 */
export function namespacesToJoin(initPid: number, identity: NsIdentity): { type: string; path: string }[] {
  const out: { type: string; path: string }[] = [];
  for (const [type, file] of NS_FILES) {
    const path = `/proc/${initPid}/ns/${file}`;
    const theirs = identity(path);
    if (theirs === undefined) continue;
    if (theirs !== identity(`/proc/self/ns/${file}`)) out.push({ type, path });
  }
  return out;
}

/** The command-line flags of `exec` that shape the process when no --process file is given. */
export interface ExecFlags {
  args: string[];
  env: string[];
  cwd?: string;
  user?: string;
  additionalGids: string[];
  caps: string[];
  noNewPrivs: boolean;
  apparmor?: string;
  processLabel?: string;
  tty: boolean;
}

function parseId(text: string, what: string): number {
  if (!/^[+-]?\d+$/.test(text)) throw TsrunError.invalid(`parsing ${text} as int for ${what} failed: strconv.Atoi: parsing "${text}": invalid syntax`);
  const n = Number(text);
  if (n < 0 || n > 0xfffffffe) throw TsrunError.invalid(`${what} ${text} is out of range`);
  return n;
}

/**
 * The process that `exec` runs without --process, built as runc 1.1 does: the container's
 * process with the command line's args, env appended, cwd/user/labels overridden, and -c
 * capabilities added to the bounding, effective and permitted sets (not inheritable or ambient:
 * runc stopped that with the fix for CVE-2022-29162). Unknown -c names are dropped with a warning.
 */
export function execProcessFromFlags(base: Process | undefined, flags: ExecFlags, warn: (msg: string) => void = () => undefined): Process {
  const p: Process = structuredClone(base ?? { cwd: '/', args: [] }) as Process;
  p.args = [...flags.args];
  if (p.args.length === 0) throw TsrunError.invalid('process args cannot be empty');
  p.terminal = flags.tty;
  p.env = [...(p.env ?? []), ...flags.env];
  if (flags.cwd) p.cwd = flags.cwd;
  if (!p.cwd || !posix.isAbsolute(p.cwd)) throw TsrunError.invalid('Cwd must be an absolute path');
  if (flags.apparmor) p.apparmorProfile = flags.apparmor;
  if (flags.processLabel) p.selinuxLabel = flags.processLabel;
  if (flags.noNewPrivs) p.noNewPrivileges = true;
  const user = { ...(p.user ?? { uid: 0, gid: 0 }) };
  if (flags.user) {
    const [uid, gid] = flags.user.split(':', 2).length > 1 ? [flags.user.slice(0, flags.user.indexOf(':')), flags.user.slice(flags.user.indexOf(':') + 1)] : [flags.user, undefined];
    if (gid !== undefined) user.gid = parseId(gid, 'gid');
    user.uid = parseId(uid, 'uid');
  }
  if (flags.additionalGids.length) user.additionalGids = [...(user.additionalGids ?? []), ...flags.additionalGids.map((g) => parseId(g, 'additional gid'))];
  p.user = user;
  if (flags.caps.length) {
    const known = flags.caps.filter((c) => CAPABILITY_NUMBERS[c] !== undefined);
    const unknown = flags.caps.filter((c) => CAPABILITY_NUMBERS[c] === undefined);
    if (unknown.length) warn(`ignoring unknown or unavailable capabilities: [${unknown.join(' ')}]`);
    const caps = { ...(p.capabilities ?? {}) };
    caps.bounding = [...(caps.bounding ?? []), ...known];
    caps.effective = [...(caps.effective ?? []), ...known];
    caps.permitted = [...(caps.permitted ?? []), ...known];
    p.capabilities = caps;
  }
  return p;
}

export interface ExecPlanInput {
  process: Process;
  /** namespaces of the init to join, from namespacesToJoin */
  namespaces: { type: string; path: string }[];
  cgroupProcs: string[];
  preserveFds: number;
  /** tsrun waits for the process itself */
  foreground: boolean;
  /** HOME for a process env without one */
  home: string;
  /** what the compiler may know of the host (runtime/host-view.ts) */
  host: HostView;
  /** process.terminal: who takes the pty's master (the executor gets a socket after the sync socket) */
  console?: ConsoleTaker;
  /** with console 'proxy': the size of tsrun's own terminal, which the pty gets */
  hostWindow?: { rows: number; cols: number };
  /** the container's seccomp profile: runc applies it to exec'd processes too */
  seccomp?: LinuxSeccomp;
  /** the container, for the state a notifying filter's listener gets (status "running") */
  container?: Omit<ListenerProcess, 'status'>;
  /** receives warnings worth a debug log line (seccomp rules naming unknown syscalls) */
  warnings?: string[];
}

/** The plan for the executor's mode 1: join the init's namespaces and cgroups, then run the process. */
export function compileExecPlan(input: ExecPlanInput): PlanRecord[] {
  const plan: PlanRecord[] = [{ tag: Tag.MODE, mode: PlanMode.Exec, flags: input.foreground ? 1 : 0 }];
  for (const ns of input.namespaces) {
    const flag = CLONE_NEW[ns.type];
    if (flag === undefined) throw TsrunError.invalid(`namespace type "${ns.type}" is not supported`);
    plan.push({ tag: Tag.NS_JOIN, flag, path: ns.path });
  }
  for (const path of input.cgroupProcs) plan.push({ tag: Tag.CGROUP_PROCS, path });
  // No session keyring (exec shares the init's) and no personality (runc applies it to the init only).
  plan.push(...planProcess({ ociVersion: '' }, input.process, { preserveFds: input.preserveFds, home: input.home, host: input.host }));
  const seccomp = seccompRecords(input.seccomp, { ociVersion: '', id: '', bundle: '', ...input.container, status: 'running' }, input.warnings);
  if (seccomp.filter) plan.push(seccomp.filter);
  if (input.console) plan.push(planConsole(input.process, input.preserveFds, input.console, false, input.hostWindow));
  if (seccomp.listener) plan.push(seccomp.listener);
  return plan;
}

/**
 * `exec --cgroup` arguments as runc 1.1 reads them: `<path>` (alone) goes below every one of the
 * container's cgroups, `<controller>[,<controller>...]:<path>` below those controllers' ones
 * (an empty controller is the same as none; a controller named again takes the later path).
 */
export function parseSubCgroups(args: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const arg of args) {
    const parts = arg.split(':');
    if (parts.length > 2) throw new TsrunError(`invalid --cgroup argument: ${arg}`);
    if (parts.length === 1) {
      if (args.length !== 1) throw new TsrunError(`invalid --cgroup argument: ${arg} (missing <controller>: prefix)`);
      out[''] = arg;
      continue;
    }
    for (const ctrl of parts[0].split(',')) out[ctrl] = parts[1];
  }
  return out;
}

/**
 * The container's cgroup dirs (controller -> dir) with the sub-cgroups of parseSubCgroups joined
 * on, as runc joins them. A sub-path may not lead out of the container's cgroup (runc lets
 * "../x" through; that would put the process in someone else's cgroup).
 */
export function joinSubCgroups(paths: Record<string, string>, sub: Record<string, string>): Record<string, string> {
  const out = { ...paths };
  const join = (dir: string, add: string) => {
    const joined = posix.join(dir, add);
    if (joined !== dir && !joined.startsWith(dir + '/')) throw new TsrunError(`invalid --cgroup argument: ${add} (outside the container's cgroup)`);
    return joined;
  };
  if (Object.hasOwn(sub, '')) {
    for (const k of Object.keys(out)) out[k] = join(out[k], sub['']);
    return out;
  }
  for (const [ctrl, add] of Object.entries(sub)) {
    if (!Object.hasOwn(out, ctrl)) throw new TsrunError(`unable to create new parent process: unknown controller ${ctrl} in SubCgroupPaths`);
    out[ctrl] = join(out[ctrl], add);
  }
  return out;
}
