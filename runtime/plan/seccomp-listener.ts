// The seccomp agent hand-over (runtime-spec "seccomp agent" / ContainerProcessState): the document
// the executor sends to linux.seccomp.listenerPath together with the listener fd. tsrun writes
// it; only the pid of the process the filter belongs to is unknown until the executor's clone,
// so the executor writes it in at the byte offsets given here.
import type { LinuxSeccomp } from '../spec/types.js';
import { Tag, type PlanRecord } from './records.js';
import { compileSeccomp, SECCOMP_FILTER_FLAG_NEW_LISTENER } from '../seccomp/compile.js';

export interface ListenerProcess {
  ociVersion: string;
  id: string;
  bundle: string;
  annotations?: Record<string, string>;
  /** "creating" for the init (create/run), "running" for exec, as runc 1.1 sends */
  status: 'creating' | 'running';
  /** exec: the container init's pid (state.pid); create: the filtered process is the init */
  initPid?: number;
}

export type SeccompListenerRecord = Extract<PlanRecord, { tag: typeof Tag.SECCOMP_LISTENER }>;

/** The SECCOMP_LISTENER record, or undefined when the profile has no listener path. */
export function listenerRecord(seccomp: LinuxSeccomp, proc: ListenerProcess): SeccompListenerRecord | undefined {
  if (!seccomp.listenerPath) return undefined;
  const j = JSON.stringify;
  // Field order and omissions as Go's encoding of specs.ContainerProcessState (omitempty).
  const parts: (string | null)[] = [`{"ociVersion":${j(proc.ociVersion)},"fds":["seccompFd"],"pid":`, null];
  if (seccomp.listenerMetadata) parts.push(`,"metadata":${j(seccomp.listenerMetadata)}`);
  parts.push(`,"state":{"ociVersion":${j(proc.ociVersion)},"id":${j(proc.id)},"status":${j(proc.status)},"pid":`);
  parts.push(proc.initPid !== undefined ? String(proc.initPid) : null);
  let tail = `,"bundle":${j(proc.bundle)}`;
  if (proc.annotations && Object.keys(proc.annotations).length) tail += `,"annotations":${j(proc.annotations)}`;
  parts.push(tail + '}}');
  let json = '';
  const pidOffsets: number[] = [];
  for (const p of parts) {
    if (p === null) pidOffsets.push(Buffer.byteLength(json));
    else json += p;
  }
  return { tag: Tag.SECCOMP_LISTENER, path: seccomp.listenerPath, json, pidOffsets };
}

/**
 * The SECCOMP record for a profile (compiled by seccomp/, which knows nothing of plans) and, when
 * a rule notifies, the SECCOMP_LISTENER record: runc hands a listener over only then (libseccomp
 * makes none otherwise). Skipped syscall names go to `warnings`.
 */
export function seccompRecords(profile: LinuxSeccomp | undefined, proc: ListenerProcess, warnings?: string[]): {
  filter?: Extract<PlanRecord, { tag: typeof Tag.SECCOMP }>; listener?: SeccompListenerRecord;
} {
  if (!profile) return {};
  const compiled = compileSeccomp(profile);
  warnings?.push(...compiled.warnings);
  const filter = { tag: Tag.SECCOMP, flags: compiled.flags, program: compiled.program } as const;
  const listener = compiled.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER ? listenerRecord(profile, proc) : undefined;
  return { filter, listener };
}
