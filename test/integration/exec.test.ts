import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, tsrun, assertNothingLeft, startDetached, removeDetached } from '../helpers/harness.js';
import { fixture } from '../helpers/fixture.js';

const skip = needsRoot;

// One running container serves the tests that do not change its state.
let root = '';
let id = '';
let bundle = '';
let initPid = 0;
let tmp = '';

const exec = (...args: string[]) => tsrun(['--root', root, 'exec', ...args]);

before(() => {
  if (skip) return;
  tmp = mkdtempSync(join(tmpdir(), 'tsrun-exec-'));
  ({ root, id, bundle, initPid } = startDetached((c) => {
    c.process.args = ['sleep', '1000'];
    c.process.env = ['PATH=/bin', 'FROMSPEC=1'];
    c.hostname = 'exec-host';
  }, 'tsrun-exec'));
});

after(() => {
  if (skip || !id) return;
  removeDetached({ root, id, bundle, initPid });
  rmSync(tmp, { recursive: true, force: true });
});

test('exec runs in the container\'s namespaces', { skip }, () => {
  const r = exec(id, 'sh', '-c', 'hostname; cut -d" " -f1 /proc/self/stat; readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt; ls /');
  assert.equal(r.status, 0, r.stderr);
  const [host, pid, pidns, mntns, ...ls] = r.stdout.trim().split('\n');
  assert.equal(host, 'exec-host');
  assert.ok(Number(pid) > 1 && Number(pid) < 100, `pid ${pid} is not in the container's pid namespace`);
  assert.equal(pidns, readlinkSync(`/proc/${initPid}/ns/pid`));
  assert.equal(mntns, readlinkSync(`/proc/${initPid}/ns/mnt`));
  assert.ok(ls.includes('bin') && ls.includes('proc'), ls.join(' '));
});

test('exec joins the container\'s cgroups', { skip }, () => {
  const pidFile = join(tmp, 'cg.pid');
  const r = exec('-d', '--pid-file', pidFile, id, 'sleep', '1000');
  assert.equal(r.status, 0, r.stderr);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  try {
    assert.equal(readFileSync(`/proc/${pid}/cgroup`, 'utf8'), readFileSync(`/proc/${initPid}/cgroup`, 'utf8'));
  } finally {
    process.kill(pid, 'SIGKILL');
  }
});

test('exec passes the exit status through', { skip }, () => {
  assert.equal(exec(id, 'sh', '-c', 'exit 7').status, 7);
  assert.equal(exec(id, 'true').status, 0);
  assert.equal(exec(id, 'sh', '-c', 'kill -9 $$').status, 137);
});

test('exec -e, --cwd and -u shape the process; the container\'s env is kept', { skip }, () => {
  const r = exec('-e', 'FOO=bar', '--cwd', '/tmp', '-u', '1000:1001', '--additional-gids', '7', id, 'sh', '-c', 'echo $FOO $FROMSPEC $HOME; pwd; id -u; id -g; id -G');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['bar 1 /', '/tmp', '1000', '1001', '1001 7']);
  // HOME comes from the container's passwd when the env has none (uid 1000 has no entry there)
  assert.equal(exec(id, 'sh', '-c', 'echo $HOME').stdout, '/root\n');
  const u = exec('-u', '1000', id, 'id', '-g');
  assert.equal(u.stdout.trim(), '0');
  const bad = exec('-u', 'abc', id, 'true');
  assert.equal(bad.status, 255);
  assert.match(bad.stderr, /exec failed: parsing abc as int for uid failed/);
  const rel = exec('--cwd', 'relative', id, 'true');
  assert.equal(rel.status, 255);
  assert.match(rel.stderr, /Cwd must be an absolute path/);
});

test('exec -c adds to the bounding, effective and permitted sets only', { skip }, () => {
  const without = exec(id, 'grep', '^Cap', '/proc/self/status');
  const withCap = exec('-c', 'CAP_SYS_ADMIN', id, 'grep', '^Cap', '/proc/self/status');
  assert.equal(withCap.status, 0, withCap.stderr);
  const caps = (text: string) => Object.fromEntries(text.trim().split('\n').map((l) => { const [k, v] = l.split(':'); return [k, BigInt('0x' + v.trim())]; }));
  const a = caps(without.stdout);
  const b = caps(withCap.stdout);
  const sysAdmin = 1n << 21n;
  for (const k of ['CapBnd', 'CapEff', 'CapPrm']) assert.equal(b[k], a[k] | sysAdmin, k);
  assert.equal(b.CapInh, a.CapInh);
  assert.equal(b.CapAmb, a.CapAmb);
});

test('exec --process reads a Process JSON file and ignores the flags it covers', { skip }, () => {
  const file = join(tmp, 'process.json');
  writeFileSync(file, JSON.stringify({ args: ['sh', '-c', 'echo $A $FOO; id -u; pwd'], env: ['A=b', 'PATH=/bin'], cwd: '/etc', user: { uid: 5, gid: 6 } }));
  const r = exec('--process', file, '-e', 'FOO=x', '--cwd', '/tmp', '--tty=false', id, 'ignored');
  rmSync(file); // as the shim does right after tsrun exits
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['b', '5', '/etc']);
});

