// A container that joins another's pid namespace (linux.namespaces pid with a path) runs the
// two-stage init (native/PLAN-FORMAT.md, "Joined pid namespace"): its rootfs is set up by a
// process outside that namespace, and the container's init is a second process cloned into it.
// The whole lifecycle must work on that second process, exactly as with a single init.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { REPO, assertNothingLeft, needsRoot, processesIn, tsrun, waitForStatus } from '../helpers/harness.js';
import { fixture, type Fixture } from '../helpers/fixture.js';

const skip = needsRoot;

function joining(f: Fixture, firstPid: number, args: string[]): string {
  return f.bundle((c: any) => {
    c.root.readonly = false;
    c.process.args = args;
    c.linux.namespaces = c.linux.namespaces.map((ns: any) => (ns.type === 'pid' ? { type: 'pid', path: `/proc/${firstPid}/ns/pid` } : ns));
  });
}

/** The pids of a host process: its host pid first, then in each nested pid namespace. */
function nsPids(pid: number): number[] {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('NSpid:'))!;
  return line.split(/\s+/).slice(1).map(Number);
}

function waitForFile(path: string): void {
  for (let i = 0; i < 500 && !existsSync(path); i++) spawnSync('sleep', ['0.01']);
  assert.ok(existsSync(path), `${path} never appeared`);
}

