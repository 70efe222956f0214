import { TsrunError } from '../errors.js';
import { checkPreservedFds } from './preserved-fds.js';
import { log } from '../log.js';
import { cgroupManagerFromState } from '../cgroups/index.js';
import { loadBundleSpec } from '../spec/load.js';
import { compileExecPlan, joinSubCgroups, namespacesToJoin, parseSubCgroups, type Process } from '../plan/exec-plan.js';
import { containerHome } from '../plan/rootfs-files.js';
import { nsIdentity, realHostView } from '../host-view.js';
import { loadState, type ContainerState } from './state.js';
import { containerStatus } from './status.js';
import { runExecutor, withLeftoverPid, type StdioSpec } from './executor.js';
import { writePidFile } from './create.js';
import { processAlive, waitForExit } from './proc.js';
import { checkTerminalUse, startWithConsole, type HostTerminal } from './console.js';
import { faultPoint } from '../fault.js';
import { rootlessEuid } from '../rootless.js';
import { requireStatus } from './transitions.js';
import type { ExitInfo } from '../reaper.js';

export interface ExecOptions {
  root: string;
  id: string;
  /** the finished process, from --process or built from the flags on top of containerProcess() */
  process: Process;
  /** the CLI's terminal rules, as for create (CreateOptions.detached); left out, the caller takes the master */
  detached?: boolean;
  /** a foreground caller's own terminal, asked for only when the process has a terminal */
  hostTerminal?: () => HostTerminal;
  /** the executor waits for the process and reports its exit (ExecStarted.exited) */
  executorWaits?: boolean;
  pidFile?: string;
  preserveFds: number;
  ignorePaused: boolean;
  consoleSocket?: string;
  /** exec --cgroup: sub-cgroups of the container's to run the process in */
  subCgroups?: string[];
  /** the process's fds 0-2 (default: ours) */
  stdio?: StdioSpec[];
}


/** The container's process as saved at create (older state: from the bundle's config.json). */
export function containerProcess(state: ContainerState): Process | undefined {
  if (state.process) return state.process;
  try { return loadBundleSpec(state.bundle, { unknownCapabilities: 'warn' }).spec.process; } catch { return undefined; }
}

/** Loads the container and refuses states runc refuses exec in. */
export function execTarget(root: string, id: string, ignorePaused: boolean): ContainerState {
  const state = loadState(root, id);
  const status = containerStatus(root, state);
  requireStatus(ignorePaused ? 'exec-ignore-paused' : 'exec', status, id);
  return state;
}

/** A process started in a container: its host pid, and the pty master when it was kept. */
export interface ExecStarted {
  pid: number;
  master?: number;
  /** tsrun's own terminal, for a foreground exec with a terminal */
  host?: HostTerminal;
  /** with executorWaits: the process's exit */
  exited?: Promise<ExitInfo>;
}

/**
 * Starts a process in a running (or created) container and returns once it runs: waiting for
 * it is the caller's (the CLI in the foreground, the library's reaper).
 */
export async function spawnExec(state: ContainerState, opts: ExecOptions): Promise<ExecStarted> {
  const terminal = !!opts.process.terminal;
  if (opts.detached !== undefined) checkTerminalUse(terminal, opts.detached, opts.consoleSocket);
  checkPreservedFds(3, opts.preserveFds);
  // runc 1.3 refuses before it starts anything (the kernel would refuse setgroups in the user's user namespace anyway).
  if (rootlessEuid() && opts.process.user?.additionalGids?.length) throw TsrunError.invalid('cannot set any additional groups in a rootless container');
  // runc looks for its own terminal before it starts anything, and fails without one.
  const host = terminal ? opts.hostTerminal?.() : undefined;
  const cgroups = cgroupManagerFromState(state.cgroup);
  const warnings: string[] = [];
  const plan = compileExecPlan({
    process: opts.process,
    namespaces: namespacesToJoin(state.pid, nsIdentity),
    cgroupProcs: opts.subCgroups?.length ? subCgroupProcs(cgroups.paths, opts.subCgroups) : cgroups.procsFiles(),
    preserveFds: opts.preserveFds,
    foreground: opts.detached === false,
    executorWaits: opts.executorWaits,
    home: containerHome(realHostView, state.rootfs, opts.process.user?.uid ?? 0),
    host: realHostView,
    seccomp: state.seccomp,
    container: { ociVersion: state.ociVersion, id: state.id, bundle: state.bundle, annotations: state.annotations, initPid: state.pid },
    warnings,
    console: !terminal ? undefined : opts.consoleSocket ? 'socket' : opts.detached === undefined ? 'master' : 'proxy', hostWindow: host?.windowSize(),
  });
  for (const w of warnings) log.debug(w);
  let pid = 0;
  let master: number | undefined;
  let run;
  try {
    ({ run, pid, master } = await startWithConsole(terminal, opts.consoleSocket, host,
      (socket) => runExecutor(plan, opts.preserveFds, {}, socket, opts.stdio), (p) => { pid = p; }));
  } catch (err) {
    if (pid > 0 && processAlive(pid)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      await waitForExit(pid, undefined, 5000);
    }
    host?.close();
    throw withLeftoverPid(err, pid);
  }
  faultPoint('exec:1');
  // The executor exits right after releasing the process: reap it rather than leave a zombie to init.
  const child = run.child;
  if (!run.exited && child.exitCode === null && child.signalCode === null) await new Promise((res) => child.once('exit', res));
  if (opts.pidFile) writePidFile(opts.pidFile, pid);
  log.debug(`exec in ${state.id}: process ${pid}`);
  return { pid, master, host: master !== undefined ? host : undefined, exited: run.exited };
}

/** The sub-cgroups must exist, as with runc (the executor fails to open a missing one). */
function subCgroupProcs(paths: Record<string, string>, args: string[]): string[] {
  const dirs = new Set(Object.values(joinSubCgroups(paths, parseSubCgroups(args))));
  return [...dirs].map((d) => `${d}/cgroup.procs`);
}