test('exec --detach returns at once and writes the pid file; the pid shows in ps', { skip }, () => {
  const pidFile = join(tmp, 'exec.pid');
  const r = exec('-d', '--pid-file', pidFile, id, 'sleep', '1000');
  assert.equal(r.status, 0, r.stderr);
  const text = readFileSync(pidFile, 'utf8');
  assert.match(text, /^\d+$/);
  const pid = Number(text);
  const ps = tsrun(['--root', root, 'ps', '--format', 'json', id]);
  assert.equal(ps.status, 0, ps.stderr);
  const pids = JSON.parse(ps.stdout) as number[];
  assert.ok(pids.includes(pid) && pids.includes(initPid), ps.stdout);
  process.kill(pid, 'SIGKILL');
});

test('exec of a missing binary fails with 255 and runc\'s message', { skip }, () => {
  const r = exec(id, '/nonexistent');
  assert.equal(r.status, 255);
  assert.match(r.stderr, /exec failed: unable to start container process: exec: \\"\/nonexistent\\": stat \/nonexistent: no such file or directory/);
  const empty = exec(id);
  assert.equal(empty.status, 255);
  assert.match(empty.stderr, /exec failed: process args cannot be empty/);
});

test('exec refuses a detached terminal without a console socket, and a socket without one', { skip }, () => {
  const t = exec('-d', '-t', id, 'true');
  assert.equal(t.status, 255);
  assert.match(t.stderr, /exec failed: cannot allocate tty if tsrun will detach without setting console socket/);
  const file = join(tmp, 'tty.json');
  writeFileSync(file, JSON.stringify({ terminal: true, args: ['true'], cwd: '/' }));
  const p = exec('--process', file, '--console-socket', join(tmp, 'nosock'), id);
  assert.equal(p.status, 255);
  assert.match(p.stderr, /exec failed: cannot use console socket if tsrun will not detach or allocate tty/);
  const c = exec('--console-socket', join(tmp, 'nosock'), id, 'true');
  assert.equal(c.status, 255);
  assert.match(c.stderr, /cannot use console socket/);
});

test('exec in a paused container fails with 255', { skip }, () => {
  const state = JSON.parse(readFileSync(join(root, id, 'tsrun-state.json'), 'utf8'));
  const freezer = state.cgroup?.paths?.freezer as string | undefined;
  if (!freezer) return;
  writeFileSync(join(freezer, 'freezer.state'), 'FROZEN');
  try {
    const r = exec(id, 'true');
    assert.equal(r.status, 255);
    assert.match(r.stderr, /exec failed: cannot exec in a paused container \(use --ignore-paused to override\)/);
  } finally {
    writeFileSync(join(freezer, 'freezer.state'), 'THAWED');
  }
  assert.equal(exec(id, 'true').status, 0);
});

test('exec into an unknown, a created and a stopped container', { skip }, (t) => {
  const f = fixture(t);
  const unknown = exec('no-such-container', 'true');
  assert.equal(unknown.status, 255);
  assert.match(unknown.stderr, /exec failed: container does not exist/);

  const other = f.id('tsrun-exec', { root });
  const b = f.bundle((c) => { c.process.args = ['sleep', '1000']; });
  assert.equal(tsrun(['--root', root, 'create', '--bundle', b, other]).status, 0);
  const created = exec(other, 'echo', 'hi');
  assert.equal(created.status, 0, created.stderr);
  assert.equal(created.stdout, 'hi\n');
  assert.equal(tsrun(['--root', root, 'start', other]).status, 0);
  assert.equal(tsrun(['--root', root, 'kill', other, 'KILL']).status, 0);
  for (let i = 0; i < 500; i++) {
    if (JSON.parse(tsrun(['--root', root, 'state', other]).stdout).status === 'stopped') break;
  }
  const stopped = exec(other, 'true');
  assert.equal(stopped.status, 255);
  assert.match(stopped.stderr, /exec failed: cannot exec in a stopped container/);
  assert.equal(tsrun(['--root', root, 'delete', other]).status, 0);
  assertNothingLeft(root, other, b);
  assert.equal(existsSync(join(root, other)), false);
});

test('exec applies the container\'s seccomp filter to the new process', { skip }, (t) => {
  const f = fixture(t);
  const features = JSON.parse(tsrun(['features']).stdout);
  if (!features.linux?.seccomp?.enabled) { t.skip('this tsrun has no seccomp support'); return; }
  const other = f.id('tsrun-exec', { root });
  const b = f.bundle((c) => {
    c.process.args = ['sleep', '1000'];
    c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] };
  });
  const r = tsrun(['--root', root, 'run', '-d', '--bundle', b, other]);
  assert.equal(r.status, 0, r.stderr);
  const e = exec(other, 'sh', '-c', 'mkdir /tmp/x 2>/dev/null; echo $?; grep ^Seccomp: /proc/self/status');
  assert.equal(e.status, 0, e.stderr);
  assert.deepEqual(e.stdout.trim().split('\n').map((l) => l.replace(/\s+/g, ' ')), ['1', 'Seccomp: 2']);
  assert.equal(tsrun(['--root', root, 'delete', '--force', other]).status, 0);
  assertNothingLeft(root, other, b);
});
