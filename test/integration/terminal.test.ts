// Terminals: process.terminal with a caller's --console-socket (checked as strictly as go-runc
// and conmon receive it), and run/exec in the foreground proxying tsrun's own terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  needsRoot, REPO, TSRUN, tsrun, assertNothingLeft, waitForStatus
} from '../helpers/harness.js';
import { fixture } from '../helpers/fixture.js';

const skip = needsRoot;
const RECEIVER = join(REPO, 'test', 'helpers', 'console-receiver.py');
const PTY_DRIVE = join(REPO, 'test', 'helpers', 'pty-drive.py');

interface Received {
  name: string; nfds: number; truncated: boolean; oobIsOneFd: boolean; restAfterMessage: string; output: string;
  cmsgs: { level: number; type: number; len: number }[];
}

/** Starts a console-socket listener; `received` resolves with what it got and what the container wrote. */
async function listen(dir: string, input: string): Promise<{ path: string; received: Promise<Received> }> {
  const path = join(dir, 'console.sock');
  const child = spawn('python3', [RECEIVER, path, input], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let notifyListening!: () => void;
  const listening = new Promise<void>((res) => { notifyListening = res; });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => { out += chunk; if (out.startsWith('listening\n')) notifyListening(); });
  const received = new Promise<Received>((resolve, reject) => {
    child.on('exit', (code) => {
      const line = out.split('\n')[1];
      if (code !== 0 || !line) reject(new Error(`console receiver exited ${code}: ${out}`));
      else resolve(JSON.parse(line) as Received);
    });
  });
  await Promise.race([listening, received]);
  return { path, received };
}

/** The message must be exactly what runc sends: the name, one SCM_RIGHTS fd, nothing more. */
function assertRuncMessage(r: Received): void {
  assert.equal(r.name, '/dev/ptmx');
  assert.equal(r.nfds, 1);
  assert.deepEqual(r.cmsgs, [{ level: 1, type: 1, len: 4 }]);
  assert.equal(r.oobIsOneFd, true);
  assert.equal(r.truncated, false);
  assert.equal(r.restAfterMessage, '', 'the sender must close the socket after the one message');
}

/** The fds of a process, from `ls -l /proc/PID/fd` output: fd number -> link target. */
function fdsFromLs(output: string): Map<number, string> {
  const fds = new Map<number, string>();
  for (const m of output.matchAll(/ (\d+) -> (\S+)\r?$/gm)) fds.set(Number(m[1]), m[2]);
  return fds;
}

interface Driven { status: number; output: string; rawDuring: boolean | null; restored: boolean; failed: string | null }

