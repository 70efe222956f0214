// The runtime as a library: a Runtime owns the containers under one state root and one reaper;
// a Container is a handle on one of them. The CLI and the containerd shim are front ends over
// these two classes. Nothing here exits the process, installs a signal handler or touches the
// caller's terminal: those are the CLI's (runtime/cli/foreground.ts).
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { TsrunError } from './errors.js';
import { parseSignal } from './signals.js';
import { Reaper, type ExitInfo } from './reaper.js';
import { createContainer, type CreateOptions as InternalCreateOptions } from './container/create.js';
import { startContainer } from './container/start.js';
import { killContainer } from './container/kill.js';
import { deleteContainer } from './container/delete.js';
import { setPaused } from './container/pause.js';
import { updateContainer, type RdtRequest } from './container/update.js';
import type { UpdateRequest } from './cgroups/update.js';
import { execTarget, containerProcess, spawnExec } from './container/exec.js';
import { loadState, type ContainerState } from './container/state.js';
import { containerEvents, type EventsOptions } from './container/events.js';
import { containerStatus, listContainers, ociState, type Status } from './container/status.js';
import { cgroupManagerFromState } from './cgroups/index.js';
import { cgroupStats } from './cgroups/stats.js';
import { subscribeOom, type OomSubscription } from './cgroups/oom-watch.js';
import type { StdioSpec } from './container/executor.js';
import type { HostTerminal } from './container/console.js';
import type { Process as ProcessSpec } from './plan/exec-plan.js';
import { terminalSyscalls } from './sys/terminal.js';
import { withContext, type RuntimeContext } from './context.js';
import { rootlessCgroups } from './rootless.js';
import { SharedSystemdBus } from './cgroups/systemd.js';
import type { Logger } from './log.js';
import { checkpointContainer, type CheckpointOptions } from './container/checkpoint.js';
import { restoreContainer, type RestoreOptions as InternalRestoreOptions } from './container/restore.js';

export type { ExitInfo } from './reaper.js';
export type { Status } from './container/status.js';
export type { StdioSpec } from './container/executor.js';
export type { HostTerminal } from './container/console.js';
export type { Logger, LogConfig, LogLevel } from './log.js';
export type { ProcessSpec };

export interface RuntimeOptions {
  /** the state directory (runc's --root) */
  root: string;
  /** the systemd cgroup driver (runc's --systemd-cgroup) */
  systemdCgroup?: boolean;
  /**
   * runc's --rootless: true tolerates cgroups the caller may not make when no limit needs them;
   * 'auto' (the default) is true for a caller that is not root or runs in a user namespace.
   */
  rootless?: boolean | 'auto';
  /** the tsrun-executor binary (default: the one built beside the library) */
  executorPath?: string;
  /** where warnings and debug lines go (default: runc's text lines on stderr) */
  logger?: Logger;
  /**
   * Whether the Runtime watches its processes' exits (default true): Container.wait() and
   * ExecProcess.wait() need it. A caller that waits itself (the CLI's foreground commands) turns
   * it off and so never loads the reaper.
   */
  reapExits?: boolean;
}

/** The container's or process's fds 0-2: an fd of the caller's, the caller's own, or /dev/null. */
export interface Stdio { stdin?: StdioSpec; stdout?: StdioSpec; stderr?: StdioSpec }

/**
 * Where the pty's master goes when the process has a terminal: to the caller (Container.master,
 * ExecProcess.master) unless consoleSocket names a socket for it.
 */
interface TerminalOptions {
  consoleSocket?: string;
  /**
   * runc's rules for a command line (`-d` against --console-socket): true for a detached
   * command, which needs a console socket for a terminal; false for a foreground one, which
   * must not have one. Left out: no such rule.
   */
  detached?: boolean;
  /** a foreground caller's own terminal, asked for only when the process has a terminal (Container.host) */
  hostTerminal?: () => HostTerminal;
  /**
   * The executor stays the process's parent (a child subreaper) and reports its exit to wait():
   * no reaper, so no koffi, and the caller need not be a subreaper. A foreground command's way.
   */
  executorWaits?: boolean;
}

export interface CreateOptions extends TerminalOptions {
  stdio?: Stdio;
  pidFile?: string;
  preserveFds?: number;
  noPivot?: boolean;
  noNewKeyring?: boolean;
}

