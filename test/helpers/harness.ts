// Helpers for tests that run the real tsrun binary against busybox bundles.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

export const REPO = join(__dirname, '..', '..', '..');
export const TSRUN = join(REPO, 'bin', 'tsrun');
export const isRoot = process.getuid?.() === 0;
export const hasBusybox = existsSync('/bin/busybox');
export const hasRunc = existsSync('/usr/bin/runc') || existsSync('/usr/sbin/runc');

/** Skip reason for tests that need root and busybox, or false when they can run. */
export const needsRoot: string | false = !isRoot ? 'needs root' : !hasBusybox ? 'needs busybox-static' : false;

export interface RunResult { status: number; stdout: string; stderr: string }

/** This process's environment without what no child should pay for (NODE_EXTRA_CA_CERTS: ~80 ms per Node start). */
export const childEnv = (() => {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
})();

/**
 * Runs a program with its output in files, not pipes: a created container inherits the
 * runner's stdio and keeps it open, so waiting for pipes to close would wait for the container.
 */
export function runToFiles(cmd: string, args: string[], opts: { input?: string | Buffer; cwd?: string; timeout?: number; env?: NodeJS.ProcessEnv } = {}): RunResult {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-out-'));
  const outFd = openSync(join(dir, 'out'), 'w+');
  const errFd = openSync(join(dir, 'err'), 'w+');
  try {
    const r = spawnSync(cmd, args, {
      input: opts.input, cwd: opts.cwd, timeout: opts.timeout ?? 60_000, env: opts.env ?? childEnv,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', outFd, errFd],
    });
    if (r.error) throw r.error;
    return { status: r.status ?? 128 + 9, stdout: readFileSync(join(dir, 'out'), 'utf8'), stderr: readFileSync(join(dir, 'err'), 'utf8') };
  } finally {
    closeSync(outFd);
    closeSync(errFd);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function tsrun(args: string[], opts: { input?: string; cwd?: string; timeout?: number; env?: Record<string, string> } = {}): RunResult {
  return runToFiles(TSRUN, args, { ...opts, env: opts.env ? { ...childEnv, ...opts.env } : childEnv });
}

/** Runs tsrun without waiting synchronously (for tests that must do things meanwhile). */
export function tsrunAsync(args: string[], opts: { cwd?: string } = {}): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-out-'));
  const outFd = openSync(join(dir, 'out'), 'w+');
  const errFd = openSync(join(dir, 'err'), 'w+');
  return new Promise((resolve, reject) => {
    const child = spawn(TSRUN, args, { cwd: opts.cwd, env: childEnv, stdio: ['ignore', outFd, errFd] });
    const finish = () => {
      closeSync(outFd);
      closeSync(errFd);
    };
    child.on('error', (err) => { finish(); reject(err); });
    // 'exit', not 'close': a created container keeps tsrun's stdio open.
    child.on('exit', (code, signal) => {
      finish();
      const result = { status: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), stdout: readFileSync(join(dir, 'out'), 'utf8'), stderr: readFileSync(join(dir, 'err'), 'utf8') };
      rmSync(dir, { recursive: true, force: true });
      resolve(result);
    });
  });
}

let bundleTemplate: string | undefined;

/** A fresh busybox bundle; `edit` changes its config.json. */
export function makeBundle(edit?: (config: any) => void): string {
  if (!bundleTemplate) {
    bundleTemplate = mkdtempSync(join(tmpdir(), 'tsrun-template-'));
    const r = spawnSync(join(REPO, 'scripts/make-busybox-bundle.sh'), [join(bundleTemplate, 'b')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    process.on('exit', () => rmSync(bundleTemplate!, { recursive: true, force: true }));
  }
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-bundle-'));
  // A user-namespaced container's root must be able to reach its rootfs.
  chmodSync(dir, 0o755);
  spawnSync('cp', ['-a', join(bundleTemplate, 'b', 'rootfs'), join(dir, 'rootfs')]);
  const config = JSON.parse(readFileSync(join(bundleTemplate, 'b', 'config.json'), 'utf8'));
  config.process.terminal = false;
  config.process.args = ['true'];
  // The default spec's ambient capabilities are not inheritable, which gives runc 1.3's (and
  // tsrun's) warning per capability on stderr: tests that want it take inheritable out again.
  if (config.process.capabilities?.ambient) config.process.capabilities.inheritable = [...config.process.capabilities.ambient];
  edit?.(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}

export function makeRoot(): string {
  return mkdtempSync(join(tmpdir(), 'tsrun-root-'));
}

let counter = 0;
export function uniqueId(prefix = 'tsrun-test'): string {
  return `${prefix}-${process.pid}-${++counter}`;
}

/** Every cgroup directory on the host whose name is the container id. */
export function cgroupDirsNamed(id: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 6) return;
    let names: string[];
    try { names = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name); } catch { return; }
    for (const name of names) {
      const p = join(dir, name);
      if (name === id) found.push(p);
      walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return found;
}

/**
 * Processes whose root is the bundle's rootfs (the container's processes). After pivot_root in
 * a mount namespace of its own, /proc/PID/root reads as "/", so the root directory itself is
 * compared (device and inode); a chroot'ed one still reads as the path.
 */
export function processesIn(bundle: string): number[] {
  const pids: number[] = [];
  const rootfs = join(bundle, 'rootfs');
  let want: { dev: number; ino: number } | undefined;
  try { want = statSync(rootfs); } catch { /* removed: match by path only */ }
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const root = readlinkSafe(`/proc/${name}/root`);
      if (root && root.startsWith(rootfs)) { pids.push(Number(name)); continue; }
      if (want && root === '/' && Number(name) !== process.pid) {
        const st = statSync(`/proc/${name}/root`);
        if (st.dev === want.dev && st.ino === want.ino) pids.push(Number(name));
      }
    } catch { /* gone */ }
  }
  return pids;
}

