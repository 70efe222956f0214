// containerd's task service (containerd.task.v2.Task and v3) over the runtime library: one
// TaskService serves every container of the shim's group, each through its own Container
// handle, so a container costs this process a few objects rather than a process of its own.
import { writeFileSync, readFileSync, unlinkSync, existsSync, copyFileSync, rmSync } from 'node:fs';
import { join, isAbsolute } from 'node:path';
import { Runtime, Container, ExecProcess, functionLogger, type ExitInfo, type ProcessSpec } from '../runtime/index.js';
import { errorKind } from '../runtime/errors.js';
import { updateFromJson } from '../runtime/cgroups/update.js';
import { loadState } from '../runtime/container/state.js';
import type { ContainerStats } from '../runtime/cgroups/stats.js';
import {
  task, events, runc_options, cgroups_v1, cgroups_v2, packAny, unpackAny, unpackJsonAny,
  timestampFromDate, GO_ZERO_TIME, type MessageType,
} from '../proto/index.js';
import { TtrpcError, Code, type CallContext } from './ttrpc/index.js';
import type { EventPublisher } from './events.js';
import { ProcessIO, type IoOwner } from './io.js';
import { runtimeOptions, joinShimCgroup, OptionsError } from './options.js';
import { checkpointTask } from './checkpoint.js';
import { mountRootfs, unmountRootfs } from './rootfs.js';
import { faultPoint } from '../runtime/fault.js';
import { cgroupMigrationWarmUpsInFlight, cgroupMigrationWarmUpsSettled } from '../runtime/cgroups/migration-warm.js';

const Status = { UNKNOWN: 0, CREATED: 1, RUNNING: 2, STOPPED: 3, PAUSED: 4, PAUSING: 5 } as const;

export interface ServiceOptions {
  /** the -namespace the daemon was started with: the default when a request carries none */
  namespace: string;
  publisher: Pick<EventPublisher, 'publish'> & Partial<Pick<EventPublisher, 'prepare'>>;
  /** the state root when the runtime options name none: `<defaultRoot>/<namespace>` */
  defaultRoot?: string;
  log?: (msg: string) => void;
  /** called once Shutdown found no container left */
  onShutdown?: () => void;
  /** every Shutdown: containerd is done with container `id` here (its task may never have been made) */
  onShutdownOf?: (id: string) => void;
  /** a Create is over: `created` when the task now exists */
  onCreateSettled?: (id: string, created: boolean) => void;
}

interface Deferred { promise: Promise<void>; resolve: () => void }
function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

class Proc {
  pid = 0;
  exit: ExitInfo | undefined;
  exited: Promise<ExitInfo> | undefined;
  /** TaskStart/TaskExecStarted went out (or never will): an exit may be published */
  readonly startGate = deferred();
  constructor(readonly id: string, readonly io: ProcessIO, readonly terminal: boolean, readonly stdio: { stdin: string; stdout: string; stderr: string }) {}
}

class ExecEntry extends Proc {
  process: ExecProcess | undefined;
  constructor(id: string, io: ProcessIO, terminal: boolean, stdio: Proc['stdio'], readonly spec: ProcessSpec) { super(id, io, terminal, stdio); }
}

/** A task created from a checkpoint: as with the runc shim, nothing runs until Start restores it. */
interface PendingRestore { runtime: Runtime; imagePath: string }

class Task extends Proc {
  readonly execs = new Map<string, ExecEntry>();
  restoreFrom: PendingRestore | undefined;
  /** containerd gave it up (release): nothing more is published of it */
  released = false;
  constructor(readonly namespace: string, id: string, readonly bundle: string, public container: Container, io: ProcessIO, terminal: boolean,
    stdio: Proc['stdio'], readonly rootfsMounted: boolean, readonly ioOwner: IoOwner) { super(id, io, terminal, stdio); }
}

/** A library error as a ttrpc status with containerd's code for its kind. */
function statusError(err: unknown, context = ''): unknown {
  if (err instanceof TtrpcError) return err;
  const message = context + (err instanceof Error ? err.message : String(err));
  switch (errorKind(err)) {
    case 'not-found': return new TtrpcError(Code.NotFound, message);
    case 'exists': return new TtrpcError(Code.AlreadyExists, message);
    case 'invalid': return new TtrpcError(Code.InvalidArgument, message);
    case 'precondition': return new TtrpcError(Code.FailedPrecondition, message);
    case 'unsupported': return new TtrpcError(Code.Unimplemented, message);
    default: return new TtrpcError(Code.Unknown, message);
  }
}

