import { TsrunError } from '../errors.js';
import type { Spec } from '../spec/types.js';
import { posix } from 'node:path';
import { ChangeRoot, PlanMode, Tag, modeFlags, type ConsoleTaker, type PlanRecord } from './records.js';
import { ROOTFS_PROPAGATION, MS } from './mount-options.js';
import { CLONE_NEW, planNamespaces, checkNamespaceUse, idMapContent, timeOffsetsContent } from './namespaces.js';
import { planMounts, needsDevSetup, devReadonlyRemount, IdmapUsernsTable, type CgroupMountContext } from './mounts.js';
import { planDev } from './devices.js';
import { planConsole, planProcess } from './process.js';
import { containerHome } from './rootfs-files.js';
import type { HostView } from './host.js';
import { planInitHooks } from './hooks.js';
import { seccompRecords } from './seccomp-listener.js';
import { planLatePidns } from './pidns.js';
import { hostMountNamespaceRootfs, ROOTFS_HOST_MNTNS } from './host-mounts.js';

export interface InitPlanInput {
  id: string;
  spec: Spec;
  bundle: string;
  rootfs: string;
  execFifo: string;
  /** the cgroup.procs files of the cgroups that exist (made before the plan is compiled) */
  cgroupProcs: string[];
  cgroups: CgroupMountContext;
  /** E holds the init until tsrun's CONTINUE (a systemd scope must hold it first) */
  releaseBarrier?: boolean;
  noPivot: boolean;
  noNewKeyring: boolean;
  preserveFds: number;
  /** tsrun itself waits on the container (foreground run) */
  foreground: boolean;
  /** the executor stays, waits for the init and exits with its status (ModeFlag.Wait) */
  executorWaits?: boolean;
  /** process.terminal: who takes the pty's master (the executor gets a socket after the sync socket) */
  console?: ConsoleTaker;
  /** with console 'proxy': the size of tsrun's own terminal, which the pty gets */
  hostWindow?: { rows: number; cols: number };
  /** hooks that must run between the mounts and the root change */
  hookBarrier: boolean;
  /** run by a user who is not root: how the executor gets the id maps written (runtime/rootless.ts) */
  rootlessIdMaps?: { setgroupsDeny: boolean; newuidmap?: string; newgidmap?: string };
  /** tsrun itself runs in a user namespace (rootless Podman's): devices are bound, as runc does */
  hostUserNs?: boolean;
  /** receives warnings worth a debug log line (e.g. seccomp rules naming unknown syscalls) */
  warnings?: string[];
  /** what the compiler may know of the host and the rootfs (runtime/host-view.ts) */
  host: HostView;
}

/**
 * A sysctl name as the plan carries it (dots between components): sysctl(8)'s slashed spelling,
 * which spec/semantic.ts accepts as runc does, is turned into it.
 */
function dottedSysctl(key: string): string {
  if (!key.includes('/')) return key;
  const parts = key.split('/');
  if (parts.some((p) => p.includes('.'))) throw TsrunError.invalid(`sysctl "${key}": a slashed name with a dot in a component is not supported`);
  return parts.join('.');
}

/**
 * Compiles a spec checked by spec/semantic.ts (checkSpec) into the plan that the executor
 * carries out for create/run. Rules already checked there are not checked again here; what is
 * left are the lookups a plan cannot be made without, which fail closed.
 */
