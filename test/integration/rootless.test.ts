// Rootless containers: an unprivileged test user (with /etc/subuid and /etc/subgid ranges and
// an XDG_RUNTIME_DIR) runs tsrun and runc side by side on the same kind of bundle (runc spec
// --rootless's shape); both must give the same outcome, and nothing may be left of either:
// state dirs under the user's XDG_RUNTIME_DIR, processes of the user, mounts of the bundle.
import { describe, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, TSRUN, cgroupDirsNamed, uniqueId, type RunResult } from '../helpers/harness.js';
import {
  RUNC, RUNTIMES, SYSTEM_RUNC, asUser, ensureTestUser, makeUserBundle, needsRootlessSetup, userEnv, userProcesses, userStateRoot, type TestUser,
} from '../helpers/rootless-user.js';

const skip = needsRootlessSetup || (!existsSync(RUNC) ? 'needs runc' : false);
let user: TestUser;

type Runtime = (typeof RUNTIMES)[number];

/** Runs a runtime as the test user; the runtime's name in its messages is made neutral for comparing. */
function rt(r: Runtime, args: string[], opts: { env?: Record<string, string> } = {}): RunResult {
  const res = asUser(user, r.bin, args, opts);
  return { ...res, stderr: res.stderr.replaceAll(r.bin, 'RUNTIME').replaceAll(RUNC, 'RUNTIME').replace(new RegExp(`\\b${r.name}(?= )`, 'g'), 'RUNTIME') };
}

/** The error message of a runc-style log line on stderr. */
function errorMessage(stderr: string): string {
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(stderr.split('\n').filter((l) => l.includes('level=error')).pop() ?? '');
  return m ? JSON.parse(`"${m[1]}"`) : stderr.trim();
}

/** Nothing of the container may be left: state dir, cgroups, mounts, the user's processes. */
function assertNothingLeft(r: Runtime, id: string, bundle: string): void {
  assert.equal(existsSync(join(userStateRoot(user, r.name), id)), false, `${r.name}: state dir left behind`);
  assert.deepEqual(cgroupDirsNamed(id), [], `${r.name}: cgroups left behind`);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(bundle) || l.includes(`/${id}`));
  assert.deepEqual(mounts, [], `${r.name}: mounts left behind`);
  assert.deepEqual(userProcesses(user), [], `${r.name}: processes of the user left behind`);
}