function exitTimestamp(exit: ExitInfo | undefined) {
  return exit ? timestampFromDate(exit.exitedAt) : GO_ZERO_TIME;
}

export class TaskService {
  private readonly tasks = new Map<string, Task>();
  private readonly runtimes = new Map<string, Runtime>();
  /** ids being created: a second Create of the same id is AlreadyExists at once */
  private readonly creating = new Set<string>();
  /** the shim_cgroup this process joined */
  private shimCgroup = '';
  private warmed = false;

  constructor(private readonly opts: ServiceOptions) {}

  get size(): number { return this.tasks.size + this.creating.size; }

  /**
   * containerd took this shim for dead (a connection it saw as closed: containerd 1.7 after 30 idle
   * minutes of a gRPC shim) and runs the `delete` action, which asks for this: the container goes as
   * after Kill(all, SIGKILL) and Delete, silently (containerd published its exit itself), and the
   * shim no longer counts it, since no Shutdown follows. False when the shim has no such task.
   */
  async release(id: string): Promise<boolean> {
    const t = this.tasks.get(id);
    if (!t) return false;
    t.released = true;
    t.startGate.resolve();
    await t.container.delete({ force: true }).catch((err) => { if (errorKind(err) !== 'not-found') throw statusError(err); });
    t.io.close();
    for (const e of t.execs.values()) e.io.close();
    if (t.rootfsMounted) unmountRootfs(join(t.bundle, 'rootfs'));
    this.tasks.delete(id);
    try { unlinkSync(join(t.bundle, 'options.json')); } catch { /* gone */ }
    this.opts.onShutdownOf?.(id);
    if (this.size === 0) this.opts.onShutdown?.();
    return true;
  }

  private runtime(root: string, systemdCgroup: boolean): Runtime {
    const key = `${systemdCgroup ? 1 : 0}:${root}`;
    let rt = this.runtimes.get(key);
    // The runtime's warnings (runc's, such as ambient capabilities it cannot raise) go to the shim's log.
    const logger = functionLogger((level, msg) => this.opts.log?.(`${level}: ${msg}`));
    if (!rt) this.runtimes.set(key, rt = new Runtime({ root, systemdCgroup, logger }));
    return rt;
  }

  private task(id: string): Task {
    const t = this.tasks.get(id);
    if (!t) throw new TtrpcError(Code.NotFound, `container ${id}: container not created`);
    return t;
  }

  private proc(id: string, execId: string): Task | ExecEntry {
    const t = this.task(id);
    if (!execId) return t;
    const e = t.execs.get(execId);
    if (!e) throw new TtrpcError(Code.NotFound, `process does not exist ${execId}`);
    return e;
  }

  private publish<I>(ns: string, topic: string, type: MessageType<unknown, I>, msg: I): void {
    this.opts.publisher.publish(ns, topic, type, msg);
  }

  /** Records an exit and publishes it, never before the process's start event. */
  private watch(t: Task, p: Proc, exited: Promise<ExitInfo>): void {
    p.exited = exited.then(async (info) => {
      await p.startGate.promise;
      p.exit = info;
      // Output written just before the exit reaches the client before containerd hears of it.
      await p.io.drain();
      if (!t.released) this.publish(t.namespace, '/tasks/exit', events.TaskExit, {
        container_id: t.id, id: p === t ? t.id : p.id, pid: p.pid, exit_status: info.exitStatus, exited_at: timestampFromDate(info.exitedAt),
      });
      return info;
    });
  }

  /**
   * /tasks/oom for each OOM of the task's cgroup, after its start event and before its exit
   * (armed before the start, so that an OOM during it is not missed).
   */
  private watchOom(t: Task): void {
    if (t.container.listenerCount('oom') > 0) return; // a Start tried again
    t.container.on('oom', () => {
      void t.startGate.promise.then(() => t.released || this.publish(t.namespace, '/tasks/oom', events.TaskOOM, { container_id: t.id }));
    });
    try {
      t.container.watchOom();
    } catch (err) {
      this.opts.log?.(`container ${t.id}: no OOM notification: ${(err as Error).message}`);
    }
  }