export interface ExecOptions extends TerminalOptions {
  stdio?: Stdio;
  pidFile?: string;
  preserveFds?: number;
  /** exec in a paused container (the process runs once it is resumed) */
  ignorePaused?: boolean;
  /** runc's exec --cgroup: sub-cgroups of the container's to run the process in */
  subCgroups?: string[];
}

export type { CheckpointOptions } from './container/checkpoint.js';

/** Restore from CRIU images (runc restore's options; the container is always detached). */
export type RestoreOptions = Omit<InternalRestoreOptions, 'root' | 'id' | 'bundle' | 'foreground' | 'stdio' | 'keepMaster' | 'systemdCgroup'> & {
  stdio?: Stdio;
  /** the CLI's terminal rules, as CreateOptions.detached; left out, the caller takes the pty master */
  detached?: boolean;
};

export interface ContainerEvents {
  exit: [ExitInfo];
  /** the container's memory cgroup hit its limit (after watchOom(); always before the init's exit) */
  oom: [];
  /** pause() and resume() through this handle succeeded */
  paused: [];
  resumed: [];
}

function stdioList(s: Stdio | undefined): StdioSpec[] | undefined {
  return s ? [s.stdin ?? 'inherit', s.stdout ?? 'inherit', s.stderr ?? 'inherit'] : undefined;
}

export class Runtime {
  readonly root: string;
  readonly systemdCgroup: boolean;
  /** whether cgroups the caller may not make are tolerated (RuntimeOptions.rootless, resolved) */
  readonly rootless: boolean;
  readonly reapExits: boolean;
  private readonly context: RuntimeContext;
  private readonly systemdBus: SharedSystemdBus | undefined;
  private reaperInstance: Reaper | undefined;

  constructor(opts: RuntimeOptions) {
    this.root = resolve(opts.root);
    this.systemdCgroup = !!opts.systemdCgroup;
    const rootless = opts.rootless ?? 'auto';
    this.rootless = rootlessCgroups(typeof rootless === 'boolean' ? String(rootless) : rootless, this.systemdCgroup);
    this.reapExits = opts.reapExits ?? true;
    // A systemd connection is kept for the Runtime's life: a shim does not dial systemd per container.
    this.systemdBus = this.systemdCgroup ? new SharedSystemdBus() : undefined;
    this.context = { logger: opts.logger, executorPath: opts.executorPath, systemdBus: this.systemdBus?.get };
  }

  /** Runs fn in this Runtime's context (its logger, its executor): every operation does. */
  run<T>(fn: () => T): T {
    return withContext(this.context, fn);
  }

  /** One reaper for every process this runtime starts, made on first use (it loads koffi). */
  get reaper(): Reaper {
    if (!this.reapExits) throw TsrunError.unsupported('this Runtime does not watch exits (reapExits: false)');
    return (this.reaperInstance ??= new Reaper());
  }

  /**
   * Creates a container from the bundle; its process waits for start(). The exit of its init
   * is watched from the moment it exists: the caller must be its parent or a child subreaper
   * (PR_SET_CHILD_SUBREAPER) for the exit status to be known.
   */
  async create(id: string, bundle: string, opts: CreateOptions = {}): Promise<Container> {
    const internal: InternalCreateOptions = {
      root: this.root, id, bundle: resolve(bundle), pidFile: opts.pidFile, consoleSocket: opts.consoleSocket,
      noPivot: !!opts.noPivot, noNewKeyring: !!opts.noNewKeyring, preserveFds: opts.preserveFds ?? 0,
      systemdCgroup: this.systemdCgroup, rootless: this.rootless, detached: opts.detached, hostTerminal: opts.hostTerminal,
      stdio: stdioList(opts.stdio), executorWaits: opts.executorWaits,
    };
    const created = await this.run(() => createContainer(internal)).catch((err) => { throw this.reapLeftover(err); });
    const container = new Container(this, id, created.state, created.master, created.host, true);
    if (created.exited) container.watchExit(created.exited);
    else if (this.reapExits) container.watchExit();
    return container;
  }

