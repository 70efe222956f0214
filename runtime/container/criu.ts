// One conversation with `criu swrk` (CRIU's RPC over a SOCK_SEQPACKET pair), as runc has it
// (libcontainer/criu_linux.go, criuSwrk): criu is found on PATH, gets the server end as fd 3 and
// any extra fds after it, answers the request with notifications first (each acknowledged
// after the caller's handler ran) and then the final reply.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { childProcess } from '../lazy-modules.js';
import { TsrunError } from '../errors.js';
import { log } from '../log.js';
import { criu } from '../../proto/index.js';
import { criuSyscalls } from '../sys/criu.js';
import type { StdioSpec } from './executor.js';

/** The oldest CRIU runc accepts: the VERSION request came with 3.0. */
export const MIN_CRIU_VERSION = 30000;

/** The name of the binary; tests and `--criu` may point elsewhere through PATH. */
const CRIU = 'criu';

/** runc's buffer for one reply. */
const MAX_REPLY = 10 * 4096;

export interface SwrkOptions {
  /** criu's fds 0-2: a restore gives it the container's stdio, whose pipes the restored tree inherits */
  stdio?: StdioSpec[];
  /** fds given to criu from 4 on (namespaces to inherit) */
  extraFds?: number[];
  /** runs right after criu started, before the request is sent (a restore puts criu in the container's cgroup) */
  onStart?: (criuPid: number, req: criu.criu_reqInit) => void | Promise<void>;
  /** a notification; the fds it carried are the handler's to close */
  onNotify?: (script: string, pid: number, fds: number[]) => void | Promise<void>;
}

type ReqType = criu.criu_req_type;

function typeName(t: number): string {
  const names = criu.criu_req_type as unknown as Record<string, number>;
  return Object.keys(names).find((k) => names[k] === t) ?? String(t);
}

function notFound(): TsrunError {
  return new TsrunError(`exec: "${CRIU}": executable file not found in $PATH`);
}

/** Sends `req` to a new criu and returns its final reply; rejects with runc's "criu failed: …". */
export async function criuSwrk(req: criu.criu_reqInit, opts: SwrkOptions = {}): Promise<criu.criu_resp> {
  const sys = criuSyscalls();
  const [client, server] = sys.seqpacketPair();
  let child: ChildProcess | undefined;
  let serverOpen = true;
  let clientOpen = true;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  try {
    const stdio = [...(opts.stdio ?? ['ignore', 'ignore', 'ignore']), server, ...(opts.extraFds ?? [])];
    const spawned = childProcess().spawn(CRIU, ['swrk', '3'], { stdio: stdio as never });
    child = spawned;
    exited = new Promise((resolve) => spawned.once('exit', (code, signal) => resolve({ code, signal })));
    const started = await new Promise<number>((resolve, reject) => {
      spawned.once('spawn', () => resolve(spawned.pid!));
      spawned.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? notFound() : err));
    });
    // Only criu holds the server end now: if it dies, our reads see the end instead of hanging.
    sys.close(server);
    serverOpen = false;
    await opts.onStart?.(started, req);
    const type = req.type as ReqType;
    log.debug(`Using CRIU in ${typeName(type)} mode`);
    sys.send(client, criu.criu_req.encode(req));
    for (;;) {
      const packet = await sys.receive(client, MAX_REPLY);
      if (packet.data.length === 0) {
        for (const fd of packet.fds) sys.close(fd);
        throw new TsrunError('unexpected EOF');
      }
      if (packet.data.length === MAX_REPLY) throw new TsrunError('buffer is too small');
      const resp = criu.criu_resp.decode(packet.data);
      if (!resp.success) {
        for (const fd of packet.fds) sys.close(fd);
        throw new TsrunError(`criu failed: type ${typeName(resp.type)} errno ${resp.cr_errno ?? 0}`);
      }
      if (resp.type === criu.criu_req_type.NOTIFY) {
        const script = resp.notify?.script ?? '';
        log.debug(`notify: ${script}`);
        await opts.onNotify?.(script, resp.notify?.pid ?? 0, packet.fds);
        sys.send(client, criu.criu_req.encode({ type: criu.criu_req_type.NOTIFY, notify_success: true }));
        continue;
      }
      for (const fd of packet.fds) sys.close(fd);
      const expected = [criu.criu_req_type.DUMP, criu.criu_req_type.PRE_DUMP, criu.criu_req_type.RESTORE, criu.criu_req_type.VERSION, criu.criu_req_type.FEATURE_CHECK] as number[];
      if (!expected.includes(resp.type)) throw new TsrunError(`unable to parse the response ${typeName(resp.type)}`);
      sys.close(client);
      clientOpen = false;
      const end = await exited;
      // A pre-dump leaves criu waiting for the next request: its end on our close is no failure.
      if (end.code !== 0 && type !== criu.criu_req_type.PRE_DUMP && type !== criu.criu_req_type.VERSION && type !== criu.criu_req_type.FEATURE_CHECK) {
        throw new TsrunError(`criu failed: ${end.signal ? `signal: ${end.signal}` : `exit status ${end.code}`}`);
      }
      return resp;
    }
  } catch (err) {
    // An fd closed twice could by then be someone else's.
    if (clientOpen) sys.close(client);
    if (serverOpen) sys.close(server);
    // criu sees the end of the conversation and exits; wait for it so that nothing is left.
    if (child?.pid && exited) {
      const timer = setTimeout(() => { try { child!.kill('SIGKILL'); } catch { /* gone */ } }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    throw err;
  }
}

/** criu's version as runc counts it (major*10000 + minor*100 + sublevel). */
export async function criuVersion(): Promise<number> {
  let resp: criu.criu_resp;
  try {
    resp = await criuSwrk({ type: criu.criu_req_type.VERSION });
  } catch (err) {
    throw new TsrunError(`CRIU version check failed: ${(err as Error).message}`);
  }
  const v = resp.version;
  if (!v) throw new TsrunError('CRIU version check failed: no version in the reply');
  return v.major_number * 10000 + v.minor_number * 100 + (v.sublevel ?? 0);
}

/** runc's check: one clear error when criu is missing or older than `min`. */
export async function checkCriuVersion(min = MIN_CRIU_VERSION): Promise<number> {
  const version = await criuVersion();
  if (version < min) throw new TsrunError(`CRIU version ${version} must be ${min} or higher`);
  return version;
}

/**
 * After a failed criu run, runc quotes the log around each "Error" line (up to five lines
 * before it) as warnings.
 */
export function quoteCriuErrors(dir: string, file: string): void {
  const path = join(dir, file);
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (err) { log.warn((err as Error).message); return; }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let printed = 0;
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].includes('Error')) continue;
    const lineNo = i + 1;
    if (printed === 0) log.warn(`--- Quoting "${path}"`);
    else if (lineNo - 6 > printed) log.warn('...');
    for (let n = Math.max(printed + 1, lineNo - 5); n <= lineNo; n++) {
      if (lines[n - 1].length > 0) log.warn(`${n}:${lines[n - 1]}`);
      printed = n;
    }
  }
  if (printed !== 0) log.warn('---');
}
