// Runs inside ../shared/vm/run-in-cgroup2-vm (pure cgroup v2), as root, started by
// test/integration/rootless-vm.test.ts. Rootless limits: an unprivileged user whose session is
// in a cgroup delegated to it (what systemd's Delegate=yes gives a user slice) has limits
// honoured in a cgroup below it; without delegation a limit is refused. tsrun and runc side by
// side, same outcome, nothing left.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { uniqueId, cgroupDirsNamed } from '../helpers/harness.js';
import { RUNC, RUNTIMES, ensureTestUser, makeUserBundle, userEnv, userProcesses, userStateRoot, type TestUser } from '../helpers/rootless-user.js';

const CG = '/sys/fs/cgroup';
const deleg = `rl-deleg-${process.pid}`;
let user: TestUser;

/** As the user, from inside the delegated session cgroup (root moves the shell there, then drops privileges). */
function inSession(args: string[], detached = false): { status: number; stdout: string; stderr: string } {
  // A detached container keeps its stdio: into a file then, not the pipes spawnSync waits on.
  const out = join(user.home, 'detached.out');
  const script = `echo $$ > ${CG}/${deleg}/session/cgroup.procs && exec /usr/bin/setpriv --reuid ${user.uid} --regid ${user.gid} --init-groups -- "$@"${detached ? ` >${out} 2>&1` : ''}`;
  const r = spawnSync('/bin/sh', ['-c', script, 'sh', ...args], { encoding: 'utf8', cwd: user.home, env: userEnv(user), timeout: 120_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: detached ? readFileSync(out, 'utf8') : r.stderr };
}

const message = (stderr: string, name: string) => (/msg="(.*)"\s*$/m.exec(stderr.split('\n').filter((l) => l.includes('level=error')).pop() ?? '')?.[1] ?? stderr).replace(new RegExp(`\\b${name}(?= )`, 'g'), 'RUNTIME');

before(() => {
  assert.match(readFileSync('/proc/self/mountinfo', 'utf8'), / \/sys\/fs\/cgroup .* - cgroup2 /, 'running on cgroup v2');
  // The VM's / is the host's under an overlay the user cannot write through: a home and an
  // XDG_RUNTIME_DIR of its own on the VM's tmpfs.
  const made = ensureTestUser();
  user = { ...made, home: `/tmp/rl-home-${process.pid}`, runtimeDir: `/tmp/rl-xdg-${process.pid}` };
  for (const dir of [user.home, user.runtimeDir]) {
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, user.uid, user.gid);
  }
  // The delegation systemd would make: the subtree and its interface files are the user's.
  mkdirSync(join(CG, deleg));
  writeFileSync(join(CG, deleg, 'cgroup.subtree_control'), '+memory +pids +cpu');
  mkdirSync(join(CG, deleg, 'session'));
  for (const p of [deleg, `${deleg}/cgroup.procs`, `${deleg}/cgroup.subtree_control`, `${deleg}/cgroup.threads`, `${deleg}/session`, `${deleg}/session/cgroup.procs`]) {
    chownSync(join(CG, p), user.uid, user.gid);
  }
});

after(() => {
  for (const dir of [join(CG, deleg, 'session'), join(CG, deleg)]) if (existsSync(dir)) rmdirSync(dir);
});

test('limits are honoured in a delegated cgroup v2 subtree', () => {
  const out: Record<string, unknown> = {};
  for (const r of RUNTIMES) {
    const id = uniqueId(`rl-${r.name}`);
    const bundle = makeUserBundle(user, (c) => {
      c.linux.cgroupsPath = `/${deleg}/ctr`;
      c.linux.resources = { pids: { limit: 17 }, memory: { limit: 32 * 1024 * 1024 } };
      // Without a cgroup namespace tsrun binds the container's own cgroup at /sys/fs/cgroup, runc the
      // whole hierarchy: the limits are read from whichever is there.
      c.process.args = ['sh', '-c', `cat /proc/self/cgroup; cd /sys/fs/cgroup; [ -e pids.max ] || cd ${deleg}/ctr; cat pids.max memory.max`];
    });
    try {
      const res = inSession([r.bin, 'run', '--bundle', bundle, id]);
      assert.equal(res.status, 0, `${r.name}: ${res.stderr}`);
      out[r.name] = res.stdout;
      assert.equal(existsSync(join(CG, deleg, 'ctr')), false, `${r.name}: cgroup left behind`);
      assert.equal(existsSync(join(userStateRoot(user, r.name), id)), false, `${r.name}: state left behind`);
      assert.deepEqual(userProcesses(user), []);
    } finally {
      rmSync(bundle, { recursive: true, force: true });
    }
  }
  assert.equal(out.tsrun, `0::/${deleg}/ctr\n17\n${32 * 1024 * 1024}\n`);
  assert.equal(out.tsrun, out.runc);
});

test('pause and resume where the freezer is writable (cgroup.freeze of a delegated cgroup)', () => {
  const out: Record<string, string[]> = {};
  for (const r of RUNTIMES) {
    const id = uniqueId(`rl-${r.name}`);
    const bundle = makeUserBundle(user, (c) => { c.linux.cgroupsPath = `/${deleg}/ctr`; c.process.args = ['sleep', '1000']; });
    const seen: string[] = [];
    const status = () => JSON.parse(inSession([r.bin, 'state', id]).stdout).status;
    try {
      const started = inSession([r.bin, 'run', '-d', '--bundle', bundle, id], true);
      assert.equal(started.status, 0, `${r.name}: ${started.stderr}`);
      const paused = inSession([r.bin, 'pause', id]);
      assert.equal(paused.status, 0, `${r.name}: ${paused.stderr}`);
      seen.push(status(), readFileSync(join(CG, deleg, 'ctr', 'cgroup.events'), 'utf8').match(/^frozen \d$/m)![0]);
      assert.equal(inSession([r.bin, 'resume', id]).status, 0);
      seen.push(status());
      assert.equal(inSession([r.bin, 'delete', '--force', id]).status, 0);
      assert.equal(existsSync(join(CG, deleg, 'ctr')), false, `${r.name}: cgroup left behind`);
      assert.equal(existsSync(join(userStateRoot(user, r.name), id)), false, `${r.name}: state left behind`);
      assert.deepEqual(userProcesses(user), []);
      out[r.name] = seen;
    } finally {
      inSession([r.bin, 'delete', '--force', id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  }
  assert.deepEqual(out.tsrun, ['paused', 'frozen 1', 'running']);
  assert.deepEqual(out.tsrun, out.runc);
});

test('a limit in a cgroup not delegated to the user is refused, as runc refuses it', () => {
  const out: Record<string, { status: number; message: string }> = {};
  for (const r of RUNTIMES) {
    const id = uniqueId(`rl-${r.name}`);
    const bundle = makeUserBundle(user, (c) => {
      c.linux.cgroupsPath = `/rl-not-delegated-${process.pid}/ctr`;
      c.linux.resources = { pids: { limit: 17 } };
    });
    try {
      const res = inSession([r.bin, 'run', '--bundle', bundle, id]);
      out[r.name] = { status: res.status, message: message(res.stderr, r.name) };
      assert.deepEqual(cgroupDirsNamed(`rl-not-delegated-${process.pid}`), []);
      assert.equal(existsSync(join(userStateRoot(user, r.name), id)), false, `${r.name}: state left behind`);
    } finally {
      rmSync(bundle, { recursive: true, force: true });
    }
  }
  assert.equal(out.tsrun.status, 1);
  assert.deepEqual(out.tsrun, out.runc);
});

void RUNC;