  /**
   * A new shim's first Create: what its end and the calls after it would do for the first time
   * (the reaper's set and thread pool, the events connection) is done while the executor makes
   * the container and this process has nothing else to do. setImmediate runs each step once the
   * Create has got to its first wait (the executor's answer); a step is a few ms at most.
   */
  private warmUp(rt: Runtime): void {
    if (this.warmed) return;
    this.warmed = true;
    setImmediate(() => {
      // a failure here is the Create's or the publisher's to meet and report, not the daemon's
      try { void rt.reaper.prepare(); } catch { /* koffi or epoll: watch() throws the same */ }
      setImmediate(() => void this.opts.publisher.prepare?.());
    });
  }

  /** Start of a task created from a checkpoint: the container is restored from its images, detached. */
  private async restoreTask(t: Task, r: PendingRestore): Promise<void> {
    const workPath = join(t.bundle, 'criu-work');
    try {
      t.container = await r.runtime.restore(t.id, t.bundle, {
        imagePath: r.imagePath, workPath, stdio: t.io.stdio(), pidFile: join(t.bundle, 'init.pid'),
      });
    } catch (err) {
      const log = join(t.bundle, 'criu-restore.log');
      try { copyFileSync(join(workPath, 'restore.log'), log); } catch { /* no log */ }
      throw new TtrpcError(Code.Unknown, `${(err as Error).message} path= ${log}`);
    } finally {
      rmSync(workPath, { recursive: true, force: true });
    }
    t.restoreFrom = undefined;
    t.pid = t.container.pid;
    t.io.afterStart(t.container.master);
    this.watch(t, t, t.container.wait());
  }

