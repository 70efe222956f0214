// Today's engines and runtimes (scripts/modern-stack.sh: runc 1.3, crun 1.2x, criu 4.2, containerd 2.1, Docker 28)
// for tests: the script runs once per test process; a cached fetch answers in milliseconds.
import { spawn, spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, shimDaemons } from './harness.js';

export interface Stack {
  dir: string;
  bin: string;
  runc: string;
  crun: string;
  criu: string;
  containerd: string;
  ctr: string;
  shimRunc: string;
  dockerd: string;
  docker: string;
  dockerProxy: string;
  dockerInit: string;
}

/**
 * `stack` is set when the binaries are there. Otherwise `skip` says why when Debian's archive could not be reached
 * (a machine without network), and `error` when anything else went wrong (which a test must not pass over).
 */
export type StackResult = { stack: Stack; skip?: undefined; error?: undefined }
  | { stack?: undefined; skip: string; error?: undefined }
  | { stack?: undefined; skip?: undefined; error: string };

let cached: StackResult | undefined;

export function modernStack(): StackResult {
  if (cached) return cached;
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const r = spawnSync(join(REPO, 'scripts/modern-stack.sh'), [], { encoding: 'utf8', env, timeout: 600_000 });
  const message = (r.stderr || '').trim().split('\n').filter((l) => l.startsWith('modern-stack:')).pop()
    ?? (r.error ? String(r.error) : `modern-stack.sh exited with ${r.status}`);
  if (r.status === 3) return (cached = { skip: message });
  if (r.status !== 0) return (cached = { error: message });
  const v: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^STACK_([A-Z_]+)=(.*)$/.exec(line);
    if (m) v[m[1]] = m[2];
  }
  const need = ['DIR', 'BIN', 'RUNC', 'CRUN', 'CRIU', 'CONTAINERD', 'CTR', 'SHIM_RUNC', 'DOCKERD', 'DOCKER', 'DOCKER_PROXY', 'DOCKER_INIT'];
  const missing = need.filter((k) => !v[k]);
  if (missing.length) return (cached = { error: `modern-stack.sh printed no STACK_${missing.join(', STACK_')}` });
  return (cached = {
    stack: {
      dir: v.DIR, bin: v.BIN, runc: v.RUNC, crun: v.CRUN, criu: v.CRIU, containerd: v.CONTAINERD, ctr: v.CTR,
      shimRunc: v.SHIM_RUNC, dockerd: v.DOCKERD, docker: v.DOCKER, dockerProxy: v.DOCKER_PROXY, dockerInit: v.DOCKER_INIT,
    },
  });
}

/**
 * For `describe(..., { skip })`: the skip reason, or false when the stack is there. A failure other than an
 * unreachable archive is not a skip: it returns false and `requireStack()` then throws with the script's message.
 */
export function stackSkip(): string | false {
  const r = modernStack();
  return r.skip ? `the modern stack is not available: ${r.skip}` : false;
}

export function requireStack(): Stack {
  const r = modernStack();
  if (r.stack) return r.stack;
  throw new Error(r.error ?? r.skip);
}

export interface Containerd17 { dir: string; containerd: string; ctr: string }
let cached17: { containerd17: Containerd17; skip?: undefined; error?: undefined } | { containerd17?: undefined; skip?: string; error?: string } | undefined;

/**
 * containerd 1.7 and its ctr from Debian trixie (scripts/containerd17.sh, cached as the stack is): the
 * newest containerd that keeps a gRPC shim. `skip` when Debian's archive could not be reached, `error`
 * for any other failure.
 */
export function containerd17(): NonNullable<typeof cached17> {
  if (cached17) return cached17;
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const r = spawnSync(join(REPO, 'scripts/containerd17.sh'), [], { encoding: 'utf8', env, timeout: 300_000 });
  const message = (r.stderr || '').trim().split('\n').filter((l) => l.startsWith('containerd17:')).pop()
    ?? (r.error ? String(r.error) : `containerd17.sh exited with ${r.status}`);
  if (r.status === 3) return (cached17 = { skip: message });
  if (r.status !== 0) return (cached17 = { error: message });
  const v = Object.fromEntries(r.stdout.split('\n').map((l) => /^STACK_([A-Z0-9_]+)=(.*)$/.exec(l)).filter((m) => m).map((m) => [m![1], m![2]]));
  if (!v.CONTAINERD17 || !v.CTR17 || !v.CONTAINERD17_DIR) return (cached17 = { error: 'containerd17.sh printed no STACK_CONTAINERD17, STACK_CTR17 or STACK_CONTAINERD17_DIR' });
  return (cached17 = { containerd17: { dir: v.CONTAINERD17_DIR, containerd: v.CONTAINERD17, ctr: v.CTR17 } });
}