/** Runs tsrun on a fresh pseudo-terminal (24x80) and plays `steps` on it (see pty-drive.py). */
function onTerminal(args: string[], steps: unknown[]): Driven {
  const r = spawnSync('python3', [PTY_DRIVE, JSON.stringify({ argv: [TSRUN, ...args], rows: 24, cols: 80, steps })], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Driven;
}

const oneLine = (stderr: string) => stderr.trim().split('\n');

for (const how of ['create', 'run -d'] as const) {
  test(`${how} --console-socket: runc's message, and the pty is the container's stdio and terminal`, { skip }, async (t) => {
    const f = fixture(t);
    const root = f.root;
    const id = f.id('tsrun-tty');
    const dir = f.dir('tsrun-tty-');
    const bundle = f.bundle((c) => {
      c.process.terminal = true;
      c.process.consoleSize = { height: 33, width: 101 };
      c.process.args = ['sh', '-c', 'read line; echo "got:$line"; tty; stty size; ls -l /proc/$$/fd; grep " /dev/console " /proc/self/mountinfo'];
    });
    const { path, received } = await listen(dir, 'hello\n');
    const args = how === 'create' ? ['create'] : ['run', '-d'];
    const r = tsrun(['--root', root, ...args, '--console-socket', path, '--bundle', bundle, id]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    if (how === 'create') assert.equal(tsrun(['--root', root, 'start', id]).status, 0);
    const got = await received;
    assertRuncMessage(got);
    const out = got.output;
    assert.match(out, /^got:hello\r?$/m);
    const tty = /^(\/dev\/pts\/\d+)\r?$/m.exec(out)?.[1];
    assert.ok(tty, `tty printed no /dev/pts/N: ${JSON.stringify(out)}`);
    assert.match(out, /^33 101\r?$/m);
    // Exactly the slave as 0-2: no master, no socket, nothing of tsrun's.
    assert.deepEqual([...fdsFromLs(out)].sort(), [[0, tty], [1, tty], [2, tty]]);
    assert.match(out, / \/dev\/console /, 'the slave is bound over /dev/console');
    await waitForStatus(root, id, 'stopped');
    assert.equal(tsrun(['--root', root, 'delete', id]).status, 0);
    assertNothingLeft(root, id, bundle);
  });
}

test('exec -d --console-socket: consoleSize from --process, the pty owned by the process\'s user', { skip }, async (t) => {
  const f = fixture(t);
  const root = f.root;
  const id = f.id('tsrun-tty-exec');
  const dir = f.dir('tsrun-tty-');
  const bundle = f.bundle((c) => { c.process.args = ['sleep', '1000']; });
  assert.equal(tsrun(['--root', root, 'run', '-d', '--bundle', bundle, id]).status, 0);
  const file = join(dir, 'process.json');
  writeFileSync(file, JSON.stringify({
    terminal: true, consoleSize: { height: 20, width: 70 }, user: { uid: 1000, gid: 1000 }, cwd: '/', env: ['PATH=/bin'],
    args: ['sh', '-c', 'read line; echo "got:$line"; tty; stty size; stat -c "owner %u" "$(tty)"; ls -l /proc/$$/fd'],
  }));
  const { path, received } = await listen(dir, 'hi\n');
  const r = tsrun(['--root', root, 'exec', '-d', '--console-socket', path, '--process', file, id]);
  assert.equal(r.status, 0, r.stderr);
  const got = await received;
  assertRuncMessage(got);
  assert.match(got.output, /^got:hi\r?$/m);
  const tty = /^(\/dev\/pts\/\d+)\r?$/m.exec(got.output)?.[1];
  assert.ok(tty, got.output);
  assert.match(got.output, /^20 70\r?$/m);
  assert.match(got.output, /^owner 1000\r?$/m);
  assert.deepEqual([...fdsFromLs(got.output)].sort(), [[0, tty], [1, tty], [2, tty]]);
  assert.equal(tsrun(['--root', root, 'delete', '--force', id]).status, 0);
  assertNothingLeft(root, id, bundle);
});

test('run in the foreground proxies its terminal: raw mode, window size, Ctrl-C, exit status', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const id = f.id('tsrun-tty-run');
  const bundle = f.bundle((c) => {
    c.process.terminal = true;
    // tsrun's own window size wins over this, as with runc.
    c.process.consoleSize = { height: 10, width: 20 };
    c.process.args = ['sh', '-c', [
      'printf "a\\nb\\n"', 'stty size', 'read x', 'echo "got:$x"',
      'while read y; do [ "$y" = q ] && break; echo "size $(stty size)"; done',
      // ^C must come once a child runs in the foreground: sh itself is the pid namespace's
      // init, which ignores a SIGINT it has no handler for.
      'sh -c "echo sleeping; exec sleep 1000"', 'echo interrupted', 'exit 3',
    ].join('; ')];
  });
  const d = onTerminal(['--root', root, 'run', '--bundle', bundle, id], [
    ['expect', '24 80\r\n'], ['send', 'hello\r'], ['expect', 'got:hello\r\n'],
    ['resize', 40, 120], ['until', 's\r', 'size 40 120', 'size '],
    ['send', 'q\r'], ['expect', 'sleeping\r\n'], ['send', '\x03'],
  ]);
  assert.equal(d.failed, null, d.output);
  // As runc: ONLCR off on the container's pty, output processing left on in our raw mode, so
  // each newline reaches the user's terminal as CR LF exactly once.
  assert.ok(d.output.startsWith('a\r\nb\r\n24 80\r\n'), JSON.stringify(d.output));
  assert.ok(!d.output.includes('\r\r'), JSON.stringify(d.output));
  // Echoed once by the container's terminal; ours, raw, echoes nothing.
  assert.equal(d.output.split('hello').length - 1, 2, JSON.stringify(d.output));
  assert.equal(d.rawDuring, true);
  assert.equal(d.restored, true, 'tsrun must restore its terminal');
  // ^C is the container's own line discipline's SIGINT: it kills sleep, and busybox sh,
  // the pid namespace's init, exits 128+SIGINT instead of going on to "interrupted".
  assert.ok(!d.output.includes('interrupted'), JSON.stringify(d.output));
  assert.equal(d.status, 130);
  assertNothingLeft(root, id, bundle);
});

test('exec -t in the foreground: the pty is the process\'s, Ctrl-C kills it, exit status passes through', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const id = f.id('tsrun-tty-exec');
  const bundle = f.bundle((c) => { c.process.args = ['sleep', '1000']; });
  assert.equal(tsrun(['--root', root, 'run', '-d', '--bundle', bundle, id]).status, 0);
  const d = onTerminal(['--root', root, 'exec', '-t', id, 'sh', '-c', 'tty; stty size; ls -l /proc/$$/fd; exec sleep 1000'], [
    ['expect', '24 80\r\n'], ['expect', ' 2 -> '], ['send', '\x03'],
  ]);
  assert.equal(d.failed, null, d.output);
  const tty = /^(\/dev\/pts\/\d+)\r?$/m.exec(d.output)?.[1];
  assert.ok(tty, JSON.stringify(d.output));
  assert.deepEqual([...fdsFromLs(d.output)].sort(), [[0, tty], [1, tty], [2, tty]]);
  assert.equal(d.status, 130);
  assert.equal(d.restored, true);

  const seven = onTerminal(['--root', root, 'exec', '-t', id, 'sh', '-c', 'echo bye; exit 7'], [['expect', 'bye\r\n']]);
  assert.equal(seven.failed, null, seven.output);
  assert.equal(seven.status, 7);
  assert.equal(seven.restored, true);
  assert.equal(tsrun(['--root', root, 'delete', '--force', id]).status, 0);
  assertNothingLeft(root, id, bundle);
});

