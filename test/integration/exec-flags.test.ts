// The exec flags not covered by exec.test.ts, each against runc 1.1.5's behaviour, in a
// container whose process has no_new_privileges off (so --no-new-privs has something to change).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, tsrun, tsrunAsync, startDetached, removeDetached, processesIn, TSRUN, type Detached } from '../helpers/harness.js';

const skip = needsRoot;

let root = '';
let id = '';
let container: Detached | undefined;
let tmp = '';

const exec = (...args: string[]) => tsrun(['--root', root, 'exec', ...args]);

before(() => {
  if (skip) return;
  tmp = mkdtempSync(join(tmpdir(), 'tsrun-execf-'));
  container = startDetached((c) => {
    c.process.args = ['sleep', '4323'];
    c.process.noNewPrivileges = false;
  }, 'tsrun-execf');
  ({ root, id } = container);
});

after(() => {
  if (skip || !container) return;
  // Every exec'd process has exited by now: only the init is left in the container.
  assert.deepEqual(processesIn(container.bundle), [container.initPid]);
  removeDetached(container);
  rmSync(tmp, { recursive: true, force: true });
});

test('exec --additional-gids adds supplementary groups to -u', { skip }, () => {
  const r = exec('-u', '1000:1000', '--additional-gids', '10', '--additional-gids', '20', id, 'id', '-G');
  assert.equal(r.stdout, '1000 10 20\n', r.stderr);
});

test('exec --no-new-privs sets no_new_privs; without it the container\'s setting holds', { skip }, () => {
  assert.match(exec(id, 'grep', 'NoNewPrivs', '/proc/self/status').stdout, /NoNewPrivs:\t0/);
  assert.match(exec('--no-new-privs', id, 'grep', 'NoNewPrivs', '/proc/self/status').stdout, /NoNewPrivs:\t1/);
});

test('exec --preserve-fds passes fds 3.. to the process', { skip }, () => {
  const file = join(tmp, 'extra');
  writeFileSync(file, 'through-fd-3\n');
  const fd = openSync(file, 'r');
  try {
    // tsrun() gives the child only stdio; spawn passes our fd as its fd 3.
    const out = join(tmp, 'out');
    const outFd = openSync(out, 'w');
    const child = spawn(TSRUN, ['--root', root, 'exec', '--preserve-fds', '1', id, 'sh', '-c', 'cat <&3; ls /proc/self/fd | sort -n | tr "\\n" " "'], { stdio: ['ignore', outFd, 'inherit', fd] });
    return new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => {
        closeSync(outFd);
        try {
          assert.equal(code, 0);
          // 0-2, the preserved 3, and ls's own directory fd: nothing else of tsrun's.
          assert.match(readFileSync(out, 'utf8'), /^through-fd-3\n0 1 2 3 4 $/);
          resolve();
        } catch (err) { reject(err); }
      });
    });
  } finally {
    closeSync(fd);
  }
});

test('exec --apparmor and --process-label on a host without those LSMs fail as runc does', { skip }, () => {
  const apparmor = exec('--apparmor', 'some-profile', id, 'true');
  assert.equal(apparmor.status, 255);
  assert.match(apparmor.stderr, /exec failed: /);
  const label = exec('--process-label', 'system_u:system_r:container_t:s0', id, 'true');
  assert.equal(label.status, 255);
  assert.match(label.stderr, /exec failed: .*selinux/i);
});

test('exec --ignore-paused joins a frozen container: the process runs once it is resumed', { skip }, async () => {
  assert.equal(tsrun(['--root', root, 'pause', id]).status, 0);
  const pending = tsrunAsync(['--root', root, 'exec', '--ignore-paused', id, 'sh', '-c', 'echo ran-after-resume']);
  let settled = false;
  pending.then(() => { settled = true; }, () => { settled = true; });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(settled, false, 'the process ran in a frozen container');
  assert.equal(tsrun(['--root', root, 'resume', id]).status, 0);
  const r = await pending;
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'ran-after-resume\n');
});

test('foreground exec: signals reach the process; death by signal gives 128+n', { skip }, async () => {
  assert.equal(exec(id, 'sh', '-c', 'kill -9 $$').status, 137);
  const out = join(tmp, 'sig-out');
  const outFd = openSync(out, 'w');
  const child = spawn(TSRUN, ['--root', root, 'exec', id, 'sh', '-c', 'trap "echo got-term; exit 42" TERM; echo ready; while :; do sleep 0.05; done'], { stdio: ['ignore', outFd, 'inherit'] });
  try {
    for (let i = 0; i < 500 && !readFileSync(out, 'utf8').includes('ready'); i++) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.once('exit', (c) => r(c)));
    assert.equal(code, 42);
    assert.equal(readFileSync(out, 'utf8'), 'ready\ngot-term\n');
  } finally {
    closeSync(outFd);
  }
});
