import { childProcess } from '../lazy-modules.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { TsrunError } from '../errors.js';
import { encodeMessage, encodePlan } from '../plan/encode.js';
import { ModeFlag, Msg, Tag, type PlanRecord } from '../plan/records.js';
import type { ExitInfo } from '../reaper.js';
import { executorExit, type ExecutorChild } from './executor-wait.js';
import { spawnProcess, uvAvailable, UvPipe, type UvStdio } from './uv.js';
import { mark } from '../timing.js';
import { warmCgroupMigration } from '../cgroups/migration-warm.js';
import { log } from '../log.js';
import { currentContext } from '../context.js';
import { procStat } from './proc.js';
import { executorFaultEnv } from '../fault.js';

/** Where the static C executor lives: the Runtime's choice, next to the bundle, or TSRUN_EXECUTOR for development. */
export function executorPath(): string {
  const chosen = currentContext()?.executorPath;
  if (chosen) return chosen;
  if (process.env.TSRUN_EXECUTOR) return process.env.TSRUN_EXECUTOR;
  // __dirname is the bundle's real directory (Node resolves the symlink an installed
  // bin/tsrun is), where `make` and `make install` put the executor.
  const beside = join(__dirname, 'tsrun-executor');
  if (existsSync(beside)) return beside;
  const fromSource = join(__dirname, '..', 'native', 'tsrun-executor');
  return existsSync(fromSource) ? fromSource : beside;
}

/** The end of the console socket that the executor gets. */
export type ConsoleSocket = Socket | number;

export interface ExecutorEvents {
  /** a hook barrier: resolve to let the container continue */
  onHookPoint?: (point: number, pid: number) => Promise<void>;
}

/**
 * A process the executor made that failed before READY is left to whoever reaps the caller's
 * orphans. Its pid rides on the error, so that a long-running caller (the library's reaper)
 * can reap it: an unreaped one in a container's pid namespace would keep that namespace's init
 * from ever finishing its exit (the kernel waits for every process of the namespace).
 */
export function withLeftoverPid(err: unknown, pid: number): unknown {
  if (pid > 0 && err && typeof err === 'object') (err as { leftoverPid?: number }).leftoverPid = pid;
  return err;
}

/** One of the container's fds 0-2: an fd of ours, ours as they are, or /dev/null. */
export type StdioSpec = number | 'inherit' | 'ignore';

export type { ExecutorChild } from './executor-wait.js';

export interface ExecutorRun {
  child: ExecutorChild;
  /** resolves with the host pid of the process the executor cloned (hooks at the hook points get it) */
  pid: Promise<number>;
  /**
   * resolves with the container's own init: the same pid, or with a joined pid namespace the
   * second-stage init the first one cloned into it (INIT_PID, always before READY)
   */
  initPid: Promise<number>;
  /** resolves when the init reports READY; rejects with the init's or executor's error */
  ready: Promise<void>;
  /** with ModeFlag.Wait: the process's exit, which the executor reports by its own exit status */
  exited?: Promise<ExitInfo>;
}

/**
 * Starts the executor with fds 0-2 handed to the container, `preserveFds` more after them,
 * the sync socket, and the console socket if the plan has a CONSOLE record; sends the plan;
 * follows the messages until READY.
 */