test('terminal misuse: runc\'s errors, one line, nothing left', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const dir = f.dir('tsrun-tty-');
  const notASocket = join(dir, 'file');
  writeFileSync(notASocket, '');
  const tty = f.bundle((c) => { c.process.terminal = true; c.process.args = ['true']; });
  const plain = f.bundle((c) => { c.process.args = ['true']; });
  const cases: { args: string[]; bundle: string; message: string }[] = [
    { args: ['create'], bundle: tty, message: 'tsrun create failed: cannot allocate tty if tsrun will detach without setting console socket' },
    { args: ['run', '-d'], bundle: tty, message: 'tsrun run failed: cannot allocate tty if tsrun will detach without setting console socket' },
    { args: ['create', '--console-socket', join(dir, 's')], bundle: plain, message: 'tsrun create failed: cannot use console socket if tsrun will not detach or allocate tty' },
    { args: ['run', '--console-socket', join(dir, 's')], bundle: tty, message: 'tsrun run failed: cannot use console socket if tsrun will not detach or allocate tty' },
    { args: ['create', '--console-socket', join(dir, 'missing.sock')], bundle: tty, message: `tsrun create failed: dial unix ${join(dir, 'missing.sock')}: connect: no such file or directory` },
    { args: ['run', '-d', '--console-socket', notASocket], bundle: tty, message: `tsrun run failed: dial unix ${notASocket}: connect: connection refused` },
  ];
  for (const c of cases) {
    const id = f.id('tsrun-tty-bad');
    const r = tsrun(['--root', root, ...c.args, '--bundle', c.bundle, id]);
    assert.equal(r.status, 1, `${c.args.join(' ')}: ${r.stderr}`);
    assert.equal(oneLine(r.stderr).length, 1, r.stderr);
    assert.ok(r.stderr.includes(`msg="${c.message}"`), `${c.args.join(' ')}: ${r.stderr}`);
    assertNothingLeft(root, id, c.bundle);
  }
  // A foreground run with a terminal needs one of its own (here: a new session, stdio not a tty).
  const id = f.id('tsrun-tty-bad');
  const r = spawnSync('setsid', [TSRUN, '--root', root, 'run', '--bundle', tty, id], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(oneLine(r.stderr).length, 1, r.stderr);
  assert.match(r.stderr, /msg="tsrun run failed: open \/dev\/tty: no such device or address"/);
  assertNothingLeft(root, id, tty);
});

