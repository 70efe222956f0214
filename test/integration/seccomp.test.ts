import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { needsRoot, tsrun, REPO, runContainer } from '../helpers/harness.js';
import { fixture } from '../helpers/fixture.js';

const skip = needsRoot;

function runWith(seccomp: unknown, script: string | string[], edit?: (c: any) => void) {
  return runContainer((c) => { c.process.args = Array.isArray(script) ? script : ['sh', '-c', script]; c.root.readonly = false; c.linux.seccomp = seccomp; edit?.(c); }, { idPrefix: 'tsrun-seccomp' });
}

test('ERRNO rules give their errno; other syscalls pass', { skip }, () => {
  const seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] };
  const r = runWith(seccomp, 'mkdir /tmp/x; echo status=$?; touch /tmp/y && echo touched');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /Permission denied/);
  assert.match(r.stdout, /status=1\n/);
  assert.match(r.stdout, /touched/);
});

test('also without no_new_privs (installed before the identity switch)', { skip }, () => {
  const seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] };
  const r = runWith(seccomp, 'mkdir /tmp/x; echo status=$?', (c) => { c.process.noNewPrivileges = false; });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /Permission denied/);
});

test('a conditioned rule: personality(0) allowed, other personalities refused', { skip }, () => {
  const seccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [
      { names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, op: 'SCMP_CMP_NE', value: 0 }] },
    ],
  };
  const r = runWith(seccomp, 'linux64 echo sixty-four; linux32 echo thirty-two; echo status=$?');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /sixty-four/);
  assert.doesNotMatch(r.stdout, /thirty-two/);
  assert.match(r.stdout + r.stderr, /Operation not permitted/);
});

test('KILL_PROCESS kills with SIGSYS: run exits 159', { skip }, () => {
  const seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['sync'], action: 'SCMP_ACT_KILL_PROCESS' }] };
  const r = runWith(seccomp, ['sync']);
  assert.equal(r.status, 128 + 31, r.stderr);
  // and a child killed so is seen by its shell
  const sh = runWith(seccomp, 'sync; echo status=$?');
  assert.match(sh.stdout, /status=159/);
});

test('LOG does not block', { skip }, () => {
  const seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_LOG' }] };
  const r = runWith(seccomp, 'mkdir /tmp/x && echo made');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /made/);
});

test("Docker's default profile runs busybox sh and refuses what it should", { skip }, () => {
  const seccomp = JSON.parse(readFileSync(join(REPO, 'test/fixtures/docker-default-seccomp.json'), 'utf8'));
  const r = runWith(seccomp, 'mkdir /tmp/d && echo made; unshare -U true || echo no-unshare');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /made/);
  assert.match(r.stdout, /no-unshare/);
});

test('a profile naming unknown syscalls still runs', { skip }, () => {
  const r = runWith({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['no_such_syscall'], action: 'SCMP_ACT_KILL' }] }, 'echo fine');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /fine/);
});

test('every filter flag the kernel has is accepted', { skip }, () => {
  const flags = ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'];
  const r = runWith({ defaultAction: 'SCMP_ACT_ALLOW', flags, syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] }, 'mkdir /tmp/x; echo status=$?');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /status=1/);
});

// ---- SCMP_ACT_NOTIFY: the listener fd goes to a seccomp agent (test/helpers/seccomp-agent.py)

interface Agent { socket: string; log: string; stop(): void; received(): { state: any; fds: number }[] }

function startAgent(): Agent {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-agent-'));
  const socket = join(dir, 'agent.sock'), log = join(dir, 'log');
  const child = spawn('/usr/bin/python3', [join(REPO, 'test/helpers/seccomp-agent.py'), socket, log], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 500 && !existsSync(log); i++) spawnSync('sleep', ['0.01']);
  assert.ok(existsSync(log), 'the seccomp agent did not start');
  return {
    socket, log,
    stop() { child.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }); },
    received: () => readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)),
  };
}

/** The executor's hand-over helpers still around, zombies included. */
function helpers(): string[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'tsrun-seccomp'; } catch { return false; }
  });
}

const notifyMkdir = (agent: Agent, metadata?: string) => ({
  defaultAction: 'SCMP_ACT_ALLOW',
  listenerPath: agent.socket,
  ...(metadata ? { listenerMetadata: metadata } : {}),
  syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }],
});

