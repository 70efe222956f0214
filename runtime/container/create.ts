import { closeSync, renameSync, writeFileSync } from 'node:fs';
import { checkPreservedFds } from './preserved-fds.js';
import { resolve } from 'node:path';
import { TsrunError } from '../errors.js';
import { log } from '../log.js';
import { loadBundleSpec } from '../spec/load.js';
import { compileInitPlan } from '../plan/compile.js';
import { RELEASE_POINT, Tag } from '../plan/records.js';
import { deviceCgroupRules } from '../plan/devices.js';
import { cgroupManager, detectCgroupLayout, serializeCgroupPaths, userSystemdManager, v1MountOrder, type CgroupManager } from '../cgroups/index.js';
import { lockContainer } from './lock.js';
import { checkContainerId, execFifoPath, makeStateDir, removeStateDir, saveState, type ContainerState } from './state.js';
import { procStat, processAlive, waitForExit } from './proc.js';
import { runExecutor, withLeftoverPid, type StdioSpec } from './executor.js';
import { hasHooks, runHooks } from './hooks.js';
import { hookState, rfc3339Nano } from './status.js';
import { checkTerminalUse, startWithConsole, type HostTerminal } from './console.js';
import { bindSysfsWhereUnmountable, rootlessCgroupApply, rootlessCgroups, rootlessCgroupCreate, rootlessEuid, rootlessSpec, runningInUserNS, withOwnCgroups } from '../rootless.js';
import { detachHostMounts, hostMountsRecord } from './host-mounts.js';
import { ROOTFS_HOST_MNTNS } from '../plan/host-mounts.js';
import { faultPoint } from '../fault.js';
import { mark } from '../timing.js';
import { warmCgroupMigration } from '../cgroups/migration-warm.js';
import type { ExitInfo } from '../reaper.js';
import { realHostView } from '../host-view.js';

export interface CreateOptions {
  root: string;
  id: string;
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot: boolean;
  noNewKeyring: boolean;
  preserveFds: number;
  systemdCgroup: boolean;
  /** cgroup permission errors are tolerated when no limit needs the cgroup (--rootless, runtime/rootless.ts) */
  rootless?: boolean;
  /**
   * The CLI's terminal rules (runc's checks of -d against --console-socket): true for `create`
   * and `run -d`, false for a foreground `run`. Left out, the caller takes the pty master itself.
   */
  detached?: boolean;
  /** a foreground caller's own terminal, asked for only when the process has a terminal */
  hostTerminal?: () => HostTerminal;
  /** the container's fds 0-2 (default: ours) */
  stdio?: StdioSpec[];
  /** the executor waits for the init and reports its exit (Created.exited): no reaper, no subreaper */
  executorWaits?: boolean;
}

/**
 * What create made: the state, the cgroups and, for a terminal without a console socket, the
 * pty's master (with the caller's own terminal when it gave one).
 */
export interface Created { state: ContainerState; cgroups: CgroupManager; master?: number; host?: HostTerminal; exited?: Promise<ExitInfo> }

/** Writes the pid file the way callers need it: digits only, no newline, appearing whole (by rename). */
export function writePidFile(path: string, pid: number): void {
  const abs = resolve(path);
  const tmp = abs.replace(/([^/]*)$/, '.$1');
  writeFileSync(tmp, String(pid), { mode: 0o644 });
  renameSync(tmp, abs);
}