  /**
   * Restores a container checkpointed into opts.imagePath, as `id`, from the bundle (the same or
   * a copy). The restored init is this process's child. A terminal's master is the Container's
   * `master` unless opts.consoleSocket takes it.
   */
  async restore(id: string, bundle: string, opts: RestoreOptions = {}): Promise<Container> {
    const { detached, ...rest } = opts;
    const restored = await this.run(() => restoreContainer({
      ...rest, root: this.root, id, bundle: resolve(bundle), foreground: detached === false, stdio: stdioList(opts.stdio),
      keepMaster: detached === undefined && !opts.consoleSocket, systemdCgroup: this.systemdCgroup,
    }));
    const container = new Container(this, id, restored.state, restored.master);
    if (this.reapExits) container.watchExit();
    return container;
  }

  /** A container created earlier (by this process or another); not-found when there is none. */
  load(id: string): Container {
    return new Container(this, id, this.run(() => loadState(this.root, id)));
  }

  /** A handle on `id` without reading its state: for delete, which also cleans up half-made ones. */
  container(id: string): Container {
    return new Container(this, id);
  }

  /** Every container under the root, with its OCI state and the uid that owns its state dir. */
  list(): Array<Record<string, unknown> & { id: string; status: Status; ownerUid: number }> {
    return listContainers(this.root);
  }

  /** @internal reaps a process a failed create or exec left behind (see withLeftoverPid) */
  reapLeftover(err: unknown): unknown {
    const pid = (err as { leftoverPid?: number } | undefined)?.leftoverPid;
    if (pid && this.reapExits) this.reaper.watch(pid).catch(() => undefined);
    return err;
  }

  /** Stops watching exits and closes the systemd connection; the containers keep running. */
  close(): void {
    this.reaperInstance?.close();
    this.systemdBus?.close();
  }
}

export class Container extends EventEmitter<ContainerEvents> {
  private exited: Promise<ExitInfo> | undefined;
  private oomSub: OomSubscription | undefined;
  private reaped = false;

  /**
   * master: the pty's master when the init has a terminal and no console socket was given;
   * host: the caller's own terminal that goes with it (CreateOptions.hostTerminal).
   */
  constructor(private readonly runtime: Runtime, readonly id: string, private stateRecord?: ContainerState,
    readonly master?: number, readonly host?: HostTerminal, private readonly createdHere = false) {
    super();
  }

  private get saved(): ContainerState { return this.stateRecord ?? this.reload(); }
  /** the init's host pid */
  get pid(): number { return this.saved.pid; }
  get bundle(): string { return this.saved.bundle; }

  private reload(): ContainerState {
    this.stateRecord = loadState(this.runtime.root, this.id);
    return this.stateRecord;
  }

  status(): Status {
    try {
      return containerStatus(this.runtime.root, this.reload());
    } catch (err) {
      if (err instanceof TsrunError && err.kind === 'not-found') return 'stopped';
      throw err;
    }
  }

  /** The OCI state document, as `tsrun state` prints it. */
  state(): Record<string, unknown> {
    const s = this.reload();
    return ociState(s, containerStatus(this.runtime.root, s));
  }

  /** @internal begins watching the init's exit (create does it at once), from the executor's report if given */
  watchExit(reported?: Promise<ExitInfo>): Promise<ExitInfo> {
    if (!this.exited) {
      this.exited = reported ?? this.runtime.reaper.watch(this.pid);
      this.exited.then((info) => {
        // The OOM that killed the init is told before its exit.
        this.reaped = true;
        this.oomSub?.check();
        this.oomSub?.close();
        this.emit('exit', info);
      }, () => undefined);
    }
    return this.exited;
  }

  /** Emits 'oom' for every OOM in the container's memory cgroup until its init exits. */
  watchOom(): void {
    if (this.oomSub || this.reaped) return;
    const s = this.reload();
    if (!s.cgroup) throw TsrunError.precondition(`container with id ${this.id} has no cgroup`);
    this.oomSub = subscribeOom(cgroupManagerFromState(s.cgroup), () => this.emit('oom'));
  }

  async start(): Promise<void> {
    // A container this handle created reports an init that already died as runc's Run does.
    await this.runtime.run(() => startContainer(this.runtime.root, this.id, this.createdHere));
  }

  /** The init's exit. */
  wait(): Promise<ExitInfo> {
    return this.watchExit();
  }

  async kill(signal: number | string = 'SIGTERM', opts: { all?: boolean } = {}): Promise<void> {
    const number = typeof signal === 'number' ? signal : parseSignal(signal);
    await this.runtime.run(() => killContainer(this.runtime.root, this.id, number, !!opts.all));
  }

  async pause(): Promise<void> {
    await this.runtime.run(() => setPaused(this.runtime.root, this.id, true));
    this.emit('paused');
  }