export function compileInitPlan(input: InitPlanInput): PlanRecord[] {
  const { spec } = input;
  const process = spec.process;
  if (!process) throw TsrunError.invalid('process must be set to create a container');
  // Compiled first so that a bad profile fails before anything else is planned.
  const seccomp = seccompRecords(spec.linux?.seccomp, {
    ociVersion: spec.ociVersion ?? '1.0.2-dev', id: input.id, bundle: input.bundle, annotations: spec.annotations, status: 'creating',
  }, input.warnings);
  const ns = planNamespaces(spec);
  checkNamespaceUse(spec, ns);
  // Compiled ahead: the user namespaces of id-mapped mounts are the executor's records, which come first.
  const idmaps = new IdmapUsernsTable();
  const hostMounts = !ns.has.has('mount') && hostMountNamespaceRootfs(spec, ns);
  const mounts = ns.has.has('mount') || hostMounts ? planMounts(input.host, spec, input.bundle, ns, input.cgroups, idmaps, input.rootfs) : [];

  const initHooks = planInitHooks(spec.hooks, { ociVersion: spec.ociVersion ?? '1.0.2-dev', id: input.id, bundle: input.bundle, annotations: spec.annotations });

  const plan: PlanRecord[] = [{ tag: Tag.MODE, mode: PlanMode.Init, flags: modeFlags(input) }];
  if (input.releaseBarrier) plan.push({ tag: Tag.RELEASE_BARRIER });
  for (const j of ns.joined) plan.push({ tag: Tag.NS_JOIN, flag: CLONE_NEW[j.type], path: j.path });
  if (ns.cloneFlags) plan.push({ tag: Tag.NS_CLONE, flags: ns.cloneFlags });
  if (ns.created.has('time')) plan.push({ tag: Tag.TIMENS_OFFSETS, content: timeOffsetsContent(spec.linux?.timeOffsets) });
  if (ns.joined.some((j) => j.type === 'user') && (spec.linux?.uidMappings?.length || spec.linux?.gidMappings?.length)) {
    if (spec.linux?.uidMappings?.length) plan.push({ tag: Tag.UID_MAP, content: idMapContent(spec.linux.uidMappings) });
    if (spec.linux?.gidMappings?.length) plan.push({ tag: Tag.GID_MAP, content: idMapContent(spec.linux.gidMappings) });
  }
  if (ns.created.has('user')) {
    plan.push({ tag: Tag.UID_MAP, content: idMapContent(spec.linux?.uidMappings) });
    plan.push({ tag: Tag.GID_MAP, content: idMapContent(spec.linux?.gidMappings) });
    const t = input.rootlessIdMaps;
    if (t) plan.push({ tag: Tag.IDMAP_TOOLS, setgroupsDeny: t.setgroupsDeny, newuidmap: t.newuidmap ?? '', newgidmap: t.newgidmap ?? '' });
  }
  for (const path of input.cgroupProcs) plan.push({ tag: Tag.CGROUP_PROCS, path });
  plan.push({ tag: Tag.EXEC_FIFO, path: input.execFifo });
  plan.push(...idmaps.records);
  if (ns.unshareFlags) plan.push({ tag: Tag.NS_UNSHARE, flags: ns.unshareFlags });

  const inUserNs = ns.has.has('user') || !!input.hostUserNs;
  if (ns.has.has('mount')) {
    const propagationName = spec.linux?.rootfsPropagation ?? '';
    const propagation = ROOTFS_PROPAGATION[propagationName];
    if (propagation === undefined) throw TsrunError.invalid(`unknown rootfsPropagation "${propagationName}"`);
    plan.push({ tag: Tag.ROOTFS, path: input.rootfs, propagation: propagation || (MS.SLAVE | MS.REC), flags: 1 });
    plan.push(...mounts);
    plan.push(...planDev(input.host, spec, inUserNs, needsDevSetup(spec)));
    if (input.hookBarrier) plan.push({ tag: Tag.HOOK_BARRIER, point: 0 });
    plan.push(...initHooks.createContainer);
    plan.push({ tag: Tag.CHANGE_ROOT, how: input.noPivot ? ChangeRoot.MoveAndChroot : ChangeRoot.PivotRoot });
    plan.push(...cwdMkdir(process));
  } else {
    plan.push({ tag: Tag.ROOTFS, path: input.rootfs, propagation: 0n, flags: hostMounts ? ROOTFS_HOST_MNTNS : 0 });
    if (hostMounts) {
      plan.push(...mounts);
      plan.push(...planDev(input.host, spec, inUserNs, needsDevSetup(spec)));
    }
    if (input.hookBarrier) plan.push({ tag: Tag.HOOK_BARRIER, point: 0 });
    plan.push(...initHooks.createContainer);
    plan.push({ tag: Tag.CHANGE_ROOT, how: ChangeRoot.ChrootOnly });
    plan.push(...cwdMkdir(process));
  }

  if (spec.hostname) plan.push({ tag: Tag.HOSTNAME, name: spec.hostname });
  if (spec.domainname) plan.push({ tag: Tag.DOMAINNAME, name: spec.domainname });
  for (const [key, value] of Object.entries(spec.linux?.sysctl ?? {})) plan.push({ tag: Tag.SYSCTL, key: dottedSysctl(key), value: String(value) });
  if (ns.has.has('mount')) {
    for (const path of spec.linux?.readonlyPaths ?? []) plan.push({ tag: Tag.READONLY_PATH, path });
    for (const path of spec.linux?.maskedPaths ?? []) plan.push({ tag: Tag.MASK_PATH, path });
    plan.push(...devReadonlyRemount(spec));
    if (spec.root?.readonly) plan.push({ tag: Tag.ROOT_READONLY });
  } else if (hostMounts && !spec.linux?.readonlyPaths?.length && !spec.linux?.maskedPaths?.length) {
    plan.push(...devReadonlyRemount(spec));
    if (spec.root?.readonly) plan.push({ tag: Tag.ROOT_READONLY });
  } else if (spec.linux?.readonlyPaths?.length || spec.linux?.maskedPaths?.length || spec.root?.readonly) {
    throw TsrunError.invalid('maskedPaths, readonlyPaths and a read-only root require a mount namespace');
  }

  const uid = process.user?.uid ?? 0;
  plan.push(...planProcess(spec, process, {
    preserveFds: input.preserveFds,
    keyringName: input.noNewKeyring ? undefined : input.id,
    home: containerHome(input.host, input.rootfs, uid),
    host: input.host,
  }));
  if (seccomp.filter) plan.push(seccomp.filter);
  plan.push(...initHooks.startContainer);
  if (input.console) plan.push(planConsole(process, input.preserveFds, input.console, ns.has.has('mount'), input.hostWindow));
  if (seccomp.listener) plan.push(seccomp.listener);
  planLatePidns(plan, ns);
  return plan;
}

/** runc makes a missing cwd (0755, as root) in the new root, after the createContainer hooks. */
function cwdMkdir(process: NonNullable<Spec['process']>): PlanRecord[] {
  const cwd = posix.resolve('/', process.cwd || '/');
  return cwd === '/' ? [] : [{ tag: Tag.MKDIR_LATE, path: cwd, mode: 0o755 }];
}