test('exec terminal misuse: runc\'s errors with status 255, nothing left', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const id = f.id('tsrun-tty-exec-bad');
  const dir = f.dir('tsrun-tty-');
  const bundle = f.bundle((c) => { c.process.args = ['sleep', '1000']; });
  assert.equal(tsrun(['--root', root, 'run', '-d', '--bundle', bundle, id]).status, 0);
  const pids = () => JSON.parse(tsrun(['--root', root, 'ps', '--format', 'json', id]).stdout) as number[];
  const before = pids();
  const cases: [string[], string][] = [
    [['-d', '-t', id, 'true'], 'exec failed: cannot allocate tty if tsrun will detach without setting console socket'],
    [['--console-socket', join(dir, 's'), id, 'true'], 'exec failed: cannot use console socket if tsrun will not detach or allocate tty'],
    [['-t', '--console-socket', join(dir, 's'), id, 'true'], 'exec failed: cannot use console socket if tsrun will not detach or allocate tty'],
    [['-d', '-t', '--console-socket', join(dir, 'missing.sock'), id, 'true'], `exec failed: dial unix ${join(dir, 'missing.sock')}: connect: no such file or directory`],
  ];
  for (const [args, message] of cases) {
    const r = tsrun(['--root', root, 'exec', ...args]);
    assert.equal(r.status, 255, r.stderr);
    assert.equal(oneLine(r.stderr).length, 1, r.stderr);
    assert.ok(r.stderr.includes(`msg="${message}"`), r.stderr);
  }
  assert.deepEqual(pids(), before, 'no process may be left in the container');
  assert.equal(tsrun(['--root', root, 'delete', '--force', id]).status, 0);
  assertNothingLeft(root, id, bundle);
});

test('without a terminal the caller\'s pipes are the container\'s, and it sees EOF when the container exits', { skip }, async (t) => {
  const f = fixture(t);
  const root = f.root;
  const id = f.id('tsrun-notty');
  const bundle = f.bundle((c) => { c.process.args = ['sh', '-c', 'echo out; echo err >&2']; });
  const child = spawn(TSRUN, ['--root', root, 'create', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
  child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
  const ended = Promise.all([new Promise((res) => child.stdout.on('end', res)), new Promise((res) => child.stderr.on('end', res))]);
  const code = await new Promise((res) => child.on('exit', res));
  assert.equal(code, 0, err);
  assert.equal(tsrun(['--root', root, 'start', id]).status, 0);
  // Only the container holds the pipes now: they end when it exits.
  await ended;
  assert.equal(out, 'out\n');
  assert.equal(err, 'err\n');
  await waitForStatus(root, id, 'stopped');
  assert.equal(tsrun(['--root', root, 'delete', id]).status, 0);
  assertNothingLeft(root, id, bundle);
});
