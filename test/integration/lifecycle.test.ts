import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { hasRunc, needsRoot, tsrun, tsrunAsync, waitForStatus, uniqueId, assertNothingLeft, processesIn, TSRUN } from '../helpers/harness.js';
import { fixture } from '../helpers/fixture.js';

const skip = needsRoot;

test('run in the foreground passes the exit status through', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  // pid 1 of a pid namespace ignores signals it has no handler for, even SIGKILL from inside.
  for (const [script, expected] of [['exit 7', 7], ['kill -9 $$; exit 3', 3], ['true', 0]] as const) {
    const bundle = f.bundle((c) => { c.process.args = ['sh', '-c', script]; });
    const id = f.id();
    const r = tsrun(['--root', root, 'run', '--bundle', bundle, id]);
    assert.equal(r.status, expected, `${script}: ${r.stderr}`);
    assertNothingLeft(root, id, bundle);
  }
});

test('run in the foreground exits 128+signal when the container is killed, and forwards signals', { skip }, async (t) => {
  const f = fixture(t);
  const root = f.root;
  const id = f.id();
  const bundle = f.bundle((c) => { c.process.args = ['sh', '-c', 'trap "exit 42" USR1; while :; do sleep 0.05; done']; });
  const running = tsrunAsync(['--root', root, 'run', '--bundle', bundle, id]);
  const waitFor = (status: string) => waitForStatus(root, id, status);
  await waitFor('running');
  assert.equal(tsrun(['--root', root, 'kill', id, 'KILL']).status, 0);
  const r = await running;
  assert.equal(r.status, 137, r.stderr);
  assertNothingLeft(root, id, bundle);

  const forwarded = tsrunAsync(['--root', root, 'run', '--bundle', bundle, id]);
  await waitFor('running');
  // Signals sent to tsrun run reach the container.
  const runPid = Number(readFileSync('/proc/self/stat', 'utf8').split(' ')[0]);
  void runPid;
  const tsrunPid = findTsrunRun(id);
  assert.ok(tsrunPid, 'the tsrun run process');
  process.kill(tsrunPid!, 'SIGUSR1');
  const r2 = await forwarded;
  assert.equal(r2.status, 42, r2.stderr);
  assertNothingLeft(root, id, bundle);
});

function findTsrunRun(id: string): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.endsWith('bin/tsrun')) && cmd.includes('run') && cmd.includes(id)) return Number(name);
    } catch { /* gone */ }
  }
  return undefined;
}