test('NOTIFY: the agent gets the state and the listener fd, and answers mkdir', { skip }, () => {
  const agent = startAgent();
  try {
    // errno=71 (EPROTO): the agent fails the notified syscall with it
    const r = runWith(notifyMkdir(agent, 'errno=71'), 'mkdir /tmp/x; echo status=$?; touch /tmp/y && echo touched',
      (c) => { c.annotations = { 'org.example/k': 'v' }; });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /Protocol error/);
    assert.match(r.stdout, /status=1\n/);
    assert.match(r.stdout, /touched/);
    const [got, ...more] = agent.received();
    assert.equal(more.length, 0);
    assert.equal(got!.fds, 1);
    const s = got!.state;
    assert.deepEqual(Object.keys(s), ['ociVersion', 'fds', 'pid', 'metadata', 'state']);
    assert.deepEqual(s.fds, ['seccompFd']);
    assert.equal(s.metadata, 'errno=71');
    assert.ok(Number.isInteger(s.pid) && s.pid > 1);
    assert.equal(s.state.status, 'creating');
    assert.equal(s.state.pid, s.pid);
    assert.match(s.state.id, /^tsrun-seccomp-/);
    assert.ok(s.state.bundle.startsWith(tmpdir()));
    assert.deepEqual(s.state.annotations, { 'org.example/k': 'v' });
    assert.equal(s.ociVersion, s.state.ociVersion);

    // without metadata the agent lets the syscall go on
    const ok = runWith(notifyMkdir(agent), 'mkdir /tmp/x && echo made', (c) => { c.process.noNewPrivileges = false; });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /made/);
    assert.equal(agent.received().length, 2);
    assert.equal('metadata' in agent.received()[1]!.state, false);

    // in a user namespace, as a non-root user: the executor still takes the fd out of the init
    const map = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const userns = runWith(notifyMkdir(agent, 'errno=71'), 'mkdir /x; echo status=$? uid=$(id -u)', (c) => {
      c.linux.namespaces.push({ type: 'user' });
      c.linux.uidMappings = map;
      c.linux.gidMappings = map;
      c.process.user = { uid: 1000, gid: 1000 };
      c.process.noNewPrivileges = false;
    });
    assert.equal(userns.status, 0, userns.stderr);
    assert.match(userns.stdout + userns.stderr, /Protocol error/);
    assert.match(userns.stdout, /status=1 uid=1000/);
    assert.equal(agent.received().length, 3);
    assert.deepEqual(helpers(), []);
  } finally {
    agent.stop();
  }
});

test('NOTIFY with tsrun exec: the exec\'d process has its own listener, status running', { skip }, async (t) => {
  const f = fixture(t);
  const agent = startAgent();
  f.defer(() => agent.stop());
  const root = f.root;
  // with a user namespace: the executor, inside it for exec, still takes the fd out of the process
  const map = [{ containerID: 0, hostID: 100000, size: 65536 }];
  const bundle = f.bundle((c) => {
    c.process.args = ['sleep', '1000'];
    c.linux.seccomp = notifyMkdir(agent, 'errno=95');
    c.linux.namespaces.push({ type: 'user' });
    c.linux.uidMappings = map;
    c.linux.gidMappings = map;
  });
  const id = f.id('tsrun-seccomp-exec');
  assert.equal(tsrun(['--root', root, 'run', '-d', '--bundle', bundle, id]).status, 0);
  const init = agent.received()[0]!.state;
  const r = tsrun(['--root', root, 'exec', id, 'sh', '-c', 'mkdir /tmp/e; echo status=$?']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /Operation not supported/);
  assert.match(r.stdout, /status=1/);
  const [, got] = agent.received();
  assert.ok(got, 'the agent got nothing for exec');
  assert.equal(got.state.state.status, 'running');
  assert.equal(got.state.state.pid, init.pid);
  assert.notEqual(got.state.pid, init.pid);
  assert.equal(got.state.state.id, id);
});

test('NOTIFY without an agent listening: one clear error, nothing left behind', { skip }, () => {
  const missing = join(tmpdir(), `tsrun-no-agent-${process.pid}.sock`);
  const r = runWith({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: missing, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] }, 'echo never');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, new RegExp(`failed to connect with seccomp agent specified in the seccomp profile: dial unix ${missing}: connect: no such file or directory`));
  assert.doesNotMatch(r.stdout, /never/);
  // an agent that takes the connection and goes away before the fd comes
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-agent-'));
  try {
    const sock = join(dir, 's');
    const gone = spawn('/usr/bin/python3', ['-c', `import socket,sys,os\ns=socket.socket(socket.AF_UNIX);s.bind(sys.argv[1]);s.listen(1);open(sys.argv[1]+'.up','w').close();c,_=s.accept();os._exit(0)`, sock], { stdio: 'ignore' });
    for (let i = 0; i < 500 && !existsSync(sock + '.up'); i++) spawnSync('sleep', ['0.01']);
    const r2 = runWith({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: sock, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] }, 'echo never');
    gone.kill('SIGKILL');
    assert.notEqual(r2.status, 0);
    assert.match(r2.stderr, /cannot send seccomp fd to .*: (broken pipe|connection reset by peer)/);
    assert.doesNotMatch(r2.stdout, /never/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // the executor fails after starting its hand-over helper: the helper goes too
  const agent = startAgent();
  try {
    const bad = runWith(notifyMkdir(agent), 'echo never', (c) => { c.linux.namespaces.push({ type: 'network', path: '/proc/self/ns/no-such-ns' }); });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /no-such-ns/);
    assert.deepEqual(helpers(), []);
  } finally {
    agent.stop();
  }
  // and NOTIFY without listenerPath is refused up front
  const n = runWith({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] }, 'echo never');
  assert.notEqual(n.status, 0);
  assert.match(n.stderr, /listenerPath is not set/);
});