  readonly impl = {
    State: async (req: task.StateRequest): Promise<task.StateResponseInit> => {
      const t = this.task(req.id);
      const p = this.proc(req.id, req.exec_id);
      let status: number;
      if (p.exit) status = Status.STOPPED;
      else if (p === t && t.restoreFrom) status = Status.CREATED;
      else if (p === t) {
        const s = t.container.status();
        status = s === 'created' || s === 'creating' ? Status.CREATED : s === 'running' ? Status.RUNNING : s === 'paused' ? Status.PAUSED : Status.STOPPED;
      } else status = p.pid ? Status.RUNNING : Status.CREATED;
      return {
        id: p.id, bundle: t.bundle, pid: p.pid, status, stdin: p.stdio.stdin, stdout: p.stdio.stdout, stderr: p.stdio.stderr,
        terminal: p.terminal, exit_status: p.exit?.exitStatus ?? 0, exited_at: exitTimestamp(p.exit), exec_id: p === t ? '' : p.id,
      };
    },

    Create: async (req: task.CreateTaskRequest, ctx: CallContext): Promise<task.CreateTaskResponseInit> => {
      if (this.tasks.has(req.id) || this.creating.has(req.id)) throw new TtrpcError(Code.AlreadyExists, `container ${req.id}: already exists`);
      // Nothing is written or mounted anywhere but in a bundle (containerd's are absolute paths).
      if (!isAbsolute(req.bundle) || !existsSync(join(req.bundle, 'config.json'))) {
        throw new TtrpcError(Code.InvalidArgument, `bundle ${JSON.stringify(req.bundle)}: not an absolute path to a bundle with a config.json`);
      }
      const ns = ctx.namespace || this.opts.namespace;
      this.creating.add(req.id);
      let created = false;
      let mounted = false;
      let io: ProcessIO | undefined;
      try {
        const o = runtimeOptions(req.options, (msg) => this.opts.log?.(msg));
        if (o.binaryName) this.opts.log?.(`runtime option binary_name=${o.binaryName} ignored: the tsrun shim runs the runtime in-process`);
        if (o.shimCgroup && o.shimCgroup !== this.shimCgroup) {
          // a head-start write (runtime/cgroups/migration-warm.ts) done after the move would undo it
          while (cgroupMigrationWarmUpsInFlight() > 0) await cgroupMigrationWarmUpsSettled();
          joinShimCgroup(o.shimCgroup);
          this.shimCgroup = o.shimCgroup;
        }
        const root = join(o.root || this.opts.defaultRoot || '/run/containerd/tsrun', ns);
        // What the `delete` subcommand needs when this process is gone.
        writeFileSync(join(req.bundle, 'options.json'), JSON.stringify({ root, systemd_cgroup: o.systemdCgroup }));
        if (req.rootfs.length > 0) {
          mountRootfs(req.rootfs, join(req.bundle, 'rootfs'));
          mounted = true;
        }
        faultPoint('shim-create:1');
        const owner = { uid: o.ioUid, gid: o.ioGid };
        io = await ProcessIO.open({ stdin: req.stdin, stdout: req.stdout, stderr: req.stderr }, req.terminal, { id: req.id, namespace: ns }, owner);
        const rt = this.runtime(root, o.systemdCgroup);
        this.warmUp(rt);
        // From a checkpoint, as the runc shim does: nothing is made before Start restores it.
        const container = req.checkpoint ? rt.container(req.id) : await rt.create(req.id, req.bundle, {
          stdio: io.stdio(), noPivot: o.noPivotRoot, noNewKeyring: o.noNewKeyring, pidFile: join(req.bundle, 'init.pid'),
        });
        if (!req.checkpoint) io.afterStart(container.master);
        const t = new Task(ns, req.id, req.bundle, container, io, req.terminal, { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr }, mounted, owner);
        if (req.checkpoint) t.restoreFrom = { runtime: rt, imagePath: req.checkpoint };
        else t.pid = container.pid;
        this.tasks.set(req.id, t);
        faultPoint('shim-create:2');
        if (!req.checkpoint) this.watch(t, t, container.wait());
        this.publish(ns, '/tasks/create', events.TaskCreate, {
          container_id: req.id, bundle: req.bundle, rootfs: req.rootfs,
          io: { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal }, checkpoint: req.checkpoint, pid: t.pid,
        });
        created = true;
        return { pid: t.pid };
      } catch (err) {
        io?.close();
        if (err instanceof OptionsError) err = new TtrpcError(Code.InvalidArgument, err.message);
        if (mounted) unmountRootfs(join(req.bundle, 'rootfs'));
        // Worded as the runc shim words a failed `runc create` (Docker and kubelet show it to users), here with tsrun.
        throw statusError(err, 'OCI runtime create failed: tsrun create failed: ');
      } finally {
        this.creating.delete(req.id);
        this.opts.onCreateSettled?.(req.id, created);
      }
    },

    Start: async (req: task.StartRequest): Promise<task.StartResponseInit> => {
      const t = this.task(req.id);
      const p = this.proc(req.id, req.exec_id);
      try {
        if (p === t && t.restoreFrom) {
          await this.restoreTask(t, t.restoreFrom);
          this.watchOom(t);
          this.publish(t.namespace, '/tasks/start', events.TaskStart, { container_id: t.id, pid: t.pid });
          t.startGate.resolve();
          return { pid: t.pid };
        }
        if (p === t) {
          this.watchOom(t);
          await t.container.start();
          faultPoint('shim-start:1');
          this.publish(t.namespace, '/tasks/start', events.TaskStart, { container_id: t.id, pid: t.pid });
          t.startGate.resolve();
          return { pid: t.pid };
        }
        const e = p as ExecEntry;
        if (e.process) throw new TtrpcError(Code.FailedPrecondition, `process ${e.id} already started`);
        let proc;
        try {
          proc = await t.container.exec(e.spec, { stdio: e.io.stdio(), pidFile: join(t.bundle, `${e.id}.pid`) });
        } catch (err) {
          // Its FIFOs closed, as the runc shim closes a failed exec's: the client's copies see EOF (docker exec hung).
          e.io.close();
          throw statusError(err, 'OCI runtime exec failed: exec failed: ');
        }
        e.process = proc;
        e.pid = proc.pid;
        e.io.afterStart(proc.master);
        this.watch(t, e, proc.wait());
        this.publish(t.namespace, '/tasks/exec-started', events.TaskExecStarted, { container_id: t.id, exec_id: e.id, pid: e.pid });
        e.startGate.resolve();
        return { pid: e.pid };
      } catch (err) {
        p.startGate.resolve();
        throw statusError(err);
      }
    },

    Delete: async (req: task.DeleteRequest): Promise<task.DeleteResponseInit> => {
      const t = this.task(req.id);
      const p = this.proc(req.id, req.exec_id);
      if (p !== t) {
        const e = p as ExecEntry;
        if (e.process && !e.exit) throw new TtrpcError(Code.FailedPrecondition, `cannot delete a running process ${e.id}`);
        t.execs.delete(e.id);
        e.io.close();
        return { pid: e.pid, exit_status: e.exit?.exitStatus ?? 0, exited_at: exitTimestamp(e.exit) };
      }
      try {
        const status = t.container.status();
        if (status !== 'stopped' && status !== 'created') throw new TtrpcError(Code.FailedPrecondition, `cannot delete running task ${t.id}`);
        // A created container never started: delete kills its init, whose exit follows.
        t.startGate.resolve();
        // As the runc shim: a checkpoint with exit has deleted the container already.
        await t.container.delete({ force: status === 'created' }).catch((err) => { if (errorKind(err) !== 'not-found') throw err; });
        faultPoint('shim-delete:1');
        // A checkpoint never restored has no process: it ends as the runc shim's does, status 0.
        const exit = t.exited ? await t.exited : { exitStatus: 0, signal: 0, exitedAt: new Date() };
        t.io.close();
        for (const e of t.execs.values()) e.io.close();
        if (t.rootfsMounted) unmountRootfs(join(t.bundle, 'rootfs'));
        this.tasks.delete(t.id);
        // The `delete` subcommand that follows answers at once when this is gone (the launcher checks).
        try { unlinkSync(join(t.bundle, 'options.json')); } catch { /* gone */ }
        this.publish(t.namespace, '/tasks/delete', events.TaskDelete, {
          container_id: t.id, pid: t.pid, exit_status: exit.exitStatus, exited_at: timestampFromDate(exit.exitedAt),
        });
        return { pid: t.pid, exit_status: exit.exitStatus, exited_at: timestampFromDate(exit.exitedAt) };
      } catch (err) {
        throw statusError(err);
      }
    },

    Pids: async (req: task.PidsRequest): Promise<task.PidsResponseInit> => {
      const t = this.task(req.id);
      const execByPid = new Map<number, string>();
      for (const e of t.execs.values()) if (e.pid && !e.exit) execByPid.set(e.pid, e.id);
      try {
        return {
          processes: t.container.pids().map((pid) => {
            const execId = execByPid.get(pid);
            return execId ? { pid, info: packAny(runc_options.ProcessDetails, { exec_id: execId }) } : { pid };
          }),
        };
      } catch (err) { throw statusError(err); }
    },

    Pause: async (req: task.PauseRequest): Promise<void> => {
      const t = this.task(req.id);
      try { await t.container.pause(); } catch (err) { throw statusError(err); }
      this.publish(t.namespace, '/tasks/paused', events.TaskPaused, { container_id: t.id });
    },

    Resume: async (req: task.ResumeRequest): Promise<void> => {
      const t = this.task(req.id);
      try { await t.container.resume(); } catch (err) { throw statusError(err); }
      this.publish(t.namespace, '/tasks/resumed', events.TaskResumed, { container_id: t.id });
    },

    Checkpoint: async (req: task.CheckpointTaskRequest): Promise<void> => {
      const t = this.task(req.id);
      await checkpointTask(t.container, t.bundle, req.path, unpackAny(req.options, runc_options.CheckpointOptions));
    },

    Kill: async (req: task.KillRequest): Promise<void> => {
      const t = this.task(req.id);
      const p = this.proc(req.id, req.exec_id);
      if (p.exit && !(p === t && req.all)) throw new TtrpcError(Code.NotFound, 'process already finished');
      try {
        if (p === t) await t.container.kill(req.signal, { all: req.all });
        else {
          const e = p as ExecEntry;
          if (!e.process) throw new TtrpcError(Code.FailedPrecondition, `process ${e.id} not started`);
          e.process.kill(req.signal);
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ESRCH') throw new TtrpcError(Code.NotFound, 'process already finished');
        throw statusError(err);
      }
    },

    Exec: async (req: task.ExecProcessRequest): Promise<void> => {
      const t = this.task(req.id);
      if (t.execs.has(req.exec_id)) throw new TtrpcError(Code.AlreadyExists, `id ${req.exec_id}: already exists`);
      if (t.exit) throw new TtrpcError(Code.FailedPrecondition, `container ${t.id} is stopped`);
      if (!req.spec) throw new TtrpcError(Code.InvalidArgument, 'exec: no process spec');
      let spec: ProcessSpec;
      try { spec = unpackJsonAny(req.spec) as ProcessSpec; } catch (err) { throw new TtrpcError(Code.InvalidArgument, `exec spec: ${(err as Error).message}`); }
      let io: ProcessIO;
      try { io = await ProcessIO.open({ stdin: req.stdin, stdout: req.stdout, stderr: req.stderr }, req.terminal, { id: t.id, namespace: t.namespace }, t.ioOwner); } catch (err) { throw statusError(err); }
      t.execs.set(req.exec_id, new ExecEntry(req.exec_id, io, req.terminal, { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr }, spec));
      this.publish(t.namespace, '/tasks/exec-added', events.TaskExecAdded, { container_id: t.id, exec_id: req.exec_id });
    },

    ResizePty: async (req: task.ResizePtyRequest): Promise<void> => {
      const t = this.task(req.id);
      const p = this.proc(req.id, req.exec_id);
      try {
        if (p === t) t.container.resize(req.width, req.height);
        else if ((p as ExecEntry).process) (p as ExecEntry).process!.resize(req.width, req.height);
      } catch (err) { throw statusError(err); }
    },

    CloseIO: async (req: task.CloseIORequest): Promise<void> => {
      const p = this.proc(req.id, req.exec_id);
      if (req.stdin) p.io.closeStdin();
    },

    Update: async (req: task.UpdateTaskRequest): Promise<void> => {
      const t = this.task(req.id);
      if (!req.resources) throw new TtrpcError(Code.InvalidArgument, 'update: no resources');
      try {
        await t.container.update(updateFromJson(JSON.stringify(unpackJsonAny(req.resources))));
      } catch (err) { throw statusError(err); }
    },

    Wait: async (req: task.WaitRequest, ctx: CallContext): Promise<task.WaitResponseInit> => {
      const p = this.proc(req.id, req.exec_id);
      if (!p.exited) {
        // An exec not started yet: wait for its Start, as the runc shim does.
        while (!p.exited) {
          await new Promise((r) => setTimeout(r, 50));
          if (ctx.signal.aborted) throw ctx.signal.reason;
        }
      }
      const exit = await Promise.race([p.exited, new Promise<never>((_, rej) => ctx.signal.addEventListener('abort', () => rej(ctx.signal.reason), { once: true }))]);
      return { exit_status: exit.exitStatus, exited_at: timestampFromDate(exit.exitedAt) };
    },

    Stats: async (req: task.StatsRequest): Promise<task.StatsResponseInit> => {
      const t = this.task(req.id);
      try {
        const stats = t.container.stats() as ContainerStats;
        const cg = (loadState(t.container['runtime'].root, t.id).cgroup as { version?: number } | undefined);
        return { stats: cg?.version === 2 ? packAny(cgroups_v2.Metrics, metricsV2(stats)) : packAny(cgroups_v1.Metrics, metricsV1(stats)) };
      } catch (err) { throw statusError(err); }
    },

    Connect: async (req: task.ConnectRequest): Promise<task.ConnectResponseInit> => {
      const t = this.tasks.get(req.id);
      return { shim_pid: process.pid, task_pid: t?.pid ?? 0, version: '' };
    },

    Shutdown: async (req: task.ShutdownRequest): Promise<void> => {
      if (!this.tasks.has(req.id) && !this.creating.has(req.id)) this.opts.onShutdownOf?.(req.id);
      if (this.size === 0) setImmediate(() => this.opts.onShutdown?.());
    },
  };
}

function metricsV1(s: ContainerStats): cgroups_v1.MetricsInit {
  const raw = (k: string) => s.memory.raw.get(k) ?? 0n;
  const blk = (k: keyof ContainerStats['blkio']) => (s.blkio[k] ?? []).map((e) => ({ op: e.op, major: e.major, minor: e.minor, value: e.value }));
  return {
    pids: { current: s.pids.current, limit: s.pids.limit },
    cpu: {
      usage: { total: s.cpu.usage.total, kernel: s.cpu.usage.kernel, user: s.cpu.usage.user, per_cpu: s.cpu.usage.percpu },
      throttling: { periods: s.cpu.throttling.periods, throttled_periods: s.cpu.throttling.throttledPeriods, throttled_time: s.cpu.throttling.throttledTime },
    },
    memory: {
      cache: s.memory.cache, rss: raw('rss'), rss_huge: raw('rss_huge'), mapped_file: raw('mapped_file'), dirty: raw('dirty'),
      writeback: raw('writeback'), pg_pg_in: raw('pgpgin'), pg_pg_out: raw('pgpgout'), pg_fault: raw('pgfault'), pg_maj_fault: raw('pgmajfault'),
      inactive_anon: raw('inactive_anon'), active_anon: raw('active_anon'), inactive_file: raw('inactive_file'), active_file: raw('active_file'),
      unevictable: raw('unevictable'), hierarchical_memory_limit: raw('hierarchical_memory_limit'), hierarchical_swap_limit: raw('hierarchical_memsw_limit'),
      total_cache: raw('total_cache'), total_rss: raw('total_rss'), total_rss_huge: raw('total_rss_huge'), total_mapped_file: raw('total_mapped_file'),
      total_dirty: raw('total_dirty'), total_writeback: raw('total_writeback'), total_pg_pg_in: raw('total_pgpgin'), total_pg_pg_out: raw('total_pgpgout'),
      total_pg_fault: raw('total_pgfault'), total_pg_maj_fault: raw('total_pgmajfault'), total_inactive_anon: raw('total_inactive_anon'),
      total_active_anon: raw('total_active_anon'), total_inactive_file: raw('total_inactive_file'), total_active_file: raw('total_active_file'),
      total_unevictable: raw('total_unevictable'),
      usage: s.memory.usage, swap: s.memory.swap, kernel: s.memory.kernel, kernel_tcp: s.memory.kernelTCP,
    },
    blkio: {
      io_service_bytes_recursive: blk('ioServiceBytesRecursive'), io_serviced_recursive: blk('ioServicedRecursive'),
      io_queued_recursive: blk('ioQueueRecursive'), io_service_time_recursive: blk('ioServiceTimeRecursive'),
      io_wait_time_recursive: blk('ioWaitTimeRecursive'), io_merged_recursive: blk('ioMergedRecursive'),
      io_time_recursive: blk('ioTimeRecursive'), sectors_recursive: blk('sectorsRecursive'),
    },
    hugetlb: [...s.hugetlb].map(([pagesize, h]) => ({ pagesize, usage: h.usage, max: h.max, failcnt: h.failcnt })),
  };
}

function metricsV2(s: ContainerStats): cgroups_v2.MetricsInit {
  const raw = (k: string) => s.memory.raw.get(k) ?? 0n;
  return {
    pids: { current: s.pids.current, limit: s.pids.limit },
    cpu: {
      usage_usec: s.cpu.usage.total / 1000n, user_usec: s.cpu.usage.user / 1000n, system_usec: s.cpu.usage.kernel / 1000n,
      nr_periods: s.cpu.throttling.periods, nr_throttled: s.cpu.throttling.throttledPeriods, throttled_usec: s.cpu.throttling.throttledTime / 1000n,
    },
    memory: {
      anon: raw('anon'), file: raw('file'), kernel_stack: raw('kernel_stack'), slab: raw('slab'), sock: raw('sock'), shmem: raw('shmem'),
      file_mapped: raw('file_mapped'), file_dirty: raw('file_dirty'), file_writeback: raw('file_writeback'), anon_thp: raw('anon_thp'),
      inactive_anon: raw('inactive_anon'), active_anon: raw('active_anon'), inactive_file: raw('inactive_file'), active_file: raw('active_file'),
      unevictable: raw('unevictable'), slab_reclaimable: raw('slab_reclaimable'), slab_unreclaimable: raw('slab_unreclaimable'),
      pgfault: raw('pgfault'), pgmajfault: raw('pgmajfault'),
      usage: s.memory.usage.usage, usage_limit: s.memory.usage.limit, swap_usage: s.memory.swap.usage, swap_limit: s.memory.swap.limit,
      max_usage: s.memory.usage.max, swap_max_usage: s.memory.swap.max,
    },
    hugetlb: [...s.hugetlb].map(([pagesize, h]) => ({ pagesize, current: h.usage, max: h.max })),
  };
}

/** For the `delete` subcommand: the runtime a shim that is gone used for this bundle. */
export function savedRuntimeOptions(bundle: string): { root: string; systemdCgroup: boolean } | undefined {
  try {
    const o = JSON.parse(readFileSync(join(bundle, 'options.json'), 'utf8'));
    return typeof o.root === 'string' ? { root: o.root, systemdCgroup: !!o.systemd_cgroup } : undefined;
  } catch { return undefined; }
}