export function runExecutor(plan: PlanRecord[], preserveFds: number, events: ExecutorEvents = {}, consoleSocket?: ConsoleSocket, given?: StdioSpec[]): ExecutorRun {
  // With a terminal the container's stdio is the pty's slave; our own stdin and stdout must not
  // reach it even for the moment before the executor replaces them (runc gives /dev/null).
  const stdio: (number | 'inherit' | 'pipe' | 'ignore' | Socket)[] = consoleSocket === undefined
    ? [given?.[0] ?? 'inherit', given?.[1] ?? 'inherit', given?.[2] ?? 'inherit']
    : ['ignore', 'ignore', given?.[2] ?? 'inherit'];
  for (let i = 0; i < preserveFds; i++) stdio.push(3 + i);
  const syncFd = stdio.length;
  stdio.push('pipe');
  const consoleRecord = plan.find((r) => r.tag === Tag.CONSOLE);
  if (consoleRecord?.tag === Tag.CONSOLE) {
    if (consoleSocket === undefined || consoleRecord.fd !== stdio.length) throw new Error('CONSOLE record without its socket in place');
    stdio.push(consoleSocket);
  } else if (consoleSocket !== undefined) {
    throw new Error('console socket without a CONSOLE record');
  }
  // Encoded first: a plan that cannot be encoded must fail before there is an executor to complain.
  const encoded = encodePlan(plan);
  // Without a dialled console socket (a net.Socket), libuv's handles do without node:net.
  const direct = stdio.every((s) => typeof s !== 'object') && uvAvailable();
  const spawned: ExecutorChild & { stdio: ReadonlyArray<unknown> } = direct
    ? spawnProcess(executorPath(), ['run', String(syncFd)], stdio as UvStdio[], executorFaultEnv())
    : childProcess().spawn(executorPath(), ['run', String(syncFd)], { stdio, env: executorFaultEnv() });
  const child: ExecutorChild = spawned;
  const sync = spawned.stdio[syncFd] as Socket | UvPipe | null;
  if (!sync) {
    // Only a spawn that failed at once has no socket: report it as the executor not starting.
    const failed = new Promise<never>((_, reject) => child.once('error', (err: Error) => reject(new TsrunError(`unable to start the executor ${executorPath()}: ${err.message}`))));
    failed.catch(() => undefined);
    return { child, pid: failed, initPid: failed, ready: failed };
  }
  mark('exec:spawned');
  // it writes the process into its cgroups in a few ms: the kernel's grace period starts now
  warmCgroupMigration();

  let resolvePid!: (pid: number) => void;
  let rejectPid!: (err: Error) => void;
  const pid = new Promise<number>((res, rej) => { resolvePid = res; rejectPid = rej; });
  let resolveInitPid!: (pid: number) => void;
  let rejectInitPid!: (err: Error) => void;
  const initPid = new Promise<number>((res, rej) => { resolveInitPid = res; rejectInitPid = rej; });
  let containerPid = 0;
  const lateInit = plan.some((r) => r.tag === Tag.PIDNS_LATE);
  let initPidSeen = false;
  let spawnError: Error | undefined;
  child.once('error', (err) => { spawnError = err; });

  const ready = new Promise<void>((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    let done = false;
    let errorMessage: string | undefined;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      sync.destroy();
      if (err) { rejectPid(err); rejectInitPid(err); reject(err); } else { resolveInitPid(containerPid); resolve(); }
    };
    sync.on('data', (chunk: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      while (buffered.length >= 8) {
        const tag = buffered.readUInt16LE(0);
        const len = buffered.readUInt32LE(4);
        if (buffered.length < 8 + len) break;
        const body = buffered.subarray(8, 8 + len);
        buffered = buffered.subarray(8 + len);
        switch (tag) {
          case Msg.PID:
            containerPid = body.readUInt32LE(0);
            mark('exec:pid');
            resolvePid(containerPid);
            break;
          case Msg.INIT_PID: {
            // C2 holds this socket, and the container whose pid namespace it joined can see C2
            // and take the socket from it (CAP_SYS_PTRACE): a pid is believed only if it is the
            // executor's own child (the executor waits for our CONTINUE) and not the first
            // stage. Hooks at the hook points already ran with the first stage's pid.
            const second = body.readUInt32LE(0);
            if (!lateInit || initPidSeen || !containerPid || second === containerPid || procStat(second)?.ppid !== child.pid) {
              finish(new TsrunError(`executor reported ${second} as the container's init, which is not its child`));
              return;
            }
            initPidSeen = true;
            containerPid = second;
            resolveInitPid(containerPid);
            sync.write(encodeMessage(Msg.CONTINUE));
            break;
          }
          case Msg.READY:
            mark('exec:ready');
            finish();
            return;
          case Msg.ERROR:
            errorMessage = body.subarray(4, 4 + body.readUInt32LE(0)).toString('utf8');
            break;
          case Msg.LOG: {
            const level = body.readUInt32LE(0);
            const text = body.subarray(8, 8 + body.readUInt32LE(4)).toString('utf8');
            // Errors and warnings are the caller's business (runc's init logs them as warnings too).
            if (level <= 1) log.warn(text); else log.debug(`executor: ${text}`);
            break;
          }
          case Msg.HOOK_POINT: {
            const point = body.readUInt32LE(0);
            const run = events.onHookPoint ? events.onHookPoint(point, containerPid) : Promise.resolve();
            run.then(() => sync.write(encodeMessage(Msg.CONTINUE)), (err) => finish(err as Error));
            break;
          }
          default:
            finish(new TsrunError(`executor sent an unknown message ${tag}`));
            return;
        }
      }
    });
    sync.on('error', () => { /* surfaces as close */ });
    sync.on('close', () => {
      if (errorMessage !== undefined) finish(new TsrunError(`unable to start container process: ${errorMessage}`));
      else if (spawnError) finish(new TsrunError(`unable to start the executor ${executorPath()}: ${spawnError.message}`));
      else finish(new TsrunError('container init exited before it was ready'));
    });
  });
  // A pid is never awaited alone on the error path; keep rejections from surfacing as unhandled.
  pid.catch(() => undefined);
  initPid.catch(() => undefined);
  if (sync instanceof UvPipe) sync.resume();
  sync.write(encoded);
  const first = plan[0];
  if (first?.tag === Tag.MODE && first.flags & ModeFlag.Wait) {
    // The executor stays until the process exits: READY is the end of starting it.
    const status = executorExit(child, () => containerPid);
    return { child, pid, initPid, ready: ready.catch((err) => status.then(() => { throw err; })), exited: status };
  }
  // The executor exits as soon as it has released the container: reap it before we go, or it
  // would be left a zombie to an init that may not reap (this machine's does not).
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  return { child, pid, initPid, ready: ready.then(() => exited, (err) => exited.then(() => { throw err; })) };
}
