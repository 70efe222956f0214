// The hooks the container init runs itself: createContainer (before the root change, in the
// container's namespaces, from the rootfs directory) and startContainer (after `start`, inside the
// container's root, as the container's user).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { needsRoot, tsrun, assertNothingLeft, TSRUN } from '../helpers/harness.js';
import { fixture } from '../helpers/fixture.js';

const skip = needsRoot;

/** A shell script that records its stdin, cwd, namespaces, identity, args and environment under `out`. */
function recorder(path: string, out: string, extra = ''): void {
  writeFileSync(path, [
    '#!/bin/sh',
    `cat > ${out}/state.json`,
    `pwd > ${out}/cwd`,
    `readlink /proc/self/ns/mnt > ${out}/mntns`,
    `readlink /proc/self/ns/pid > ${out}/pidns`,
    `id -u > ${out}/uid`,
    `echo "$@" > ${out}/args`,
    `env > ${out}/env`,
    extra,
    '',
  ].join('\n'));
  chmodSync(path, 0o755);
}

/** Waits for a line written by the container: the shell creates the file before it writes to it. */
async function waitForLine(path: string): Promise<string> {
  for (let i = 0; i < 500; i++) {
    const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    if (text.endsWith('\n')) return text;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`${path} never got a whole line`);
}

test('createContainer runs in the container\'s namespaces before the root change, with the state on stdin', { skip }, (t) => {
  const f = fixture(t);
  const out = f.dir('tsrun-cc-');
  const root = f.root;
  const id = f.id();
  const script = join(out, 'hook.sh');
  recorder(script, out);
  const bundle = f.bundle((c) => {
    c.process.args = ['sleep', '1000'];
    c.process.env.push('FROM_PROCESS=yes');
    c.annotations = { 'org.example.a': 'b' };
    c.hooks = { createContainer: [{ path: script, args: ['cc-hook', 'x1'] }] };
  });
  const r = tsrun(['--root', root, 'create', '--bundle', bundle, id]);
  assert.equal(r.status, 0, r.stderr);
  const pid = JSON.parse(tsrun(['--root', root, 'state', id]).stdout).pid;
  // runc's State: these fields in this order; pid is the init's own pid in its pid namespace.
  assert.equal(readFileSync(join(out, 'state.json'), 'utf8'),
    JSON.stringify({ ociVersion: '1.0.2-dev', id, status: 'creating', pid: 1, bundle, annotations: { 'org.example.a': 'b' } }));
  assert.equal(readFileSync(join(out, 'cwd'), 'utf8').trim(), join(bundle, 'rootfs'));
  assert.equal(readFileSync(join(out, 'mntns'), 'utf8').trim(), readlinkSync(`/proc/${pid}/ns/mnt`));
  assert.notEqual(readFileSync(join(out, 'mntns'), 'utf8').trim(), readlinkSync('/proc/self/ns/mnt'));
  assert.equal(readFileSync(join(out, 'pidns'), 'utf8').trim(), readlinkSync(`/proc/${pid}/ns/pid`));
  // (argv[0] is lost to the #! interpreter: only the arguments can be checked.)
  assert.equal(readFileSync(join(out, 'args'), 'utf8').trim(), 'x1');
  // No env in the hook: the container process's environment, as runc's init has it.
  assert.match(readFileSync(join(out, 'env'), 'utf8'), /^FROM_PROCESS=yes$/m);
  assert.equal(tsrun(['--root', root, 'delete', '--force', id]).status, 0);
  assertNothingLeft(root, id, bundle);
});

test('startContainer runs after start, inside the container root, as the container user, before the program', { skip }, async (t) => {
  const f = fixture(t);
  const out = f.dir('tsrun-sc-');
  chmodSync(out, 0o777);
  const root = f.root;
  const id = f.id();
  const bundle = f.bundle((c) => {
    c.process.user = { uid: 1000, gid: 1000 };
    c.process.args = ['sh', '-c', 'test -f /hookout/state.json && echo seen > /hookout/program; sleep 1000'];
    c.mounts.push({ destination: '/hookout', type: 'bind', source: out, options: ['rbind', 'rw'] });
    c.hooks = { startContainer: [{ path: '/hook.sh', env: ['ONLY=this'] }] };
  });
  // The path resolves inside the container: the script lives in its rootfs, /hookout is the host dir.
  recorder(join(bundle, 'rootfs', 'hook.sh'), '/hookout');
  assert.equal(tsrun(['--root', root, 'create', '--bundle', bundle, id]).status, 0);
  assert.equal(existsSync(join(out, 'state.json')), false, 'startContainer ran before start');
  const pid = JSON.parse(tsrun(['--root', root, 'state', id]).stdout).pid;
  assert.equal(tsrun(['--root', root, 'start', id]).status, 0);
  assert.equal((await waitForLine(join(out, 'program'))).trim(), 'seen');
  const state = JSON.parse(readFileSync(join(out, 'state.json'), 'utf8'));
  assert.deepEqual(state, { ociVersion: '1.0.2-dev', id, status: 'created', pid: 1, bundle });
  assert.equal(readFileSync(join(out, 'cwd'), 'utf8').trim(), '/');
  assert.equal(readFileSync(join(out, 'mntns'), 'utf8').trim(), readlinkSync(`/proc/${pid}/ns/mnt`));
  assert.equal(readFileSync(join(out, 'uid'), 'utf8').trim(), '1000');
  assert.equal(readFileSync(join(out, 'env'), 'utf8').split('\n').filter((l) => l && !/^(PWD|SHLVL|_|PATH)=/.test(l)).join('\n'), 'ONLY=this');
  assert.equal(tsrun(['--root', root, 'delete', '--force', id]).status, 0);
  assertNothingLeft(root, id, bundle);
});

