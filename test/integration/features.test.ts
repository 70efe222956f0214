import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot, tsrun, assertNothingLeft, runContainer, TSRUN } from '../helpers/harness.js';
import { fixture } from '../helpers/fixture.js';

const skip = needsRoot;

function runIn(edit: (c: any) => void, extraArgs: string[] = []) {
  return runContainer(edit, { args: extraArgs });
}

function hookScript(dir: string, name: string, body = ''): string {
  const path = join(dir, `${name}.sh`);
  writeFileSync(path, `#!/bin/sh\ncat > ${dir}/${name}.json\npid=$(sed 's/.*"pid":\\([0-9]*\\).*/\\1/' ${dir}/${name}.json)\n[ "$pid" -gt 0 ] 2>/dev/null && readlink /proc/$pid/ns/net > ${dir}/${name}.netns\necho "$@" > ${dir}/${name}.args\nenv > ${dir}/${name}.env\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

test('hooks run at their points with the state on stdin, args and env', { skip }, (t) => {
  const f = fixture(t);
  const dir = f.dir('tsrun-hooks-');
  const root = f.root;
  const id = f.id();
  const hook = (name: string) => ({ path: hookScript(dir, name), args: [`${name}-hook`, 'a1', 'a2'], env: [`HOOK=${name}`] });
  const bundle = f.bundle((c) => {
    c.process.args = ['sleep', '1000'];
    c.hooks = { prestart: [hook('prestart')], createRuntime: [hook('createRuntime')], poststart: [hook('poststart')], poststop: [hook('poststop')] };
  });
  assert.equal(tsrun(['--root', root, 'create', '--bundle', bundle, id]).status, 0);
  const pid = JSON.parse(tsrun(['--root', root, 'state', id]).stdout).pid;
  const containerNet = readlinkSync(`/proc/${pid}/ns/net`);
  for (const name of ['prestart', 'createRuntime']) {
    const state = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
    assert.equal(state.status, 'creating', name);
    assert.equal(state.id, id);
    assert.equal(state.pid, pid);
    assert.equal(state.bundle, bundle);
    // The hook runs in the runtime's namespaces and sees the container's network namespace, as libnetwork-setkey needs.
    assert.equal(readFileSync(join(dir, `${name}.netns`), 'utf8').trim(), containerNet);
    assert.notEqual(containerNet, readlinkSync('/proc/self/ns/net'));
    assert.equal(readFileSync(join(dir, `${name}.args`), 'utf8').trim(), 'a1 a2');
    assert.match(readFileSync(join(dir, `${name}.env`), 'utf8'), new RegExp(`^HOOK=${name}$`, 'm'));
  }
  assert.equal(existsSync(join(dir, 'poststart.json')), false);
  assert.equal(tsrun(['--root', root, 'start', id]).status, 0);
  assert.equal(JSON.parse(readFileSync(join(dir, 'poststart.json'), 'utf8')).status, 'running');
  assert.equal(tsrun(['--root', root, 'delete', '--force', id]).status, 0);
  assert.equal(JSON.parse(readFileSync(join(dir, 'poststop.json'), 'utf8')).status, 'stopped');
  assertNothingLeft(root, id, bundle);
});

test('a failing prestart hook aborts create and leaves nothing; a hook past its timeout is killed', { skip }, (t) => {
  const f = fixture(t);
  const dir = f.dir('tsrun-hooks-');
  const root = f.root;
  for (const [body, timeout, expect] of [['exit 3', undefined, /error running prestart hook #0: error running hook: exit status 3, stdout: , stderr: "$/m], ['sleep 30', 1, /error running prestart hook #0: hook ran past specified timeout of 1\.0s"$/m]] as const) {
    const id = f.id();
    const bundle = f.bundle((c) => {
      c.hooks = { prestart: [{ path: hookScript(dir, 'bad', body), ...(timeout ? { timeout } : {}) }] };
    });
    const r = tsrun(['--root', root, 'create', '--bundle', bundle, id]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, expect);
    assertNothingLeft(root, id, bundle);
  }
});

test('linux.devices are created with their type, numbers and mode', { skip }, () => {
  const r = runIn((c) => {
    c.process.args = ['sh', '-c', 'ls -ln /dev/fuse /dev/custom-null'];
    c.linux.devices = [
      { path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o640, uid: 5, gid: 6 },
      { path: '/dev/custom-null', type: 'c', major: 1, minor: 3 },
    ];
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^crw-r----- +1 5 +6 +10, +229 .* \/dev\/fuse$/m);
  assert.match(r.stdout, /^crw-rw-rw- +1 0 +0 +1, +3 .* \/dev\/custom-null$/m);
});

test('/dev/ptmx listed in linux.devices (a privileged container) still ends up runc\'s pts/ptmx link', { skip }, () => {
  const r = runIn((c) => {
    c.process.args = ['sh', '-c', 'readlink /dev/ptmx; ls -l /dev/fuse | cut -c1'];
    c.linux.devices = [{ path: '/dev/ptmx', type: 'c', major: 5, minor: 2, fileMode: 0o666 }, { path: '/dev/fuse', type: 'c', major: 10, minor: 229 }];
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'pts/ptmx\nc\n');
});

test('--preserve-fds hands extra fds to the container', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const bundle = f.bundle((c) => { c.process.args = ['sh', '-c', 'echo through-fd-3 >&3; ls /proc/self/fd | sort -n | tr "\\n" " "']; });
  const id = f.id();
  const extra = join(bundle, 'extra');
  const fd = openSync(extra, 'w');
  try {
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const r = spawnSync(TSRUN, ['--root', root, 'run', '--preserve-fds', '1', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe', fd], encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(extra, 'utf8'), 'through-fd-3\n');
    assert.equal(r.stdout.trim(), '0 1 2 3 4');
    assertNothingLeft(root, id, bundle);
  } finally {
    closeSync(fd);
  }
});

test('oomScoreAdj, personality, scheduler, ioPriority and CPU affinity reach the process', { skip }, () => {
  const r = runIn((c) => {
    c.process.args = ['sh', '-c', 'cat /proc/self/oom_score_adj; uname -m; grep -E "^policy" /proc/self/sched; grep Cpus_allowed_list /proc/self/status'];
    c.process.oomScoreAdj = 500;
    c.linux.personality = { domain: 'LINUX32' };
    c.process.scheduler = { policy: 'SCHED_BATCH', nice: 5 };
    c.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 6 };
    c.process.execCPUAffinity = { final: '0' };
  });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], '500');
  assert.equal(lines[1], 'i686');
  assert.match(lines[2], /policy\s*:\s*3/);
  assert.match(lines[3], /Cpus_allowed_list:\s*0$/);
});

test('the executor cannot be overwritten through /proc/PID/exe of a waiting container', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const bundle = f.bundle();
  const id = f.id();
  assert.equal(tsrun(['--root', root, 'create', '--bundle', bundle, id]).status, 0);
  const pid = JSON.parse(tsrun(['--root', root, 'state', id]).stdout).pid;
  assert.match(readlinkSync(`/proc/${pid}/exe`), /^\/memfd:/);
  assert.throws(() => openSync(`/proc/${pid}/exe`, 'r+'), /EPERM|ETXTBSY|EACCES/);
  assert.equal(tsrun(['--root', root, 'delete', '--force', id]).status, 0);
  assertNothingLeft(root, id, bundle);
});

test('bind mounts: read-only, recursive read-only (rro) reaching submounts, propagation', { skip }, (t) => {
  const f = fixture(t);
  const src = f.dir('tsrun-bind-');
  mkdirSync(join(src, 'sub'));
  writeFileSync(join(src, 'file'), 'hello');
  spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', join(src, 'sub')]);
  f.defer(() => { spawnSync('umount', [join(src, 'sub')]); });
  const r = runIn((c) => {
    c.process.args = ['sh', '-c', 'cat /ro/file; touch /ro/x 2>/dev/null && echo ro-writable; touch /rro/sub/x 2>/dev/null && echo rro-sub-writable; touch /rbind/sub/x && echo rbind-sub-writable; grep -E " /(ro|rro|rbind) " /proc/self/mountinfo | cut -d" " -f5,6'];
    c.mounts.push({ destination: '/ro', type: 'bind', source: src, options: ['bind', 'ro'] });
    c.mounts.push({ destination: '/rro', type: 'bind', source: src, options: ['rbind', 'rro'] });
    c.mounts.push({ destination: '/rbind', type: 'bind', source: src, options: ['rbind', 'rprivate'] });
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^hello/);
  assert.doesNotMatch(r.stdout, /ro-writable|rro-sub-writable/);
  assert.match(r.stdout, /rbind-sub-writable/);
  assert.match(r.stdout, /\/ro ro,/);
});

test('pid file given relative to the caller\'s directory', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const bundle = f.bundle();
  const id = f.id();
  const r = tsrun(['--root', root, 'create', '--bundle', bundle, '--pid-file', 'rel.pid', id], { cwd: bundle });
  assert.equal(r.status, 0, r.stderr);
  assert.match(readFileSync(join(bundle, 'rel.pid'), 'utf8'), /^\d+$/);
  assert.equal(tsrun(['--root', root, 'delete', '--force', id]).status, 0);
  assertNothingLeft(root, id, bundle);
});