test('create, state, list, start, kill, delete behave as runc', { skip }, async (t) => {
  const f = fixture(t);
  const root = f.root;
  const bundle = f.bundle((c) => { c.process.args = ['sleep', '1000']; });
  const id = f.id();
  const pidFile = join(bundle, 'init.pid');
  let r = tsrun(['--root', root, 'create', '--bundle', bundle, '--pid-file', pidFile, id]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '');
  const pidText = readFileSync(pidFile, 'utf8');
  assert.match(pidText, /^\d+$/, 'pid file holds digits only, no newline');
  assert.equal(existsSync(join(bundle, '.init.pid')), false);
  const fifo = join(root, id, 'exec.fifo');
  assert.ok(statSync(fifo).isFIFO());
  assert.equal(statSync(fifo).mode & 0o777, 0o622);

  r = tsrun(['--root', root, 'state', id]);
  assert.equal(r.status, 0, r.stderr);
  const state = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(state), ['ociVersion', 'id', 'pid', 'status', 'bundle', 'rootfs', 'created', 'owner']);
  assert.equal(state.status, 'created');
  assert.equal(state.pid, Number(pidText));
  assert.equal(state.bundle, bundle);
  assert.equal(state.rootfs, join(bundle, 'rootfs'));
  assert.match(state.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  // The init waits in the container, before exec: its command is still the executor.
  assert.notEqual(readFileSync(`/proc/${state.pid}/cmdline`, 'utf8'), 'sleep\x001000\x00');

  r = tsrun(['--root', root, 'list', '--format', 'json']);
  const listed = JSON.parse(r.stdout);
  assert.equal(listed.length, 1);
  assert.equal(listed[0].owner, 'root');
  r = tsrun(['--root', root, 'list', '-q']);
  assert.equal(r.stdout, `${id}\n`);
  r = tsrun(['--root', root, 'list']);
  assert.match(r.stdout, /^ID +PID +STATUS +BUNDLE +CREATED +OWNER\n\S+ +\d+ +created +\//);

  r = tsrun(['--root', root, 'create', '--bundle', bundle, id]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /container with given ID already exists/);

  r = tsrun(['--root', root, 'start', id]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(existsSync(fifo), false, 'exec fifo removed after start');
  assert.equal(JSON.parse(tsrun(['--root', root, 'state', id]).stdout).status, 'running');
  assert.equal(readFileSync(`/proc/${state.pid}/cmdline`, 'utf8'), 'sleep\x001000\x00');

  r = tsrun(['--root', root, 'start', id]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot start an already running container/);

  r = tsrun(['--root', root, 'delete', id]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`cannot delete container ${id} that is not stopped: running`));

  r = tsrun(['--root', root, 'kill', id, 'FOO']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown signal \\"FOO\\"/);

  r = tsrun(['--root', root, 'kill', id, 'KILL']);
  assert.equal(r.status, 0, r.stderr);
  await waitForStatus(root, id, 'stopped');
  const stopped = JSON.parse(tsrun(['--root', root, 'state', id]).stdout);
  assert.equal(stopped.status, 'stopped');
  assert.equal(stopped.pid, 0);

  r = tsrun(['--root', root, 'kill', id, '9']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /container not running/);

  r = tsrun(['--root', root, 'delete', id]);
  assert.equal(r.status, 0, r.stderr);
  assertNothingLeft(root, id, bundle);

  r = tsrun(['--root', root, 'delete', id]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /container does not exist/);
  r = tsrun(['--root', root, 'delete', '--force', id]);
  assert.equal(r.status, 0, 'delete --force of an unknown id succeeds');
  r = tsrun(['--root', root, 'list', '--format', 'json']);
  assert.equal(r.stdout, 'null\n');
});

test('delete of a created container kills the waiting init', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const bundle = f.bundle();
  const id = f.id();
  assert.equal(tsrun(['--root', root, 'create', '--bundle', bundle, id]).status, 0);
  const pid = JSON.parse(tsrun(['--root', root, 'state', id]).stdout).pid;
  const r = tsrun(['--root', root, 'delete', id]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(processesIn(bundle).includes(pid), false);
  assertNothingLeft(root, id, bundle);
});

test('errors: one clear line, runc exit code, JSON in --log, nothing left behind', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const cases: { name: string; edit?: (c: any) => void; breakFile?: string; expect: RegExp }[] = [
    { name: 'missing binary', edit: (c) => { c.process.args = ['/nonexistent']; }, expect: /exec: "\/nonexistent": stat \/nonexistent: no such file or directory/ },
    { name: 'binary not in PATH', edit: (c) => { c.process.args = ['nonexistent-cmd']; }, expect: /executable file not found in \$PATH/ },
    { name: 'broken json', breakFile: '{"ociVersion": ', expect: /config\.json/ },
    { name: 'wrong type', edit: (c) => { c.process.args = 'sh'; }, expect: /\/process\/args/ },
    { name: 'missing rootfs', edit: (c) => { c.root.path = 'nope'; }, expect: /nope/ },
    { name: 'bad mount', edit: (c) => { c.mounts.push({ destination: '/x', type: 'nosuchfs', source: 'none' }); }, expect: /\/x/ },
  ];
  for (const k of cases) {
    const bundle = f.bundle(k.edit);
    if (k.breakFile) writeFileSync(join(bundle, 'config.json'), k.breakFile);
    const id = f.id();
    const logFile = join(bundle, 'log.json');
    const r = tsrun(['--root', root, '--log', logFile, '--log-format', 'json', 'create', '--bundle', bundle, id]);
    assert.equal(r.status, 1, `${k.name}: ${r.stderr}`);
    assert.match(r.stderr, k.expect, k.name);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${k.name}: one line on stderr: ${r.stderr}`);
    const lines = readFileSync(logFile, 'utf8').trim().split('\n');
    assert.equal(lines.length, 1, `${k.name}: one log line`);
    const entry = JSON.parse(lines[0]);
    assert.equal(entry.level, 'error');
    assert.match(entry.msg, k.expect);
    assert.match(entry.time, /Z$/);
    assertNothingLeft(root, id, bundle);
  }
  const r = tsrun(['--root', root, 'state', 'nope']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /level=error msg="container does not exist"/);
  assert.equal(tsrun(['--root', root, 'kill', 'nope', 'KILL']).status, 1);
  assert.equal(tsrun(['--root', root, 'create', 'bad/id']).status, 1);
});

test('version, help and features', () => {
  const v = tsrun(['--version']);
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^tsrun version \S+\ncommit: \S+\nspec: 1\.2\.0\n$/);
  assert.match(tsrun(['create', '--help']).stdout, /--pid-file/);
  const f = JSON.parse(tsrun(['features']).stdout);
  assert.ok(f.linux.namespaces.includes('time'));
  assert.equal(f.linux.seccomp.enabled, true);
  assert.ok(f.linux.seccomp.actions.includes('SCMP_ACT_ERRNO'));
  // The same hook list and seccomp actions as runc 1.1.5 reports: every one of them works here.
  assert.deepEqual(f.hooks, ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']);
  assert.ok(f.linux.seccomp.actions.includes('SCMP_ACT_NOTIFY'));
});

test('the caller of create becomes the container\'s parent when it is a subreaper (as containerd\'s shim is)', { skip }, async (t) => {
  const f = fixture(t);
  const { syscalls } = await import('../../runtime/sys/syscalls.js');
  syscalls().setChildSubreaper();
  const root = f.root;
  const bundle = f.bundle((c) => { c.process.args = ['sh', '-c', 'exit 5']; });
  const id = f.id();
  assert.equal((await tsrunAsync(['--root', root, 'create', '--bundle', bundle, id])).status, 0);
  const pid = JSON.parse(tsrun(['--root', root, 'state', id]).stdout).pid;
  const ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
  assert.equal(ppid, process.pid, 'no tsrun process stays between the caller and the container');
  assert.equal(tsrun(['--root', root, 'start', id]).status, 0);
  // The subreaper learns the exit status by reaping, as the shim does.
  assert.deepEqual(await syscalls().waitExit(pid), { code: 5, signal: 0 });
  assert.equal(tsrun(['--root', root, 'delete', id]).status, 0);
  assertNothingLeft(root, id, bundle);
});

test('runc\'s containers in the same --root are left alone (Docker and containerd share one root)', { skip: needsRoot || (hasRunc ? false : 'needs runc') }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const bundle = f.bundle((c) => { c.process.args = ['sleep', '1000']; });
  const ours = f.id();
  // runc's container: runc deletes it, before tsrun's teardown.
  const theirs = uniqueId('runc-test');
  f.defer(() => { spawnSync('runc', ['--root', root, 'delete', '--force', theirs], { stdio: 'ignore' }); });
  assert.equal(spawnSync('runc', ['--root', root, 'create', '--bundle', bundle, theirs], { stdio: 'ignore' }).status, 0);
  assert.equal(tsrun(['--root', root, 'create', '--bundle', bundle, ours]).status, 0);
  assert.equal(tsrun(['--root', root, 'list', '-q']).stdout, `${ours}\n`);
  const r = tsrun(['--root', root, 'create', '--bundle', bundle, theirs]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /container with given ID already exists/);
  assert.equal(tsrun(['--root', root, 'delete', '--force', ours]).status, 0);
  assertNothingLeft(root, ours, undefined);
});

test('pause and resume freeze the container; delete --force works on a paused one', { skip }, async (t) => {
  const f = fixture(t);
  const root = f.root;
  const bundle = f.bundle((c) => { c.process.args = ['sh', '-c', 'while :; do echo tick >> /tmp/ticks; sleep 0.02; done']; c.root.readonly = false; });
  const id = f.id();
  const status = () => JSON.parse(tsrun(['--root', root, 'state', id]).stdout).status;
  assert.equal(tsrun(['--root', root, 'run', '-d', '--bundle', bundle, id]).status, 0);
  let r = tsrun(['--root', root, 'resume', id]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /container not paused/);
  assert.equal(tsrun(['--root', root, 'pause', id]).status, 0);
  assert.equal(status(), 'paused');
  const ticks = join(bundle, 'rootfs', 'tmp', 'ticks');
  const frozenAt = readFileSync(ticks, 'utf8').length;
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(readFileSync(ticks, 'utf8').length, frozenAt, 'a paused container makes no progress');
  assert.equal(tsrun(['--root', root, 'resume', id]).status, 0);
  assert.equal(status(), 'running');
  await new Promise((res) => setTimeout(res, 200));
  assert.ok(readFileSync(ticks, 'utf8').length > frozenAt, 'it runs again after resume');
  assert.equal(tsrun(['--root', root, 'pause', id]).status, 0);
  r = tsrun(['--root', root, 'delete', id]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /that is not stopped: paused/);
  assert.equal(tsrun(['--root', root, 'delete', '--force', id]).status, 0);
  assertNothingLeft(root, id, bundle);
  r = tsrun(['--root', root, 'pause', id]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /container does not exist/);
});

test('a relative --root works (made absolute, as runc does)', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const bundle = f.bundle();
  const id = f.id(undefined, { root: join(root, 'state-here') });
  const r = tsrun(['--root', 'state-here', 'run', '--bundle', bundle, id], { cwd: root });
  assert.equal(r.status, 0, r.stderr);
  assertNothingLeft(join(root, 'state-here'), id, bundle);
});

test('run: a signal that arrives while the container is being created is passed on once it runs', { skip: needsRoot }, async (t) => {
  const f = fixture(t);
  const root = f.root;
  const id = f.id();
  const bundle = f.bundle((c) => {
    c.process.args = ['sleep', '4324'];
    // Not pid 1 of a namespace of its own, so SIGTERM's default action (terminate) applies at once.
    c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== 'pid');
    c.hooks = { prestart: [{ path: '/bin/sh', args: ['sh', '-c', `touch ${root}/in-hook; sleep 0.3`] }] };
  });
  const child = spawn(TSRUN, ['--root', root, 'run', '--bundle', bundle, id], { stdio: 'ignore' });
  const exited = new Promise<[number | null, string | null]>((r) => child.once('exit', (code, signal) => r([code, signal])));
  for (let i = 0; i < 500 && !existsSync(join(root, 'in-hook')); i++) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGTERM');
  // tsrun lives on, starts the container and hands it the signal: 128 + SIGTERM.
  assert.deepEqual(await exited, [143, null]);
  assertNothingLeft(root, id, bundle);
});
