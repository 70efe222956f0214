// tsrun under a real Docker 20.10 (dockerd + containerd + containerd-shim-runc-v2), side by side
// with runc: what a container sees must be the same under both runtimes. dockerd runs in a
// network namespace of its own (its bridge and iptables rules vanish with it) with every
// directory it writes under one temporary directory and its containers under one cgroup parent.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, makeBundle, TSRUN } from '../helpers/harness.js';

const DOCKERD = '/usr/sbin/dockerd';
const DOCKER = '/usr/bin/docker';
const skip = needsRoot || (!existsSync(DOCKERD) || !existsSync(DOCKER) ? 'Docker is not installed (make test installs docker.io)' : false);

const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'tsrun-docker-'));
const cgroupParent = `tsrun-docker-test-${process.pid}`;
const IMAGE = 'busybox:tsrun-test';
const CTR_NAMESPACE = `tsrun-test-${process.pid}`;
// The runc shim keeps runtime state under /run/containerd/runc/<namespace> whatever containerd's own paths are.
const hadRunContainerd = existsSync('/run/containerd');
let daemon: ChildProcess | undefined;

function docker(args: string[], input?: string | Buffer) {
  const r = spawnSync(DOCKER, ['-H', `unix://${dir}/docker.sock`, ...args], { input, encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function mountsUnder(path: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(path));
}

/** The cgroup directories Docker made for our containers, in every hierarchy. */
function cgroupParents(): string[] {
  const out: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    for (const parent of [cgroupParent, CTR_NAMESPACE]) {
      const p = join('/sys/fs/cgroup', h, parent);
      if (existsSync(p)) out.push(p);
    }
  }
  return out;
}

describe('Docker 20.10 with --runtime tsrun', { skip }, () => {
  before(async () => {
    daemon = spawn('unshare', ['--net', '--', DOCKERD,
      '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'dockerd.pid'),
      '-H', `unix://${dir}/docker.sock`, '--cgroup-parent', `/${cgroupParent}`, '--add-runtime', `tsrun=${TSRUN}`,
    ], { stdio: ['ignore', 'ignore', 'ignore'] });
    for (let i = 0; i < 300 && docker(['version']).status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(docker(['version']).status, 0, 'dockerd did not come up');
    const rootfs = join(makeBundle(), 'rootfs');
    const tar = spawnSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 });
    assert.equal(docker(['import', '-', IMAGE], tar.stdout).status, 0);
    rmSync(join(rootfs, '..'), { recursive: true, force: true });
  });

  after(async () => {
    const ids = docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
    if (ids.length) docker(['rm', '-f', ...ids]);
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    }
    for (const m of mountsUnder(dir).reverse()) spawnSync('umount', ['-l', m]);
    rmSync(dir, { recursive: true, force: true });
    // runc leaves the parents of its cgroups (ctr's /<namespace>): remove the empty tree.
    for (const p of cgroupParents()) spawnSync('find', [p, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
    rmSync(hadRunContainerd ? `/run/containerd/runc/${CTR_NAMESPACE}` : '/run/containerd', { recursive: true, force: true });
  });

  // What a container sees of itself, with what differs between any two containers left out
  // (ids, addresses, the overlay's layer paths).
  const probe = [
    'echo pid=$$ user=$(id)',
    'grep -E "^(Cap|NoNewPrivs|Seccomp)" /proc/self/status',
    'ulimit -a',
    'ls -l /dev /dev/pts /dev/shm /dev/mqueue | awk \'{print $1, $3, $4, $5, $6, $NF}\'',
    'awk \'{print $5, $6, $7 != "-" ? "opt" : "", $(NF-2)}\' /proc/self/mountinfo',
    'ip -o link | awk \'{print $2}\' | sed "s/@.*//"',
    'cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/self/oom_score_adj',
    'for p in /proc/kcore /proc/keys /proc/timer_list /sys/firmware; do ls -ld $p 2>&1 | awk \'{print $1, $NF}\'; done',
    'touch /proc/sys/kernel/x 2>&1 | sed "s/.*: //"',
    'mount | grep -c " / " ; hostname | grep -cE "^[0-9a-f]{12}$"',
    'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max',
    'umask; pwd',
  ].join('; ');

  test('a container sees the same under tsrun as under runc (namespaces, caps, seccomp, mounts, devices, limits, network)', () => {
    const runc = docker(['run', '--rm', '--runtime', 'runc', '--memory', '64m', '--pids-limit', '50', IMAGE, 'sh', '-c', probe]);
    const ts = docker(['run', '--rm', '--runtime', 'tsrun', '--memory', '64m', '--pids-limit', '50', IMAGE, 'sh', '-c', probe]);
    assert.equal(runc.status, 0, runc.stderr);
    assert.equal(ts.status, 0, ts.stderr);
    assert.match(ts.stdout, /^pid=1 user=uid=0\(root\)/);
    assert.match(ts.stdout, /^Seccomp:\t2$/m);
    assert.match(ts.stdout, /^eth0:?$/m, 'the libnetwork-setkey prestart hook set up the network');
    // One deliberate difference: the spec asks for /sys/fs/cgroup "ro", and tsrun's tmpfs there is
    // read-only; runc 1.1.5 leaves the tmpfs itself read-write (its hierarchies are read-only in both).
    const cgroupRoot = /^\/sys\/fs\/cgroup r[ow],/m;
    assert.match(ts.stdout, /^\/sys\/fs\/cgroup ro,/m);
    assert.equal(ts.stdout.replace(cgroupRoot, '/sys/fs/cgroup rX,'), runc.stdout.replace(cgroupRoot, '/sys/fs/cgroup rX,'));
  });

  test('docker run flags: for each, what the container sees is the same under tsrun as under runc', () => {
    const look = [
      'id', 'grep -E "^(Cap|NoNewPrivs|Seccomp)" /proc/self/status', 'ulimit -a',
      'ls -l /dev | awk \'{print $1, $3, $4, $5, $6, $NF}\'',
      'awk \'{print $5, $6, $(NF-2)}\' /proc/self/mountinfo | sed "s/^\\/sys\\/fs\\/cgroup r[ow],/\\/sys\\/fs\\/cgroup rX,/"',
      'cat /proc/self/oom_score_adj; umask; pwd; env | sort | grep -v HOSTNAME',
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpuset/cpuset.cpus',
      'cat /proc/sys/net/core/somaxconn',
    ].join('; ');
    const matrix = [
      ['--read-only'], ['--cap-drop', 'ALL'], ['--cap-add', 'SYS_ADMIN', '--cap-drop', 'NET_RAW'], ['--security-opt', 'seccomp=unconfined'],
      ['--security-opt', 'no-new-privileges'], ['--user', '1000:1000', '--group-add', '10'], ['--tmpfs', '/run:rw,noexec,size=1m'],
      ['--device', '/dev/fuse'], ['--ulimit', 'nofile=1024:2048'], ['--sysctl', 'net.core.somaxconn=1000'],
      ['--cpus', '0.5', '--cpu-shares', '512', '--cpuset-cpus', '0'], ['--memory', '64m', '--memory-swap', '128m', '--oom-kill-disable'],
      ['--init'], ['--ipc', 'host', '--pid', 'host'], ['--shm-size', '8m', '-w', '/tmp', '-e', 'FOO=bar'], ['--oom-score-adj', '500'],
      // This host's root lacks CAP_SYS_RESOURCE: both refuse --privileged, with the same words.
      ['--privileged'],
    ];
    for (const flags of matrix) {
      const viaRunc = docker(['run', '--rm', '--runtime', 'runc', ...flags, IMAGE, 'sh', '-c', look]);
      const viaTsrun = docker(['run', '--rm', '--runtime', 'tsrun', ...flags, IMAGE, 'sh', '-c', look]);
      assert.equal(viaTsrun.status, viaRunc.status, `${flags.join(' ')}: ${viaTsrun.stderr}`);
      assert.equal(viaTsrun.stdout, viaRunc.stdout, flags.join(' '));
      // (the docker client may add a line of its own about waiting for the container: only the first counts)
      const first = (text: string) => text.split('\n')[0];
      assert.equal(first(viaTsrun.stderr).replace(/tsrun/g, 'runc'), first(viaRunc.stderr), flags.join(' '));
    }
  });

  test('exit status and output pass through; a missing binary fails like runc', () => {
    const r = docker(['run', '--rm', '--runtime', 'tsrun', IMAGE, 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    assert.deepEqual([r.status, r.stdout, r.stderr], [7, 'out\n', 'err\n']);
    const missing = docker(['run', '--rm', '--runtime', 'tsrun', IMAGE, '/nonexistent']);
    const missingRunc = docker(['run', '--rm', '--runtime', 'runc', IMAGE, '/nonexistent']);
    assert.equal(missing.status, missingRunc.status);
    assert.match(missing.stderr, /no such file or directory/);
  });

  test('-t: the container gets a pty from the shim through --console-socket, as under runc', () => {
    const look = ['sh', '-c', 'tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-tty; ls -l /proc/self/fd/0 | sed "s/.*-> //"'];
    const ts = docker(['run', '--rm', '-t', '--runtime', 'tsrun', IMAGE, ...look]);
    const runc = docker(['run', '--rm', '-t', '--runtime', 'runc', IMAGE, ...look]);
    assert.equal(ts.status, 0, ts.stderr);
    assert.equal(ts.stdout, '/dev/pts/0\r\nstdio-is-tty\r\n/dev/pts/0\r\n');
    assert.equal(ts.stdout, runc.stdout);
    const id = docker(['run', '-d', '-t', '--runtime', 'tsrun', IMAGE, 'sleep', '4321']).stdout.trim();
    try {
      const ex = docker(['exec', '-t', id, 'tty']);
      assert.equal(ex.stdout, '/dev/pts/1\r\n', ex.stderr);
    } finally {
      docker(['rm', '-f', id]);
    }
  });

  test('detached container: exec with env, user and workdir, top, pause/unpause, stop, rm', () => {
    const id = docker(['run', '-d', '--runtime', 'tsrun', IMAGE, 'sleep', '4321']).stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    try {
      const ex = docker(['exec', '-e', 'FOO=bar', '-u', '1000:1000', '-w', '/tmp', id, 'sh', '-c', 'echo $FOO $(id -u) $(pwd); cat /proc/1/cmdline | tr "\\0" " "']);
      assert.equal(ex.stdout, 'bar 1000 /tmp\nsleep 4321 ', ex.stderr);
      assert.equal(docker(['exec', id, 'sh', '-c', 'exit 5']).status, 5);
      assert.match(docker(['top', id]).stdout, /sleep 4321/);
      assert.equal(docker(['pause', id]).status, 0);
      assert.equal(docker(['inspect', '-f', '{{.State.Status}}', id]).stdout.trim(), 'paused');
      assert.equal(docker(['unpause', id]).status, 0);
      assert.equal(docker(['exec', id, 'true']).status, 0);
      assert.equal(docker(['stop', '-t', '1', id]).status, 0);
      assert.equal(docker(['inspect', '-f', '{{.State.ExitCode}}', id]).stdout.trim(), '137');
      // A stopped container starts again (a new create on the same bundle).
      assert.equal(docker(['start', id]).status, 0);
      assert.equal(docker(['inspect', '-f', '{{.State.Running}}', id]).stdout.trim(), 'true');
    } finally {
      assert.equal(docker(['rm', '-f', id]).status, 0);
    }
  });

  test('containerd 1.6 (ctr) through its runc shim with --runc-binary tsrun: same as runc, exit status, tasks', () => {
    const ctr = (args: string[], input?: Buffer) => {
      const r = spawnSync('ctr', ['-a', join(dir, 'exec', 'containerd', 'containerd.sock'), '-n', CTR_NAMESPACE, ...args], { input, encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
      return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    const saved = spawnSync(DOCKER, ['-H', `unix://${dir}/docker.sock`, 'save', IMAGE], { maxBuffer: 64 << 20 });
    assert.equal(ctr(['images', 'import', '-'], saved.stdout).status, 0);
    const image = `docker.io/library/${IMAGE}`;
    const look = 'id; grep -E "^(Cap|NoNewPrivs)" /proc/self/status; awk \'{print $5, $6}\' /proc/self/mountinfo; ls /dev';
    const viaRunc = ctr(['run', '--rm', image, `ctr-runc-${process.pid}`, 'sh', '-c', look]);
    const viaTsrun = ctr(['run', '--rm', '--runc-binary', TSRUN, image, `ctr-tsrun-${process.pid}`, 'sh', '-c', look]);
    assert.equal(viaTsrun.status, 0, viaTsrun.stderr);
    assert.equal(viaTsrun.stdout, viaRunc.stdout);
    assert.equal(ctr(['run', '--rm', '--runc-binary', TSRUN, image, `ctr-exit-${process.pid}`, 'sh', '-c', 'exit 3']).status, 3);
    assert.equal(ctr(['tasks', 'ls', '-q']).stdout, '');
  });

  test('nothing of tsrun is left once the containers are gone: state, cgroups, processes', () => {
    const stateRoot = join(dir, 'exec', 'runtime-tsrun', 'moby');
    assert.deepEqual(existsSync(stateRoot) ? readdirSync(stateRoot) : [], []);
    for (const p of cgroupParents()) {
      const procs = spawnSync('sh', ['-c', `cat $(find ${p} -name cgroup.procs)`], { encoding: 'utf8' }).stdout;
      assert.equal(procs, '', `processes left in ${p}`);
      if (p.endsWith(cgroupParent)) {
        const children = readdirSync(p, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
        assert.deepEqual(children, [], `${p} still has container cgroups`);
      }
    }
    const containers = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).filter((n) => {
      try { return readFileSync(`/proc/${n}/cmdline`, 'latin1').startsWith('sleep\0' + '4321'); } catch { return false; }
    });
    assert.deepEqual(containers, []);
  });
});