test('a failing or slow createContainer hook aborts create with runc\'s message and leaves nothing', { skip }, (t) => {
  const f = fixture(t);
  const dir = f.dir('tsrun-ccfail-');
  const root = f.root;
  const cases: Array<[string, number | undefined, RegExp]> = [
    ['echo out-text; echo err-text >&2; exit 3', undefined, /error running createContainer hook #1: error running hook: exit status 3, stdout: out-text\\n, stderr: err-text\\n"$/m],
    ['kill -TERM $$', undefined, /error running createContainer hook #1: error running hook: signal: terminated, stdout: , stderr: "$/m],
    ['sleep 30', 1, /error running createContainer hook #1: hook ran past specified timeout of 1\.0s"$/m],
  ];
  for (const [body, timeout, expect] of cases) {
    const id = f.id();
    const ok = join(dir, 'ok.sh');
    const bad = join(dir, `bad-${id}.sh`);
    writeFileSync(ok, '#!/bin/sh\ncat >/dev/null\n');
    writeFileSync(bad, `#!/bin/sh\n${body}\n`);
    chmodSync(ok, 0o755);
    chmodSync(bad, 0o755);
    const bundle = f.bundle((c) => {
      c.hooks = { createContainer: [{ path: ok }, { path: bad, ...(timeout ? { timeout } : {}) }] };
    });
    const r = tsrun(['--root', root, 'create', '--bundle', bundle, id]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, expect);
    assertNothingLeft(root, id, bundle);
  }
  const id = f.id();
  const bundle = f.bundle((c) => { c.hooks = { createContainer: [{ path: '/nonexistent/hook' }] }; });
  const r = tsrun(['--root', root, 'create', '--bundle', bundle, id]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /error running createContainer hook #0: fork\/exec \/nonexistent\/hook: no such file or directory/);
  assertNothingLeft(root, id, bundle);
});

test('a failing startContainer hook stops the container before its program runs', { skip }, (t) => {
  const f = fixture(t);
  const out = f.dir('tsrun-scfail-');
  const root = f.root;
  const id = f.id();
  const bundle = f.bundle((c) => {
    c.process.args = ['sh', '-c', 'echo ran > /hookout/program'];
    c.mounts.push({ destination: '/hookout', type: 'bind', source: out, options: ['rbind', 'rw'] });
    c.hooks = { startContainer: [{ path: '/fail.sh' }] };
  });
  writeFileSync(join(bundle, 'rootfs', 'fail.sh'), '#!/bin/sh\necho nope >&2\nexit 4\n');
  chmodSync(join(bundle, 'rootfs', 'fail.sh'), 0o755);
  const r = tsrun(['--root', root, 'run', '--bundle', bundle, id]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /error running startContainer hook #0: error running hook: exit status 4, stdout: , stderr: nope/);
  assert.equal(existsSync(join(out, 'program')), false);
  assertNothingLeft(root, id, bundle);
});

test('hooks without env get tsrun\'s environment (runc passes its own)', { skip }, (t) => {
  const f = fixture(t);
  const dir = f.dir('tsrun-hookenv-');
  mkdirSync(join(dir, 'o'));
  const root = f.root;
  const id = f.id();
  const script = join(dir, 'hook.sh');
  writeFileSync(script, `#!/bin/sh\nenv > ${dir}/o/env\n`);
  chmodSync(script, 0o755);
  const bundle = f.bundle((c) => { c.hooks = { prestart: [{ path: script }] }; });
  const r = tsrun(['--root', root, 'run', '--bundle', bundle, id], { env: { MARK_FOR_HOOK: 'present' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(readFileSync(join(dir, 'o', 'env'), 'utf8'), /^MARK_FOR_HOOK=present$/m);
  assertNothingLeft(root, id, bundle);
});

test('socket activation: LISTEN_FDS meant for tsrun reach the container first, then --preserve-fds', { skip }, (t) => {
  const f = fixture(t);
  const dir = f.dir('tsrun-listen-');
  const root = f.root;
  const id = f.id();
  writeFileSync(join(dir, 'listen'), 'from-listen-fd\n');
  writeFileSync(join(dir, 'extra'), 'from-preserved-fd\n');
  const bundle = f.bundle((c) => { c.process.args = ['sh', '-c', 'echo "$LISTEN_FDS $LISTEN_PID"; cat <&3; cat <&4']; });
  // `exec` keeps the shell's pid, so LISTEN_PID names tsrun, as systemd would set it.
  const script = `LISTEN_FDS=1 LISTEN_PID=$$ exec ${TSRUN} --root ${root} run --preserve-fds 1 --bundle ${bundle} ${id} 3<${dir}/listen 4<${dir}/extra`;
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '1 1\nfrom-listen-fd\nfrom-preserved-fd\n');
  // LISTEN_PID for another process: not ours, nothing passed.
  const other = spawnSync('sh', ['-c', `LISTEN_FDS=1 LISTEN_PID=1 ${TSRUN} --root ${root} run --bundle ${bundle} ${id} 3<${dir}/listen`], { encoding: 'utf8' });
  assert.match(other.stdout, /^ \n/);
  assertNothingLeft(root, id, bundle);
});