/** A containerd the shim tests run: Debian's 1.6 (config version 2) or the stack's 2.1 (version 3). */
export interface ContainerdFlavour { name: string; containerd: string; ctr: string; configVersion: number; skip: string | false }

export function containerdFlavours(): ContainerdFlavour[] {
  const stack = modernStack();
  return [
    {
      name: 'containerd 1.6 (Debian)', containerd: '/usr/bin/containerd', ctr: '/usr/bin/ctr', configVersion: 2,
      skip: existsSync('/usr/bin/containerd') ? false : 'containerd is not installed (make test-deps installs it)',
    },
    {
      name: 'containerd 2.1 (stack)', containerd: stack.stack?.containerd ?? '', ctr: stack.stack?.ctr ?? '', configVersion: 3,
      skip: stack.stack ? false : (stack.skip ?? stack.error ?? 'no stack'),
    },
  ];
}

/**
 * Writes DIR/config.toml for a private containerd (config `version` 2 for 1.6 and 1.7, 3 for 2.x): root,
 * state, sockets (`sock`, `sock`.ttrpc) and opt under DIR; on 1.6 and 1.7 no CRI and no snapshotters
 * probing the host. Returns the file's path.
 */
export function privateContainerdConfig(dir: string, version: number, sock = join(dir, 'containerd.sock')): string {
  const lines = [
    `version = ${version}`, `root = "${dir}/root"`, `state = "${dir}/state"`,
    '[grpc]', `  address = "${sock}"`,
    '[ttrpc]', `  address = "${sock}.ttrpc"`,
    '[plugins."io.containerd.internal.v1.opt"]', `  path = "${dir}/opt"`,
  ];
  if (version === 2) lines.splice(3, 0, 'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]');
  const file = join(dir, 'config.toml');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** What a test's ctr calls left in its namespace: tasks killed and removed, containers, images, then its shims killed. */
export function removeCtrObjects(ctr: (args: string[]) => { stdout: string }, namespace: string): void {
  const list = (...args: string[]) => ctr(args).stdout.split('\n').filter(Boolean);
  for (const id of list('tasks', 'ls', '-q')) ctr(['tasks', 'kill', '-s', 'KILL', id]);
  for (const id of list('tasks', 'ls', '-q')) ctr(['tasks', 'rm', '-f', id]);
  for (const id of list('containers', 'ls', '-q')) ctr(['containers', 'rm', id]);
  for (const ref of list('images', 'ls', '-q')) ctr(['images', 'rm', ref]);
  for (const pid of shimDaemons(namespace)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

/** Lazily unmounts whatever is mounted below these paths, the latest first. */
export function unmountBelow(...paths: string[]): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && paths.some((p) => p && m.startsWith(p)));
  for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
}

/** Removes these cgroup dirs with everything below them (empty dirs only: the processes are gone by then). */
export function removeCgroupTrees(dirs: string[]): void {
  for (const p of dirs) spawnSync('find', [p, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
}

/**
 * Host dirs an engine under test may make (containerd's fixed paths, listed parents first):
 * remove() takes away, the deepest first, those that did not exist when this was called.
 */
export function hostDirs(dirs: string[]): { remove(): void } {
  const preexisting = dirs.filter((d) => existsSync(d));
  return {
    remove() {
      for (const d of [...dirs].reverse()) if (!preexisting.includes(d)) try { rmdirSync(d); } catch { /* in use */ }
    },
  };
}

/**
 * `ctr events` in a namespace from now on, subscribed once a namespace update it did not miss
 * shows up: its lines so far, the task topics (`/tasks/start`…) of one container, and stop().
 */
export async function ctrEvents(
  ctrBin: string, address: string, namespace: string, env: NodeJS.ProcessEnv, ctr: (args: string[]) => unknown,
): Promise<{ lines(): string[]; topics(id: string): string[]; stop(): void }> {
  const child = spawn(ctrBin, ['-a', address, '-n', namespace, 'events'], { stdio: ['ignore', 'pipe', 'ignore'], env });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  for (let i = 0; i < 100 && !out.includes('/namespaces/update'); i++) {
    ctr(['namespaces', 'label', namespace, `probe=${i}`]);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(out, /\/namespaces\/update/, 'ctr events never subscribed');
  const lines = () => out.split('\n').filter(Boolean);
  return {
    lines,
    topics: (id) => lines().filter((l) => l.includes(`"${id}"`)).map((l) => /(\/tasks\/[a-z-]+)/.exec(l)?.[1]).filter(Boolean) as string[],
    stop: () => { child.kill('SIGKILL'); },
  };
}