/** One fresh bundle and id per runtime; `body` runs with each, and their results are compared by the caller. */
function besideRunc<T>(edit: (config: any) => void, body: (r: Runtime, id: string, bundle: string) => T): Record<'tsrun' | 'runc', T> {
  const out = {} as Record<'tsrun' | 'runc', T>;
  for (const r of RUNTIMES) {
    const bundle = makeUserBundle(user, edit);
    const id = uniqueId(`rl-${r.name}`);
    try {
      out[r.name] = body(r, id, bundle);
      assertNothingLeft(r, id, bundle);
    } finally {
      rt(r, ['delete', '--force', id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  }
  return out;
}

const sh = (script: string) => (c: any) => { c.process.args = ['sh', '-c', script]; };

describe('rootless: an unprivileged user runs containers, as with runc', { skip }, () => {
  before(() => { user = ensureTestUser(); });

  test('spec --rootless writes runc\'s rootless template (runc 1.1.5\'s, as `tsrun spec` does)', () => {
    const out: Record<string, string> = {};
    for (const r of [RUNTIMES[0], { name: 'runc' as const, bin: SYSTEM_RUNC }]) {
      const dir = mkdtempSync(join(user.home, 'spec-'));
      chownSync(dir, user.uid, user.gid);
      try {
        const res = rt(r, ['spec', '--rootless', '--bundle', dir]);
        assert.equal(res.status, 0, res.stderr);
        const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
        assert.deepEqual(config.linux.uidMappings, [{ containerID: 0, hostID: user.uid, size: 1 }]);
        // The one difference allowed: the process args each runtime writes.
        config.process.args = ['ARGS'];
        out[r.name] = JSON.stringify(config, null, '\t');
        // Byte for byte once the args are the same.
        const raw = readFileSync(join(dir, 'config.json'), 'utf8');
        assert.equal(raw.replace(/"args": \[[^\]]*\]/, '"args": ["ARGS"]'), out[r.name].replace(/"args": \[[^\]]*\]/, '"args": ["ARGS"]'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    assert.equal(out.tsrun, out.runc);
  });

  test('run: root inside is the user outside; state defaults to $XDG_RUNTIME_DIR/<runtime>', () => {
    const script = 'id; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; hostname; touch /tmp/x && ls -ln /tmp/x | cut -c1-30; exit 3';
    const res = besideRunc((c) => { sh(script)(c); c.root.readonly = false; }, (r, id, bundle) => {
      const run = rt(r, ['run', '--bundle', bundle, id]);
      const root = userStateRoot(user, r.name);
      const st = statSync(root);
      // runc's XDG rule: the state root exists, owned by the user, sticky and private.
      assert.equal(st.uid, user.uid);
      assert.equal(st.mode & 0o7777, 0o1700);
      return run;
    });
    assert.equal(res.tsrun.status, 3, res.tsrun.stderr);
    assert.equal(res.tsrun.stdout, res.runc.stdout);
    assert.match(res.tsrun.stdout, new RegExp(`^uid=0\\(root\\) gid=0\\(root\\)[^\\n]*\\n\\s+0\\s+${user.uid}\\s+1\\n\\s+0\\s+${user.gid}\\s+1\\ndeny\\n`));
    assert.equal(res.tsrun.status, res.runc.status);
  });

  test('create, start, state, kill, delete', async () => {
    const res = besideRunc(sh('sleep 1000'), (r, id, bundle) => {
      const seen: string[] = [];
      const created = rt(r, ['create', '--bundle', bundle, id]);
      assert.equal(created.status, 0, created.stderr);
      const state = () => JSON.parse(rt(r, ['state', id]).stdout);
      seen.push(state().status);
      assert.equal(rt(r, ['start', id]).status, 0);
      const s = state();
      seen.push(s.status);
      // The init's host uid is the user's: root inside, mapped.
      assert.match(readFileSync(`/proc/${s.pid}/status`, 'utf8'), new RegExp(`\\nUid:\\s+${user.uid}\\s`));
      assert.equal(JSON.parse(rt(r, ['list', '--format', 'json']).stdout).some((c: any) => c.id === id), true);
      assert.equal(rt(r, ['kill', id, 'KILL']).status, 0);
      for (let i = 0; i < 200 && state().status !== 'stopped'; i++) spawnSleep(10);
      seen.push(state().status);
      const del = rt(r, ['delete', id]);
      assert.equal(del.status, 0, del.stderr);
      seen.push(String(rt(r, ['state', id]).status));
      return seen;
    });
    assert.deepEqual(res.tsrun, ['created', 'running', 'stopped', '1']);
    assert.deepEqual(res.tsrun, res.runc);
  });

  test('exec into a rootless container', () => {
    const res = besideRunc(sh('sleep 1000'), (r, id, bundle) => {
      assert.equal(rt(r, ['run', '-d', '--bundle', bundle, id]).status, 0);
      const e = rt(r, ['exec', id, 'sh', '-c', 'id; cat /proc/self/uid_map; echo $$; exit 5']);
      const env = rt(r, ['exec', '--env', 'A=b', '--cwd', '/tmp', id, 'sh', '-c', 'echo $A; pwd']);
      assert.equal(rt(r, ['delete', '--force', id]).status, 0);
      // stderr is not compared: runc 1.3 warns there about ambient capabilities it cannot raise.
      return { status: e.status, stdout: e.stdout.replace(/^\d+$/m, 'PID'), env: env.stdout };
    });
    assert.equal(res.tsrun.status, 5);
    assert.deepEqual(res.tsrun, res.runc);
  });

  test('exec --additional-gids in a rootless container is refused in runc 1.3\'s words, before anything starts', () => {
    const res = besideRunc(sh('sleep 1000'), (r, id, bundle) => {
      assert.equal(rt(r, ['run', '-d', '--bundle', bundle, id]).status, 0);
      const seen = ['5', '0'].map((g) => {
        const e = rt(r, ['exec', '--additional-gids', g, id, 'id']);
        return { status: e.status, stdout: e.stdout, message: errorMessage(e.stderr) };
      });
      // With --user too, and the container still takes execs afterwards.
      const withUser = rt(r, ['exec', '--user', '0:0', '-g', '1', id, 'true']);
      seen.push({ status: withUser.status, stdout: withUser.stdout, message: errorMessage(withUser.stderr) });
      const after = rt(r, ['exec', id, 'sh', '-c', 'echo still']);
      assert.equal(rt(r, ['delete', '--force', id]).status, 0);
      return { seen, after: after.stdout };
    });
    assert.deepEqual(res.tsrun.seen[0], { status: 255, stdout: '', message: 'exec failed: cannot set any additional groups in a rootless container' });
    assert.equal(res.tsrun.after, 'still\n');
    assert.deepEqual(res.tsrun, res.runc);
  });

  test('pause without a writable freezer is refused, with runc\'s warning and error', () => {
    const res = besideRunc(sh('sleep 1000'), (r, id, bundle) => {
      assert.equal(rt(r, ['run', '-d', '--bundle', bundle, id]).status, 0);
      const p = rt(r, ['pause', id]);
      const status = JSON.parse(rt(r, ['state', id]).stdout).status;
      assert.equal(rt(r, ['delete', '--force', id]).status, 0);
      return { status: p.status, state: status, error: errorMessage(p.stderr), warned: p.stderr.includes('level=warning msg="RUNTIME pause may fail if you don\'t have the full access to cgroups"') };
    });
    assert.deepEqual(res.tsrun, { status: 1, state: 'running', error: 'cannot toggle freezer: cgroups not configured for container', warned: true });
    // runc 1.1.5 warns as tsrun does; runc 1.3 no longer does.
    assert.deepEqual({ ...res.tsrun, warned: undefined }, { ...res.runc, warned: undefined });
  });

  test('a terminal through --console-socket', async () => {
    const out: Record<string, string> = {};
    for (const r of RUNTIMES) {
      const bundle = makeUserBundle(user, (c) => { c.process.terminal = true; c.process.args = ['sh', '-c', 'tty; stty size; echo done']; });
      const id = uniqueId(`rl-${r.name}`);
      const sock = join(bundle, 'console.sock');
      try {
        // The receiver runs as the user too: the socket is the user's.
        const child = spawn('setpriv', ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', 'python3', join(REPO, 'test/helpers/console-receiver.py'), sock, ''], { env: userEnv(user), stdio: ['ignore', 'pipe', 'inherit'] });
        let text = '';
        child.stdout.setEncoding('utf8');
        const exited = new Promise<void>((res) => child.on('exit', () => res()));
        const listening = new Promise<void>((res) => child.stdout.on('data', (d: string) => { text += d; if (text.startsWith('listening\n')) res(); }));
        await Promise.race([listening, exited]);
        const created = rt(r, ['run', '-d', '--console-socket', sock, '--bundle', bundle, id]);
        assert.equal(created.status, 0, created.stderr);
        await exited;
        const got = JSON.parse(text.split('\n')[1]);
        // runc's name for the master (runc 1.3 sends /dev/pts/ptmx; callers do not look at it).
        if (r.name === 'tsrun') assert.equal(got.name, '/dev/ptmx');
        out[r.name] = got.output.replace(/\r/g, '');
        assert.equal(rt(r, ['delete', '--force', id]).status, 0);
        assertNothingLeft(r, id, bundle);
      } finally {
        rt(r, ['delete', '--force', id]);
        rmSync(bundle, { recursive: true, force: true });
      }
    }
    assert.match(out.tsrun, /^\/dev\/pts\/0\n/);
    assert.equal(out.tsrun, out.runc);
  });

  test('a bind mount of the user\'s directory: files written inside belong to the user outside', () => {
    const res = besideRunc(sh('echo hi > /data/out; ls -ln /data | tail -n +2 | cut -c1-30; cat /proc/self/mountinfo | grep -c " /data "'), (r, id, bundle) => {
      return ((dir: string) => {
        const c = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
        c.mounts.push({ destination: '/data', type: 'bind', source: dir, options: ['rbind', 'rw'] });
        writeFileSync(join(bundle, 'config.json'), JSON.stringify(c));
        const run = rt(r, ['run', '--bundle', bundle, id]);
        const st = statSync(join(dir, 'out'));
        assert.equal(run.status, 0, run.stderr);
        return { run: run.stdout, status: run.status, owner: st.uid };
      })(dataDir(bundle));
    });
    assert.equal(res.tsrun.status, 0);
    assert.equal(res.tsrun.owner, user.uid);
    assert.deepEqual(res.tsrun, res.runc);
  });

  test('a multi-range id map through newuidmap/newgidmap (/etc/subuid, /etc/subgid)', () => {
    const script = 'cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id; touch /tmp/f; chown 1000:1000 /tmp/f && ls -ln /tmp/f | cut -c1-30';
    const res = besideRunc((c) => {
      sh(script)(c);
      c.root.readonly = false;
      for (const set of ['bounding', 'effective', 'permitted']) c.process.capabilities[set].push('CAP_CHOWN');
      c.linux.uidMappings = [{ containerID: 0, hostID: user.uid, size: 1 }, { containerID: 1, hostID: user.subuid.start, size: 65536 }];
      c.linux.gidMappings = [{ containerID: 0, hostID: user.gid, size: 1 }, { containerID: 1, hostID: user.subgid.start, size: 65536 }];
    }, (r, id, bundle) => {
      const run = rt(r, ['run', '--bundle', bundle, id]);
      assert.equal(run.status, 0, run.stderr);
      // The file chown'd to 1000 inside is subuid start + 999 outside.
      return { status: run.status, stdout: run.stdout, outside: statSync(join(bundle, 'rootfs/tmp/f')).uid };
    });
    assert.equal(res.tsrun.outside, user.subuid.start + 999);
    assert.match(res.tsrun.stdout, /\n\s+1\s+100000\s+65536\n/);
    assert.deepEqual(res.tsrun, res.runc);
  });

  test('a mapping outside the user\'s ranges is refused, naming /etc/subuid', () => {
    const res = besideRunc((c) => {
      c.linux.uidMappings = [{ containerID: 0, hostID: user.uid, size: 1 }, { containerID: 1, hostID: 5000, size: 10 }];
    }, (r, id, bundle) => rt(r, ['run', '--bundle', bundle, id]));
    assert.notEqual(res.tsrun.status, 0);
    assert.equal(res.tsrun.status, res.runc.status);
    assert.match(errorMessage(res.tsrun.stderr), /^RUNTIME run failed: rootless container: uid mapping 1:5000:10 is outside the user's own uid and tsrun-rootless's ranges in \/etc\/subuid \(\d+-\d+\)$/);
  });

  test('without a range in /etc/subgid a multi-range gid map is refused, naming /etc/subgid', () => {
    const res = besideRunc((c) => {
      c.linux.gidMappings = [{ containerID: 0, hostID: user.gid, size: 1 }, { containerID: 1, hostID: user.subgid.start + user.subgid.count, size: 10 }];
    }, (r, id, bundle) => rt(r, ['run', '--bundle', bundle, id]));
    assert.equal(res.tsrun.status, 1);
    assert.notEqual(res.runc.status, 0);
    assert.match(errorMessage(res.tsrun.stderr), /gid mapping 1:\d+:10 is outside the user's own gid and tsrun-rootless's ranges in \/etc\/subgid/);
  });

  test('without newuidmap in PATH a multi-range map is refused, naming newuidmap', () => {
    const res = besideRunc((c) => {
      c.linux.uidMappings = [{ containerID: 0, hostID: user.uid, size: 1 }, { containerID: 1, hostID: user.subuid.start, size: 100 }];
    }, (r, id, bundle) => rt(r, ['run', '--bundle', bundle, id], { env: { PATH: join(bundle, 'rootfs/nonexistent') } }));
    assert.equal(res.tsrun.status, 1);
    assert.notEqual(res.runc.status, 0);
    assert.match(errorMessage(res.tsrun.stderr), /the uid mappings need more than the user's own uid \(\d+\), which takes newuidmap \(package uidmap\), and newuidmap is not in PATH$/);
  });

  // runc 1.1.5 refuses both (gid= of an unmapped group; sysfs without owning the network
  // namespace); newer runc drops the option and binds /sys. Where runc runs them, the outcome must match.
  for (const [what, edit] of [
    ['devpts with gid=5 (unmapped) is mounted without gid=', (c: any) => { c.mounts.find((m: any) => m.destination === '/dev/pts').options.push('gid=5'); }],
    ['sysfs without a network namespace is the host\'s /sys bound read-only', (c: any) => {
      Object.assign(c.mounts.find((m: any) => m.destination === '/sys'), { type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] });
    }],
  ] as const) {
    test(what, () => {
      const res = besideRunc((c) => { edit(c); sh('awk \'$5=="/dev/pts"||$5=="/sys"{print $5, $6, $(NF-2), $NF}\' /proc/self/mountinfo; ls /sys/kernel >/dev/null && echo sys-ok')(c); },
        (r, id, bundle) => rt(r, ['run', '--bundle', bundle, id]));
      assert.equal(res.tsrun.status, 0, res.tsrun.stderr);
      assert.match(res.tsrun.stdout, /^\/dev\/pts rw,nosuid,noexec,relatime devpts rw,mode=620,ptmxmode=666\n/m);
      assert.match(res.tsrun.stdout, /^\/sys ro,nosuid,nodev,noexec,relatime sysfs rw\nsys-ok\n$/m);
      if (res.runc.status === 0) assert.equal(res.tsrun.stdout, res.runc.stdout);
    });
  }

  test('rlimits up to the user\'s own hard limit; above it refused as runc refuses it; hostname', () => {
    const hard = Number(spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim());
    const ok = besideRunc((c) => {
      c.process.rlimits = [{ type: 'RLIMIT_NOFILE', hard: Math.min(hard, 2048), soft: 1000 }];
      c.hostname = 'rootless-host';
      sh('ulimit -n; ulimit -Hn; hostname')(c);
    }, (r, id, bundle) => rt(r, ['run', '--bundle', bundle, id]));
    assert.equal(ok.tsrun.status, 0, ok.tsrun.stderr);
    assert.equal(ok.tsrun.stdout, `1000\n${Math.min(hard, 2048)}\nrootless-host\n`);
    assert.equal(ok.tsrun.stdout, ok.runc.stdout);
    const above = besideRunc((c) => { c.process.rlimits = [{ type: 'RLIMIT_NOFILE', hard: hard + 1, soft: hard + 1 }]; }, (r, id, bundle) => rt(r, ['run', '--bundle', bundle, id]));
    assert.equal(above.tsrun.status, 1);
    assert.equal(above.runc.status, 1);
    const words = 'unable to start container process: error during container init: error setting rlimits for ready process: error setting rlimit type 7';
    assert.ok(errorMessage(above.runc.stderr).startsWith(`RUNTIME run failed: ${words}: operation not permitted`), above.runc.stderr);
    assert.equal(errorMessage(above.tsrun.stderr), `RUNTIME run failed: ${words}: operation not permitted`);
  });

  test('a network namespace, a tmpfs mount and a seccomp filter', () => {
    const res = besideRunc((c) => {
      c.linux.namespaces.push({ type: 'network' });
      c.mounts.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'size=1m', 'mode=700'] });
      c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] };
      sh('cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "; awk \'$5=="/scratch"{print $5, $(NF-2), $NF}\' /proc/self/mountinfo; echo x > /scratch/f && cat /scratch/f; mkdir /scratch/d 2>&1; exit 0')(c);
    }, (r, id, bundle) => rt(r, ['run', '--bundle', bundle, id]));
    assert.equal(res.tsrun.status, 0, res.tsrun.stderr);
    assert.match(res.tsrun.stdout, /^lo\n\/scratch tmpfs rw,size=1024k,mode=700,uid=\d+,gid=\d+\nx\nmkdir: can't create directory '\/scratch\/d': Permission denied\n$/);
    assert.equal(res.tsrun.stdout, res.runc.stdout);
  });

  test('--rootless: a bad value, and false (cgroup permission errors not tolerated), as runc', () => {
    for (const flag of ['--rootless=maybe', '--rootless=false']) {
      const res = besideRunc(() => {}, (r, id, bundle) => rt(r, [flag, 'run', '--bundle', bundle, id]));
      assert.equal(res.tsrun.status, 1, flag);
      assert.equal(res.runc.status, 1, flag);
      const norm = (t: string) => errorMessage(t).replace(/rl-(tsrun|runc)-\d+-\d+/, 'ID');
      assert.equal(norm(res.tsrun.stderr), norm(res.runc.stderr), flag);
    }
  });

  test('a limit without a writable cgroup is refused with runc\'s error', () => {
    const res = besideRunc((c) => { c.linux.resources = { pids: { limit: 10 } }; }, (r, id, bundle) => rt(r, ['run', '--bundle', bundle, id]));
    assert.equal(res.tsrun.status, 1);
    assert.equal(res.runc.status, 1);
    // On this (hybrid) host: the pids cgroup cannot be made, so the limit cannot be written.
    assert.match(errorMessage(res.tsrun.stderr), /cannot set pids limit: container could not join or create cgroup$/);
    assert.equal(errorMessage(res.tsrun.stderr), errorMessage(res.runc.stderr));
  });
});

function spawnSleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A directory of the user's for a bind mount, beside the bundle. */
function dataDir(bundle: string): string {
  const dir = join(bundle, 'data');
  asUser(user, 'mkdir', [dir]);
  return dir;
}

void TSRUN;