test('a container sharing another\'s pid namespace: create, state, pid file, ps, start, exec, kill, delete', { skip }, async (t) => {
  const f = fixture(t);
  const first = f.detached((c: any) => { c.process.args = ['sleep', '1000']; }, 'tsrun-pidns-a');
  const root = f.root;
  const id = f.id('tsrun-pidns-b');
  const bundle = joining(f, first.initPid, ['sh', '-c', 'ls /proc > /procs; touch /started; exec sleep 1000']);
  const pidFile = join(bundle, 'pid');
  let r = tsrun(['--root', root, 'create', '--bundle', bundle, '--pid-file', pidFile, id]);
  assert.equal(r.status, 0, r.stderr);
  const state = JSON.parse(tsrun(['--root', root, 'state', id]).stdout);
  assert.equal(state.status, 'created');
  assert.equal(readFileSync(pidFile, 'utf8'), String(state.pid));
  // The state's pid is the init inside the shared namespace, not the process that set up the rootfs.
  assert.equal(readlinkSync(`/proc/${state.pid}/ns/pid`), readlinkSync(`/proc/${first.initPid}/ns/pid`));
  const [, innerPid] = nsPids(state.pid);
  assert.ok(innerPid > 1, `init's pid in the shared namespace: ${innerPid}`);
  const rootStat = statSync(`/proc/${state.pid}/root/`), rootfs = statSync(join(bundle, 'rootfs'));
  assert.deepEqual([rootStat.dev, rootStat.ino], [rootfs.dev, rootfs.ino], 'the init\'s root is the container\'s');

  r = tsrun(['--root', root, 'ps', id]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^\\S+\\s+${state.pid}\\s`, 'm'));

  r = tsrun(['--root', root, 'start', id]);
  assert.equal(r.status, 0, r.stderr);
  waitForFile(join(bundle, 'rootfs/started'));
  // Each container sees the other's processes, under the shared namespace's pids.
  const seen = readFileSync(join(bundle, 'rootfs/procs'), 'utf8').split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
  assert.ok(seen.includes(1), `the first container's init (1) not in ${seen}`);
  assert.ok(seen.includes(innerPid), `own init (${innerPid}) not in ${seen}`);
  r = tsrun(['--root', first.root, 'exec', first.id, 'ls', '/proc']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.split('\n').includes(String(innerPid)), `the second container's init not seen by the first: ${r.stdout}`);
  r = tsrun(['--root', root, 'exec', id, 'cat', '/proc/1/cmdline']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'sleep\u00001000\u0000');

  r = tsrun(['--root', root, 'kill', id, 'KILL']);
  assert.equal(r.status, 0, r.stderr);
  await waitForStatus(root, id, 'stopped');
  r = tsrun(['--root', root, 'delete', id]);
  assert.equal(r.status, 0, r.stderr);
  assertNothingLeft(root, id, bundle);
  // The first container is untouched.
  assert.equal(JSON.parse(tsrun(['--root', first.root, 'state', first.id]).stdout).status, 'running');
});

test('run in another container\'s pid namespace: exit code, stdio, nothing left', { skip }, (t) => {
  const f = fixture(t);
  const first = f.detached((c: any) => { c.process.args = ['sleep', '1000']; }, 'tsrun-pidns-a');
  const root = f.root;
  const id = f.id('tsrun-pidns-run');
  const bundle = joining(f, first.initPid, ['sh', '-c', 'cat /proc/1/cmdline; echo; readlink /proc/self; exit 7']);
  const r = tsrun(['--root', root, 'run', '--bundle', bundle, id]);
  assert.equal(r.status, 7, r.stderr);
  const [cmdline, self] = r.stdout.split('\n');
  assert.equal(cmdline, 'sleep\u00001000\u0000');
  assert.ok(Number(self) > 1, `pid in the shared namespace: ${self}`);
  assertNothingLeft(root, id, bundle);
  assert.deepEqual(processesIn(bundle), []);
});

test('a container sharing another\'s pid namespace: a failing setup leaves nothing, the first one runs on', { skip }, (t) => {
  const f = fixture(t);
  const first = f.detached((c: any) => { c.process.args = ['sleep', '1000']; }, 'tsrun-pidns-a');
  const root = f.root;
  const id = f.id('tsrun-pidns-fail');
  const bundle = joining(f, first.initPid, ['/no/such/program']);
  const r = tsrun(['--root', root, 'create', '--bundle', bundle, id]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no such file or directory/);
  assertNothingLeft(root, id, bundle);
  assert.equal(JSON.parse(tsrun(['--root', first.root, 'state', first.id]).stdout).status, 'running');
});

/** A --console-socket listener (test/helpers/console-receiver.py): resolves with what the container wrote. */
async function listen(dir: string, input: string): Promise<{ path: string; output: Promise<string> }> {
  const path = join(dir, 'console.sock');
  const child = spawn('python3', [join(REPO, 'test/helpers/console-receiver.py'), path, input], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let listening!: () => void;
  const ready = new Promise<void>((res) => { listening = res; });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => { out += chunk; if (out.startsWith('listening\n')) listening(); });
  const output = new Promise<string>((resolve, reject) => {
    child.on('exit', (code) => {
      const line = out.split('\n')[1];
      if (code !== 0 || !line) reject(new Error(`console receiver exited ${code}: ${out}`));
      else resolve((JSON.parse(line) as { output: string }).output);
    });
  });
  await Promise.race([ready, output]);
  return { path, output };
}

test('a container sharing another\'s pid namespace with a terminal: the pty is its stdio and controlling terminal', { skip }, async (t) => {
  const f = fixture(t);
  const first = f.detached((c: any) => { c.process.args = ['sleep', '1000']; }, 'tsrun-pidns-a');
  const root = f.root;
  const id = f.id('tsrun-pidns-tty');
  const dir = f.dir('tsrun-pidns-tty-');
  const bundle = f.bundle((c: any) => {
    c.process.terminal = true;
    c.process.args = ['sh', '-c', 'read line; echo "got:$line"; tty; echo "ttynr=$(cut -d" " -f7 /proc/$$/stat)"; echo "sid=$(cut -d" " -f6 /proc/$$/stat) pid=$$"'];
    c.linux.namespaces = c.linux.namespaces.map((ns: any) => (ns.type === 'pid' ? { type: 'pid', path: `/proc/${first.initPid}/ns/pid` } : ns));
  });
  const { path, output } = await listen(dir, 'hello\n');
  const r = tsrun(['--root', root, 'run', '-d', '--console-socket', path, '--bundle', bundle, id]);
  assert.equal(r.status, 0, r.stderr);
  const out = await output;
  assert.match(out, /^got:hello\r?$/m);
  assert.match(out, /^\/dev\/pts\/\d+\r?$/m);
  assert.doesNotMatch(out, /^ttynr=0\r?$/m, 'no controlling terminal');
  const ids = /^sid=(\d+) pid=(\d+)\r?$/m.exec(out);
  assert.ok(ids && ids[1] === ids[2], `the init leads its session: ${out}`);
  await waitForStatus(root, id, 'stopped');
  assert.equal(tsrun(['--root', root, 'delete', id]).status, 0);
  assertNothingLeft(root, id, bundle);
});