  async resume(): Promise<void> {
    await this.runtime.run(() => setPaused(this.runtime.root, this.id, false));
    this.emit('resumed');
  }

  /** New limits; `rdt` carries runc's Intel RDT schemata (refused: tsrun has no resctrl support). */
  async update(resources: UpdateRequest, rdt?: RdtRequest): Promise<void> {
    await this.runtime.run(() => updateContainer(this.runtime.root, this.id, resources, rdt));
  }

  /** The container's events (`tsrun events`): stats every interval, OOMs, until it stops. */
  async events(opts: EventsOptions): Promise<void> {
    await this.runtime.run(() => containerEvents(this.runtime.root, this.id, opts));
  }

  /** The cgroup statistics, in the shape `tsrun events --stats` prints. */
  stats(): unknown {
    const s = this.reload();
    if (!s.cgroup) throw TsrunError.precondition(`container with id ${this.id} has no cgroup`);
    return cgroupStats(cgroupManagerFromState(s.cgroup));
  }

  /** The host pids of every process in the container's cgroup. */
  pids(): number[] {
    const s = this.reload();
    if (containerStatus(this.runtime.root, s) === 'stopped' || !s.cgroup) return [];
    return cgroupManagerFromState(s.cgroup).pids();
  }

  /** Sets the window size of the container's terminal (when this handle holds its master). */
  resize(cols: number, rows: number): void {
    if (this.master === undefined) throw TsrunError.precondition(`container ${this.id} has no terminal of ours`);
    terminalSyscalls().setWindowSize(this.master, { rows, cols });
  }

  /**
   * Starts a process in the container. `process` is a config.json process object, or a function
   * that makes one from the container's own process (called once the container is known to
   * accept an exec, as runc checks the state before it reads its --process file).
   */
  async exec(process: ProcessSpec | ((base: ProcessSpec | undefined) => ProcessSpec), opts: ExecOptions = {}): Promise<ExecProcess> {
    return this.runtime.run(async () => {
      const state = execTarget(this.runtime.root, this.id, !!opts.ignorePaused);
      const spec = typeof process === 'function' ? process(containerProcess(state)) : process;
      const started = await spawnExec(state, {
        root: this.runtime.root, id: this.id, process: spec, pidFile: opts.pidFile, preserveFds: opts.preserveFds ?? 0,
        ignorePaused: !!opts.ignorePaused, consoleSocket: opts.consoleSocket, stdio: stdioList(opts.stdio),
        detached: opts.detached, hostTerminal: opts.hostTerminal, subCgroups: opts.subCgroups, executorWaits: opts.executorWaits,
      }).catch((err) => { throw this.runtime.reapLeftover(err); });
      const exited = started.exited ?? (this.runtime.reapExits ? this.runtime.reaper.watch(started.pid) : undefined);
      return new ExecProcess(started.pid, exited, started.master, started.host);
    });
  }

  /** The process config.json gave the container (a base for exec). */
  process(): ProcessSpec | undefined {
    return containerProcess(this.reload());
  }

  /**
   * Dumps the running container with CRIU into opts.imagePath; unless opts.leaveRunning or
   * opts.preDump, the container is deleted after (its processes are gone).
   */
  async checkpoint(opts: CheckpointOptions = {}): Promise<void> {
    await this.runtime.run(() => checkpointContainer(this.runtime.root, this.id, opts));
  }

  async delete(opts: { force?: boolean } = {}): Promise<void> {
    await this.runtime.run(() => deleteContainer(this.runtime.root, this.id, !!opts.force));
  }
}

/** A process started by Container.exec. */
export class ExecProcess {
  constructor(readonly pid: number, private readonly exited: Promise<ExitInfo> | undefined,
    readonly master?: number, readonly host?: HostTerminal) {}

  wait(): Promise<ExitInfo> {
    return this.exited ?? Promise.reject(TsrunError.unsupported('this Runtime does not watch exits (reapExits: false)'));
  }

  kill(signal: number | string = 'SIGTERM'): void {
    process.kill(this.pid, typeof signal === 'number' ? signal : parseSignal(signal));
  }

  resize(cols: number, rows: number): void {
    if (this.master === undefined) throw TsrunError.precondition(`process ${this.pid} has no terminal of ours`);
    terminalSyscalls().setWindowSize(this.master, { rows, cols });
  }
}
