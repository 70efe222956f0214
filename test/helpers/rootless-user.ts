import { modernStack } from './stack.js';
// An unprivileged user for rootless tests: made once (idempotently) with /etc/subuid and
// /etc/subgid ranges and an XDG_RUNTIME_DIR, as a login would give it; commands then run as that
// user with setpriv (real, effective and saved ids switched, the user's groups, no capabilities).
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { REPO, TSRUN, isRoot, hasBusybox, runToFiles, type RunResult } from './harness.js';

export const TEST_USER = 'tsrun-rootless';
const SUB_COUNT = 65536;

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** XDG_RUNTIME_DIR, owned by the user, mode 0700 (what pam_systemd would make). */
  runtimeDir: string;
  subuid: { start: number; count: number };
  subgid: { start: number; count: number };
}

/** Skip reason for rootless tests, or false when they can run. */
export const needsRootlessSetup: string | false = !isRoot ? 'needs root to make the test user' : !hasBusybox ? 'needs busybox-static'
  : !existsSync('/usr/bin/newuidmap') ? 'needs newuidmap (uidmap, installed by make test)' : !existsSync('/usr/bin/setpriv') ? 'needs setpriv' : false;

function passwdEntry(name: string): { uid: number; gid: number; home: string } | undefined {
  const r = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const f = r.stdout.trim().split(':');
  return { uid: Number(f[2]), gid: Number(f[3]), home: f[5] };
}

/** The user's range in an /etc/sub[ug]id file, added after every existing range when missing. */
function ensureSubRange(file: string, name: string): { start: number; count: number } {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  let end = 100000;
  for (const line of text.split('\n')) {
    const [owner, start, count] = line.split(':');
    if (!owner || start === undefined) continue;
    if (owner === name) return { start: Number(start), count: Number(count) };
    end = Math.max(end, Number(start) + Number(count));
  }
  writeFileSync(file, `${text}${text && !text.endsWith('\n') ? '\n' : ''}${name}:${end}:${SUB_COUNT}\n`, { mode: 0o644 });
  return { start: end, count: SUB_COUNT };
}

let cached: TestUser | undefined;

/** The test user, made (or completed) on first use. */
export function ensureTestUser(): TestUser {
  if (cached) return cached;
  let pw = passwdEntry(TEST_USER);
  if (!pw) {
    // Another test process may create it at the same moment: useradd's failure then is fine.
    spawnSync('useradd', ['--create-home', '--shell', '/bin/sh', '--user-group', TEST_USER], { encoding: 'utf8' });
    pw = passwdEntry(TEST_USER);
    assert.ok(pw, `could not create the test user ${TEST_USER}`);
  }
  {
    const subuid = ensureSubRange('/etc/subuid', TEST_USER);
    const subgid = ensureSubRange('/etc/subgid', TEST_USER);
    if (!existsSync(pw.home)) mkdirSync(pw.home, { recursive: true, mode: 0o755 });
    chownSync(pw.home, pw.uid, pw.gid);
    const runtimeDir = `/run/user/${pw.uid}`;
    mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
    chownSync(runtimeDir, pw.uid, pw.gid);
    chmodSync(runtimeDir, 0o700);
    cached = { name: TEST_USER, ...pw, runtimeDir, subuid, subgid };
    return cached;
  }
}

/** The environment a login shell of the user would have (the parts tsrun and runc look at). */
export function userEnv(user: TestUser, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: user.home, USER: user.name, LOGNAME: user.name,
    XDG_RUNTIME_DIR: user.runtimeDir, ...extra,
  };
}

/** Runs a command as the test user; output through files (a created container keeps stdio open). */
export function asUser(user: TestUser, cmd: string, args: string[], opts: { env?: Record<string, string>; input?: string | Buffer; cwd?: string; timeout?: number } = {}): RunResult {
  return runToFiles('/usr/bin/setpriv', ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', cmd, ...args], {
    input: opts.input, cwd: opts.cwd ?? user.home, timeout: opts.timeout, env: userEnv(user, opts.env),
  });
}

/** The system's runc (Debian 12: 1.1.5). */
export const SYSTEM_RUNC = existsSync('/usr/bin/runc') ? '/usr/bin/runc' : '/usr/sbin/runc';
/**
 * runc to compare with: TSRUN_TEST_RUNC, else today's runc (1.3, from scripts/modern-stack.sh), which
 * the rootless issue compares with; the system's only when the stack cannot be had.
 */
export const RUNC = process.env.TSRUN_TEST_RUNC || modernStack().stack?.runc || SYSTEM_RUNC;

/** The two runtimes every rootless test runs beside each other. */
export const RUNTIMES = [{ name: 'tsrun', bin: TSRUN }, { name: 'runc', bin: RUNC }] as const;

let template: string | undefined;

/**
 * A busybox bundle owned by the user, under the user's home: `runc spec --rootless`'s shape
 * (the caller's ids mapped to root, /sys bound), edited by `edit`.
 */
export function makeUserBundle(user: TestUser, edit?: (config: any) => void): string {
  const base = join(user.home, 'bundles');
  if (!existsSync(base)) { mkdirSync(base, { mode: 0o755 }); chownSync(base, user.uid, user.gid); }
  if (!template || !existsSync(template)) {
    template = mkdtempSync(join(base, 'template-'));
    const r = spawnSync(join(REPO, 'scripts/make-busybox-bundle.sh'), [join(template, 'b')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const t = template;
    process.on('exit', () => rmSync(t, { recursive: true, force: true }));
  }
  const dir = mkdtempSync(join(base, 'bundle-'));
  spawnSync('cp', ['-a', join(template, 'b', 'rootfs'), join(dir, 'rootfs')]);
  spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
  chmodSync(dir, 0o755);
  const spec = asUser(user, TSRUN, ['spec', '--rootless', '--bundle', dir]);
  assert.equal(spec.status, 0, spec.stderr);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  config.process.terminal = false;
  config.process.args = ['true'];
  edit?.(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
  return dir;
}

/** The default state root of a runtime run by the user ($XDG_RUNTIME_DIR/<name>). */
export function userStateRoot(user: TestUser, runtime: string): string {
  return join(user.runtimeDir, runtime);
}

/** Processes of the user (besides the ones a test keeps on purpose): what a container left. */
export function userProcesses(user: TestUser): number[] {
  const out: number[] = [];
  for (const name of spawnSync('ls', ['/proc'], { encoding: 'utf8' }).stdout.split('\n')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // The real uid: a non-dumpable process's /proc entry belongs to root whoever runs it.
      const uid = /\nUid:\s+(\d+)/.exec(readFileSync(`/proc/${name}/status`, 'latin1'))?.[1];
      if (Number(uid) !== user.uid) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      out.push(Number(name));
    } catch { /* gone */ }
  }
  return out;
}