function readlinkSafe(p: string): string | undefined {
  try { return readlinkSync(p); } catch { return undefined; }
}

/** Nothing of the container may be left: state dir, cgroups, mounts, processes. */
export function assertNothingLeft(root: string, id: string, bundle?: string): void {
  assert.equal(existsSync(join(root, id)), false, `state dir ${join(root, id)} left behind`);
  assert.deepEqual(cgroupDirsNamed(id), [], `cgroups of ${id} left behind`);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => (bundle && l.includes(bundle)) || l.includes(`/${id}`));
  assert.deepEqual(mounts, [], 'mounts left behind');
  if (bundle) assert.deepEqual(processesIn(bundle), [], 'container processes left behind');
}

/** A container started with `run -d` for several tests to share. */
export interface Detached { root: string; id: string; bundle: string; initPid: number }

export function startDetached(edit: (config: any) => void, idPrefix?: string): Detached {
  const root = makeRoot();
  const id = uniqueId(idPrefix);
  const bundle = makeBundle(edit);
  const r = tsrun(['--root', root, 'run', '-d', '--bundle', bundle, id]);
  assert.equal(r.status, 0, r.stderr);
  return { root, id, bundle, initPid: JSON.parse(tsrun(['--root', root, 'state', id]).stdout).pid };
}

/** Deletes a shared container, checks that nothing of it is left, removes its bundle and root. */
export function removeDetached(c: Detached): void {
  const r = tsrun(['--root', c.root, 'delete', '--force', c.id]);
  assert.equal(r.status, 0, r.stderr);
  assertNothingLeft(c.root, c.id, c.bundle);
  cleanup(c.root, c.id, c.bundle);
  rmSync(c.root, { recursive: true, force: true });
}

export function cleanup(root: string, id: string, bundle?: string): void {
  tsrun(['--root', root, 'delete', '--force', id]);
  if (bundle) rmSync(bundle, { recursive: true, force: true });
}

/**
 * Runs a fresh busybox container in the foreground (`edit` shapes its config, `before` sees
 * the bundle first), checks that nothing of it is left, and returns what tsrun printed.
 */
export function runContainer(edit: (config: any) => void, opts: { args?: string[]; before?: (bundle: string) => void; idPrefix?: string } = {}): RunResult {
  const root = makeRoot();
  const bundle = makeBundle(edit);
  const id = uniqueId(opts.idPrefix);
  try {
    opts.before?.(bundle);
    const r = tsrun(['--root', root, 'run', ...(opts.args ?? []), '--bundle', bundle, id]);
    assertNothingLeft(root, id, bundle);
    return r;
  } finally {
    cleanup(root, id, bundle);
    rmSync(root, { recursive: true, force: true });
  }
}

/** Polls `tsrun state` until the container shows `status` (fails the test after ~5 s). */
export async function waitForStatus(root: string, id: string, status: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const s = tsrun(['--root', root, 'state', id]);
    if (s.status === 0 && JSON.parse(s.stdout).status === status) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`container ${id} never reached ${status}`);
}

/** The tsrun shim daemons whose command line names `arg` (a containerd namespace or the shim's socket). */
export function shimDaemons(arg: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.endsWith('tsrun-shim.cjs')) && argv.includes(arg)) out.push(Number(p));
    } catch { /* gone */ }
  }
  return out;
}

/**
 * Ends a shim a test started itself (SIGKILL, as a crash would) and removes what a killed shim
 * leaves in /run/containerd/s (containerd's `delete` would): its socket, its control socket and
 * its group's lock file. `socket` is the address `start` printed, with or without `unix://`.
 */
export function killShim(pid: number, socket: string): void {
  if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  const path = socket.replace(/^unix:\/\//, '');
  if (!path) return;
  for (const f of [path, `${path}.ctl`, `${path}.lock`]) rmSync(f, { force: true });
}

/**
 * Signals a daemon the test started (containerd) and waits up to 20 s for it to exit, then kills
 * it. The wait's timer is cleared: one left running keeps the test process alive for its 20 s.
 */
export async function stopDaemon(daemon: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!daemon || daemon.exitCode !== null || daemon.signalCode !== null) return;
  const exited = new Promise((r) => daemon.once('exit', r));
  daemon.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((r) => { timer = setTimeout(r, 20_000); })]);
  clearTimeout(timer);
  if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
}