export async function createContainer(opts: CreateOptions): Promise<Created> {
  checkContainerId(opts.id);
  // Everything that can be refused is checked before anything is made.
  // runc drops capabilities it does not know with a warning (its init does, at start).
  const loaded = loadBundleSpec(opts.bundle, { unknownCapabilities: 'warn' });
  const { bundle, rootfs, warnings } = loaded;
  for (const warning of warnings) log.warn(warning);
  mark('spec');
  // A caller who is not root: runc's rootless checks, and the way the id maps get written.
  const rootless = rootlessEuid() ? rootlessSpec(loaded.spec) : undefined;
  const hostUserNs = runningInUserNS();
  const spec = bindSysfsWhereUnmountable(rootless?.spec ?? loaded.spec, hostUserNs);
  // Library callers that do not say get runc's auto detection.
  const rootlessCg = opts.rootless ?? rootlessCgroups('auto', opts.systemdCgroup);
  for (const opt of rootless?.dropped ?? []) log.debug(`rootless: dropped ${opt}: the group is not mapped in the container`);
  if (!spec.process) throw TsrunError.invalid('process property must not be empty');
  const terminal = !!spec.process.terminal;
  if (opts.detached !== undefined) checkTerminalUse(terminal, opts.detached, opts.consoleSocket);
  const foreground = opts.detached === false;

  // Socket activation (as runc): the listening fds come first, the --preserve-fds ones after them.
  const listenFds = socketActivationFds();
  // `exec` starts from the saved process, which must not claim fds it will not get.
  const savedProcess = spec.process;
  if (listenFds) spec.process = { ...spec.process, env: [...(spec.process.env ?? []), `LISTEN_FDS=${listenFds}`, 'LISTEN_PID=1'] };
  const passedFds = listenFds + opts.preserveFds;
  checkPreservedFds(3 + listenFds, opts.preserveFds);

  // runc looks for its own terminal before it starts anything, and fails without one.
  const host = terminal ? opts.hostTerminal?.() : undefined;
  const userManager = await userSystemdManager({ systemd: opts.systemdCgroup, rootless: rootlessCg });
  const cgroups = cgroupManager({ cgroupsPath: spec.linux?.cgroupsPath, id: opts.id, resources: spec.linux?.resources, systemd: opts.systemdCgroup, annotations: spec.annotations, rootless: rootlessCg, userManager });
  const hookBarrier = hasHooks(spec.hooks, 'prestart', 'createRuntime');
  // Compiled once, with its final inputs, after the cgroups exist: which cgroup.procs files to
  // join, and whether a systemd scope must hold the init before it runs.
  const compilePlan = (paths: Record<string, string>) => {
    const warnings: string[] = [];
    const plan = compileInitPlan({
      id: opts.id, spec, bundle, rootfs, execFifo: execFifoPath(opts.root, opts.id), cgroupProcs: cgroups.procsFiles(),
      releaseBarrier: !!cgroups.attach,
      cgroups: { version: cgroups.version, paths, mountOrder: cgroups.version === 1 ? v1MountOrder(detectCgroupLayout()) : [] }, noPivot: opts.noPivot, noNewKeyring: opts.noNewKeyring,
      preserveFds: passedFds, foreground, executorWaits: opts.executorWaits, hookBarrier, warnings, rootlessIdMaps: rootless?.idMaps, hostUserNs,
      console: !terminal ? undefined : opts.consoleSocket ? 'socket' : opts.detached === undefined ? 'master' : 'proxy', hostWindow: host?.windowSize(),
      host: realHostView,
    });
    // runc logs skipped seccomp syscall names at debug level only: so do we.
    for (const warning of warnings) log.debug(warning);
    return plan;
  };

  const release = await lockContainer(opts.root, opts.id);
  mark('lock');
  let master: number | undefined;
  let exited: Promise<ExitInfo> | undefined;
  try {
    makeStateDir(opts.root, opts.id);
    try {
      for (const warning of cgroups.checkBeforeCreate()) log.warn(warning);
    } catch (err) {
      // Nothing made yet: the cgroup and whatever is in it are someone else's.
      removeStateDir(opts.root, opts.id);
      throw err;
    }
    const state: ContainerState = {
      version: 1, ociVersion: spec.ociVersion ?? '1.0.2-dev', id: opts.id, bundle, rootfs, pid: 0,
      created: rfc3339Nano(new Date()), owner: '', annotations: spec.annotations, cgroup: serializeCgroupPaths(cgroups),
      creating: true, creator: { pid: process.pid, startTime: procStat(process.pid)?.startTime }, hooks: spec.hooks, process: savedProcess, seccomp: spec.linux?.seccomp,
      resources: spec.linux?.resources as ContainerState['resources'],
    };
    let pid = 0;
    try {
      // Recorded before anything is made, so that `delete --force` can clean up after a killed create.
      saveState(opts.root, state);
      faultPoint('create:1');
      rootlessCgroupCreate(rootlessCg || rootless !== undefined, () => cgroups.create());
      faultPoint('create:2');
      for (const warning of rootlessCgroupApply(rootlessCg, () => cgroups.apply({ ...spec.linux?.resources, devices: deviceCgroupRules(spec) }))) log.warn(warning);
      // Rootless, the cgroups that could not be made are not joined: the container sees ours there, as with runc.
      mark('cgroups');
      // the executor will write the init into them: the kernel's grace period starts now (and
      // again when it is started, which keeps the head start fresh)
      warmCgroupMigration();
      const plan = compilePlan(rootlessCg ? withOwnCgroups({ ...cgroups.paths }) : { ...cgroups.paths });
      mark('plan');
      // Before the executor binds the rootfs in the host's mount namespace: delete finds the bind by it.
      if (plan.some((r) => r.tag === Tag.ROOTFS && (r.flags & ROOTFS_HOST_MNTNS) !== 0)) {
        state.hostMounts = hostMountsRecord(rootfs);
        saveState(opts.root, state);
      }
      ({ pid, master, run: { exited } } = await startWithConsole(terminal, opts.consoleSocket, host, (socket) => runExecutor(plan, passedFds, {
        onHookPoint: async (point, initPid) => {
          if (point === RELEASE_POINT) {
            for (const warning of await cgroups.attach!(initPid)) log.warn(warning);
            saveState(opts.root, state);
            return;
          }
          const atBarrier = hookState({ ...state, pid: initPid }, 'creating');
          await runHooks(spec.hooks, 'prestart', atBarrier);
          await runHooks(spec.hooks, 'createRuntime', atBarrier);
        },
      }, socket, opts.stdio), (p) => {
        pid = p;
        // On disk at once: a create killed from here on leaves a state that names its init.
        if (state.pid === p) return;
        state.pid = p;
        state.pidStartTime = procStat(p)?.startTime;
        saveState(opts.root, state);
      }));
      mark('executor');
      faultPoint('create:3');
      const st = procStat(pid);
      // Gone right after READY (a filter that denies everything kills it there), and reaped by
      // an executor that waits for it: as runc's run reports it.
      if (!st) throw TsrunError.precondition('container process is already dead');
      state.pid = pid;
      state.pidStartTime = st.startTime;
      delete state.creating;
      delete state.creator;
      saveState(opts.root, state);
      faultPoint('create:4');
      if (opts.pidFile) writePidFile(opts.pidFile, pid);
      mark('created');
      log.debug(`created container ${opts.id} with init pid ${pid}`);
      return { state, cgroups, master, host: master !== undefined ? host : undefined, exited };
    } catch (err) {
      if (master !== undefined) closeSync(master);
      await undoCreate(opts.root, opts.id, pid, cgroups, state.hostMounts);
      throw withLeftoverPid(err, pid);
    }
  } catch (err) {
    host?.close();
    throw err;
  } finally {
    release();
  }
}

/**
 * The fds systemd passed us for socket activation (LISTEN_FDS, meant for this very process by
 * LISTEN_PID), which runc hands on to the container.
 */
function socketActivationFds(): number {
  const count = Number(process.env.LISTEN_FDS);
  if (!process.env.LISTEN_FDS || !Number.isInteger(count) || count <= 0) return 0;
  if (Number(process.env.LISTEN_PID) !== process.pid) return 0;
  return count;
}

async function undoCreate(root: string, id: string, pid: number, cgroups: CgroupManager, hostMounts: ContainerState['hostMounts']): Promise<void> {
  if (pid > 0 && processAlive(pid)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    await waitForExit(pid, undefined, 5000);
  }
  try { detachHostMounts(hostMounts); } catch (err) { log.warn(`cleaning up mounts of ${id}: ${(err as Error).message}`); }
  try { await cgroups.destroy(); } catch (err) { log.warn(`cleaning up cgroups of ${id}: ${(err as Error).message}`); }
  removeStateDir(root, id);
}
