// containerd 2.1 (from scripts/modern-stack.sh) with its runc shim driving tsrun (`ctr run --runc-binary`) beside
// runc 1.3. containerd runs in a network namespace of its own, with its root, state, sockets and opt directory
// under one temporary directory and a config that `tsrun setup containerd` extended (so containerd's CRI plugin
// loads that too). Containers get a containerd namespace of their own, hence their own cgroup parent.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, makeBundle, TSRUN, childEnv, stopDaemon } from '../helpers/harness.js';
import { requireStack, stackSkip, type Stack, removeCtrObjects, unmountBelow, removeCgroupTrees, hostDirs } from '../helpers/stack.js';

const skip = needsRoot || stackSkip();
const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'tsrun-containerd2-'));
const namespace = `tsrun-containerd2-${process.pid}`;
// The runc shim keeps its runtime state there, whatever containerd's own directories are.
const shimState = `/run/containerd/runc/${namespace}`;
// containerd's shim sockets and ctr's stdio fifos have fixed directories too.
const fixedDirs = hostDirs(['/run/containerd', '/run/containerd/s', '/run/containerd/runc', '/run/containerd/fifo']);
let stack: Stack;
let daemon: ChildProcess | undefined;
let rootfs = '';

const baseEnv = childEnv;

function ctr(args: string[]) {
  const r = spawnSync(stack.ctr, ['-a', join(dir, 'containerd.sock'), '-n', namespace, ...args], { encoding: 'utf8', timeout: 60_000, env: baseEnv });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function cgroupParents(): string[] {
  return readdirSync('/sys/fs/cgroup').map((h) => join('/sys/fs/cgroup', h, namespace)).filter((p) => existsSync(p));
}

describe('containerd 2.1 with its runc shim driving tsrun, beside runc 1.3', { skip }, () => {
  before(async () => {
    stack = requireStack();
    const config = join(dir, 'config.toml');
    writeFileSync(config, [
      'version = 3',
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      '',
      '[grpc]',
      `  address = "${dir}/containerd.sock"`,
      '',
      '[ttrpc]',
      `  address = "${dir}/containerd.sock.ttrpc"`,
      '',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${dir}/opt"`,
      '',
    ].join('\n'));
    const setup = spawnSync(TSRUN, ['setup', 'containerd', '--config', config], { encoding: 'utf8', env: baseEnv });
    assert.equal(setup.status, 0, setup.stderr);
    // containerd finds the runc shim on its PATH, and the shim finds runc 1.3 there.
    const env = { ...baseEnv, PATH: `${stack.bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` };
    daemon = spawn('unshare', ['--net', '--', stack.containerd, '--config', config], { stdio: ['ignore', 'ignore', 'ignore'], env });
    for (let i = 0; i < 300 && ctr(['version']).status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(ctr(['version']).status, 0, 'containerd did not come up');
    rootfs = join(makeBundle(), 'rootfs');
  });

  after(async () => {
    if (!stack) return;
    removeCtrObjects(ctr, namespace);
    await stopDaemon(daemon);
    unmountBelow(dir, rootfs);
    rmSync(dir, { recursive: true, force: true });
    if (rootfs) rmSync(join(rootfs, '..'), { recursive: true, force: true });
    removeCgroupTrees(cgroupParents());
    rmSync(shimState, { recursive: true, force: true });
    fixedDirs.remove();
  });

  test('containerd 2.1 loaded the CRI runtime tsrun setup wrote', () => {
    const v = ctr(['version']);
    assert.match(v.stdout, /Server:\n\s+Version:\s+2\.1\./);
    const r = spawnSync(stack.containerd, ['--config', join(dir, 'config.toml'), 'config', 'dump'], { encoding: 'utf8', env: baseEnv });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\[plugins\.'io\.containerd\.cri\.v1\.runtime'\.containerd\.runtimes\.tsrun\]\n\s+runtime_type = 'io\.containerd\.tsrun\.v2'/);
  });

  test('ctr run --rootfs: what the container sees and its exit status are the same under tsrun as under runc 1.3', () => {
    const look = 'id; grep -E "^(Cap|NoNewPrivs)" /proc/self/status; awk \'{print $5, $6}\' /proc/self/mountinfo; ls /dev; echo err >&2; exit 3';
    const run = (name: string, extra: string[]) => ctr(['run', '--rm', ...extra, '--rootfs', rootfs, `${name}-${process.pid}`, '/bin/sh', '-c', look]);
    const viaRunc = run('runc', []);
    const viaTsrun = run('tsrun', ['--runc-binary', TSRUN]);
    assert.equal(viaRunc.status, 3, viaRunc.stderr);
    assert.deepEqual([viaTsrun.status, viaTsrun.stdout, viaTsrun.stderr], [viaRunc.status, viaRunc.stdout, viaRunc.stderr]);
    assert.match(viaTsrun.stdout, /^uid=0\(root\)/);
  });

  test('a detached task: exec, ps, pause/resume, kill, as under runc 1.3', () => {
    const session = (name: string, extra: string[]) => {
      const seen: unknown[] = [];
      const id = `${name}-detached-${process.pid}`;
      const started = ctr(['run', '-d', ...extra, '--rootfs', rootfs, id, '/bin/sleep', '4331']);
      seen.push(started.status, started.stderr);
      try {
        const ex = ctr(['tasks', 'exec', '--exec-id', 'e1', id, '/bin/sh', '-c', 'echo in; exit 4']);
        seen.push(ex.status, ex.stdout);
        seen.push(ctr(['tasks', 'ps', id]).stdout.trim().split('\n').length);
        seen.push(ctr(['tasks', 'pause', id]).status, /PAUSED/.test(ctr(['tasks', 'ls']).stdout));
        seen.push(ctr(['tasks', 'resume', id]).status, /RUNNING/.test(ctr(['tasks', 'ls']).stdout));
        seen.push(ctr(['tasks', 'kill', '-s', 'KILL', id]).status);
        for (let i = 0; i < 100 && !/STOPPED/.test(ctr(['tasks', 'ls']).stdout); i++) spawnSync('sleep', ['0.1']);
        seen.push(/STOPPED/.test(ctr(['tasks', 'ls']).stdout));
      } finally {
        seen.push(ctr(['tasks', 'rm', '-f', id]).status, ctr(['containers', 'rm', id]).status);
      }
      return seen;
    };
    const viaRunc = session('runc', []);
    assert.deepEqual(viaRunc, [0, '', 4, 'in\n', 2, 0, true, 0, true, 0, true, 0, 0]);
    assert.deepEqual(session('tsrun', ['--runc-binary', TSRUN]), viaRunc);
  });

  test('nothing is left: tasks, shim state, cgroups', () => {
    assert.equal(ctr(['tasks', 'ls', '-q']).stdout, '');
    assert.deepEqual(existsSync(shimState) ? readdirSync(shimState) : [], []);
    for (const p of cgroupParents()) {
      const children = readdirSync(p, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
      assert.deepEqual(children, [], `${p} still has container cgroups`);
    }
  });
});
