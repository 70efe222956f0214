// Today's Docker (dockerd 28 with its own containerd 2.1 and runc 1.3, from scripts/modern-stack.sh) driving tsrun both
// ways `tsrun setup docker` registers it: the CLI (`path`, under containerd's runc shim) as runtime "tsrun" and the
// containerd shim (`runtimeType`) as "tsrun-shim", each beside runc 1.3. dockerd runs in a network namespace
// of its own with every directory under one temporary directory, its containers under one cgroup parent and in a
// containerd namespace of their own, so nothing of the machine's Docker is touched.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, makeBundle, REPO, TSRUN, childEnv } from '../helpers/harness.js';
import { requireStack, stackSkip, type Stack, hostDirs } from '../helpers/stack.js';

const skip = needsRoot || stackSkip();
const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'tsrun-docker28-'));
const cgroupParent = `tsrun-docker28-test-${process.pid}`;
const namespace = `tsrun-docker28-${process.pid}`;
const IMAGE = 'busybox:tsrun-e2e';
const MARK = '4329';
let stack: Stack;
let daemon: ChildProcess | undefined;
// Directories dockerd 28 and containerd 2.1 make whatever their configured paths (the shims' socket directory,
// the plugin directory): removed afterwards if they were not there before and are empty (another session's engine
// may be using them meanwhile, then they are not empty or were there already).
const fixedDirs = hostDirs(['/run/containerd', '/run/containerd/s', '/run/containerd/tsrun', '/run/docker', '/run/docker/plugins']);
// The tsrun shim's state when Docker passes it no options (Root): per containerd namespace, ours is private.
const shimState = `/run/containerd/tsrun/${namespace}`;
const RUNTIMES = ['runc', 'tsrun', 'tsrun-shim'];

const baseEnv = childEnv;

function docker(args: string[], input?: string | Buffer) {
  const r = spawnSync(stack.docker, ['-H', `unix://${dir}/docker.sock`, ...args], {
    input, encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20, env: { ...baseEnv, DOCKER_CONFIG: join(dir, 'client') },
  });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function cgroupParents(): string[] {
  return readdirSync('/sys/fs/cgroup').map((h) => join('/sys/fs/cgroup', h, cgroupParent)).filter((p) => existsSync(p));
}

function markedProcesses(): string[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).filter((n) => {
    try { return readFileSync(`/proc/${n}/cmdline`, 'latin1') === `sleep\0${MARK}\0`; } catch { return false; }
  });
}

describe('Docker 28 with tsrun (CLI and shim forms) beside runc 1.3', { skip }, () => {
  before(async () => {
    stack = requireStack();
    const config = join(dir, 'daemon.json');
    const setup = spawnSync(TSRUN, ['setup', 'docker', '--cli', '--config', config], { encoding: 'utf8', env: baseEnv });
    assert.equal(setup.status, 0, setup.stderr);
    // The shim form under a second name (one daemon.json cannot name both "tsrun"): the entry setup writes.
    const shimConfig = join(dir, 'daemon-shim.json');
    const shimSetup = spawnSync(TSRUN, ['setup', 'docker', '--config', shimConfig, '--engine-version', '28.5'], { encoding: 'utf8', env: baseEnv });
    assert.equal(shimSetup.status, 0, shimSetup.stderr);
    const daemonJson = JSON.parse(readFileSync(config, 'utf8'));
    daemonJson.runtimes['tsrun-shim'] = JSON.parse(readFileSync(shimConfig, 'utf8')).runtimes.tsrun;
    writeFileSync(config, JSON.stringify(daemonJson, null, 2));
    // The stack's directory first: dockerd starts its containerd from PATH, which finds the runc shim and runc 1.3,
    // and dockerd finds docker-proxy and docker-init there; then tsrun's shim, which setup names by its type.
    const env = { ...baseEnv, PATH: `${stack.bin}:${join(REPO, 'bin')}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` };
    // Its network namespace's loopback up: ports are published on 127.0.0.1 there.
    daemon = spawn('unshare', ['--net', '--', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', stack.dockerd, '--config-file', config,
      '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'dockerd.pid'),
      '-H', `unix://${dir}/docker.sock`, '--cgroup-parent', `/${cgroupParent}`,
      '--containerd-namespace', namespace, '--containerd-plugins-namespace', `${namespace}-plugins`,
    ], { stdio: ['ignore', 'ignore', 'ignore'], env });
    for (let i = 0; i < 300 && docker(['version']).status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(docker(['version']).status, 0, 'dockerd did not come up');
    const rootfs = join(makeBundle(), 'rootfs');
    const tar = spawnSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 });
    assert.equal(docker(['import', '-', IMAGE], tar.stdout).status, 0);
    rmSync(join(rootfs, '..'), { recursive: true, force: true });
  });

  after(async () => {
    if (!stack) return;
    const ids = docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
    if (ids.length) docker(['rm', '-f', ...ids]);
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon.kill('SIGTERM');
      // unref: a pending timer would hold the test process for its full 20 s after dockerd has gone.
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000).unref())]);
    }
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(dir));
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
    rmSync(dir, { recursive: true, force: true });
    for (const p of cgroupParents()) spawnSync('find', [p, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
    rmSync(`/run/containerd/runc/${namespace}`, { recursive: true, force: true });
    rmSync(shimState, { recursive: true, force: true });
    fixedDirs.remove();
  });

  test('the daemon is Docker 28 with runc 1.3 as its default runtime, and tsrun registered by tsrun setup', () => {
    const info = docker(['info', '--format', '{{.ServerVersion}} {{.DefaultRuntime}} {{.RuncCommit.ID}}']);
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, /^28\.\S+ runc 1\.3\./);
    const runtimes = JSON.parse(docker(['info', '--format', '{{json .Runtimes}}']).stdout);
    assert.equal(runtimes.tsrun.path, TSRUN);
    // (docker info shows nothing of a runtimeType runtime but its name)
    assert.ok(runtimes['tsrun-shim']);
    assert.equal(JSON.parse(readFileSync(join(dir, 'daemon.json'), 'utf8')).runtimes['tsrun-shim'].runtimeType, 'io.containerd.tsrun.v2');
  });

  test('run --rm: output, exit status, and 127/126 for a missing or non-executable command, as under runc', () => {
    for (const runtime of RUNTIMES) {
      const r = docker(['run', '--rm', '--runtime', runtime, IMAGE, 'sh', '-c', 'echo out; echo err >&2; exit 7']);
      assert.deepEqual([r.status, r.stdout, r.stderr], [7, 'out\n', 'err\n'], runtime);
      const missing = docker(['run', '--rm', '--runtime', runtime, IMAGE, '/nonexistent']);
      assert.equal(missing.status, 127, `${runtime}: ${missing.stderr}`);
      const who = runtime === 'tsrun-shim' ? 'tsrun' : runtime;
      assert.match(missing.stderr, new RegExp(`OCI runtime create failed: ${who} create failed: unable to start container process: .*exec: "/nonexistent": stat /nonexistent: no such file or directory`));
      const notExecutable = docker(['run', '--rm', '--runtime', runtime, IMAGE, '/etc/passwd']);
      assert.equal(notExecutable.status, 126, `${runtime}: ${notExecutable.stderr}`);
      assert.match(notExecutable.stderr, /exec: "\/etc\/passwd": permission denied/);
    }
  });

  test('-d, exec, top, pause/unpause, stop: the same under tsrun as under runc', () => {
    const session = (runtime: string) => {
      const seen: unknown[] = [];
      const id = docker(['run', '-d', '--runtime', runtime, IMAGE, 'sleep', MARK]).stdout.trim();
      assert.match(id, /^[0-9a-f]{64}$/, runtime);
      try {
        const ex = docker(['exec', '-e', 'FOO=bar', '-u', '1000:1000', '-w', '/tmp', id, 'sh', '-c', 'echo $FOO $(id -u) $(pwd); tr "\\0" " " < /proc/1/cmdline']);
        seen.push(ex.status, ex.stdout, ex.stderr);
        seen.push(docker(['exec', id, 'sh', '-c', 'exit 5']).status);
        seen.push(docker(['exec', id, '/nonexistent']).status);
        const top = docker(['top', id]);
        seen.push(top.status, top.stdout.split('\n').filter((l) => l.endsWith(`sleep ${MARK}`)).length);
        seen.push(docker(['pause', id]).status, docker(['inspect', '-f', '{{.State.Status}}', id]).stdout.trim());
        seen.push(docker(['unpause', id]).status, docker(['exec', id, 'true']).status);
        seen.push(docker(['stop', '-t', '1', id]).status, docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', id]).stdout.trim());
      } finally {
        seen.push(docker(['rm', '-f', id]).status);
      }
      return seen;
    };
    const viaRunc = session('runc');
    assert.deepEqual(viaRunc, [0, `bar 1000 /tmp\nsleep ${MARK} `, '', 5, 127, 0, 1, 0, 'paused', 0, 0, 0, 'exited 137', 0]);
    assert.deepEqual(session('tsrun'), viaRunc);
    assert.deepEqual(session('tsrun-shim'), viaRunc);
  });

  test('-t through a pty, exec -t, logs, restart, kill: the same under tsrun as under runc', () => {
    const session = (runtime: string) => {
      const seen: unknown[] = [];
      const fg = docker(['run', '--rm', '-t', '--runtime', runtime, IMAGE, 'sh', '-c', 'tty; [ -t 0 ] && [ -t 1 ] && echo tty']);
      seen.push(fg.status, fg.stdout);
      const id = docker(['run', '-d', '-t', '--runtime', runtime, IMAGE, 'sh', '-c', `echo started; exec sleep ${MARK}`]).stdout.trim();
      try {
        const ex = docker(['exec', '-t', id, 'tty']);
        seen.push(ex.status, ex.stdout);
        seen.push(docker(['restart', '-t', '1', id]).status, docker(['inspect', '-f', '{{.State.Running}} {{.RestartCount}}', id]).stdout.trim());
        seen.push(docker(['logs', id]).stdout);
        seen.push(docker(['kill', id]).status, docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', id]).stdout.trim());
      } finally {
        seen.push(docker(['rm', '-f', id]).status);
      }
      return seen;
    };
    const viaRunc = session('runc');
    assert.deepEqual(viaRunc.slice(0, 2), [0, '/dev/pts/0\r\ntty\r\n']);
    assert.deepEqual(viaRunc.slice(4), [0, 'true 0', 'started\r\nstarted\r\n', 0, 'exited 137', 0]);
    assert.deepEqual(session('tsrun'), viaRunc);
    assert.deepEqual(session('tsrun-shim'), viaRunc);
  });

  test('-it: an interactive session through a pty (typed commands reach the shell, its exit status comes back)', () => {
    // script(1) gives the docker client a terminal of its own; what is typed waits in the pty until it reads.
    const session = (runtime: string) => {
      const cmd = [stack.docker, '-H', `unix://${dir}/docker.sock`, 'run', '--rm', '-it', '--runtime', runtime, IMAGE, 'sh'].join(' ');
      const r = spawnSync('script', ['-qefc', cmd, '/dev/null'], {
        input: 'echo typed-$((40+2)); [ -t 0 ] && echo stdin-is-a-tty\nexit 7\n', encoding: 'utf8', timeout: 60_000,
        env: { ...baseEnv, DOCKER_CONFIG: join(dir, 'client') },
      });
      return [r.status, /typed-42/.test(r.stdout), /stdin-is-a-tty/.test(r.stdout)];
    };
    const viaRunc = session('runc');
    assert.deepEqual(viaRunc, [7, true, true]);
    assert.deepEqual(session('tsrun'), viaRunc);
    assert.deepEqual(session('tsrun-shim'), viaRunc);
  });

  test('what confines a container: --read-only, --tmpfs, caps, --user, seccomp, --pids-limit, -m/--cpus, -v, --init, --network none', () => {
    const volume = join(dir, 'volume');
    mkdirSync(volume, { recursive: true });
    chmodSync(dir, 0o755);
    writeFileSync(join(volume, 'f'), 'from the host\n');
    const cases: string[][] = [
      ['--read-only', '--tmpfs', '/run:size=1m', IMAGE, 'sh', '-c', 'touch /x 2>&1; touch /run/y && echo run-writable; awk \'$2 == "/run" { print $3, $4 }\' /proc/mounts'],
      ['--cap-drop', 'ALL', '--cap-add', 'NET_BIND_SERVICE', '--cap-add', 'CHOWN', IMAGE, 'grep', '^Cap', '/proc/self/status'],
      ['--user', '1000:1000', IMAGE, 'sh', '-c', 'id; grep ^CapEff /proc/self/status'],
      [IMAGE, 'grep', '-E', '^(Seccomp|NoNewPrivs):', '/proc/self/status'],
      ['--security-opt', 'seccomp=unconfined', IMAGE, 'grep', '-E', '^(Seccomp|NoNewPrivs):', '/proc/self/status'],
      [IMAGE, 'sh', '-c', 'unshare -U true 2>&1; echo $?'],
      ['--pids-limit', '20', IMAGE, 'cat', '/sys/fs/cgroup/pids/pids.max'],
      ['-m', '64m', '--cpus', '0.5', IMAGE, 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us', '/sys/fs/cgroup/cpu/cpu.cfs_period_us'],
      ['-v', `${volume}:/data:ro`, IMAGE, 'sh', '-c', 'cat /data/f; touch /data/g 2>&1'],
      // (pid numbers aside: runc's own init process takes some of the namespace's first pids)
      ['--init', IMAGE, 'sh', '-c', 'ps -o pid,comm | awk \'$1 == 1 || $2 == "ps" { print $2 }\''],
      ['--network', 'none', IMAGE, 'sh', '-c', 'ls /sys/class/net'],
      [IMAGE, 'sh', '-c', 'ls /sys/class/net; ip -4 -o addr show eth0 | grep -c "inet 172\\."'],
    ];
    const results = (runtime: string) => cases.map((c) => {
      const r = docker(['run', '--rm', '--runtime', runtime, ...c]);
      return `${r.status}|${r.stdout}|${r.stderr}`;
    });
    const viaRunc = results('runc');
    assert.deepEqual(viaRunc.slice(0, 2), [
      '0|touch: /x: Read-only file system\nrun-writable\ntmpfs rw,nosuid,nodev,noexec,relatime,size=1024k\n|',
      '0|CapInh:\t0000000000000000\nCapPrm:\t0000000000000401\nCapEff:\t0000000000000401\nCapBnd:\t0000000000000401\nCapAmb:\t0000000000000000\n|',
    ]);
    assert.equal(viaRunc[3], '0|NoNewPrivs:\t0\nSeccomp:\t2\n|');
    assert.equal(viaRunc[4], '0|NoNewPrivs:\t0\nSeccomp:\t0\n|');
    assert.equal(viaRunc[9], '0|docker-init\nps\n|');
    assert.deepEqual(results('tsrun'), viaRunc);
    assert.deepEqual(results('tsrun-shim'), viaRunc);
  });

  test('a detached container: stats, update --memory --cpus, a published port on 127.0.0.1; an OOM kill shows OOMKilled', () => {
    const session = (runtime: string) => {
      const seen: Record<string, unknown> = {};
      const id = docker(['run', '-d', '--runtime', runtime, '-p', '127.0.0.1::80', IMAGE, 'sh', '-c', `mkdir /www; echo hello > /www/i; httpd -p 80 -h /www; exec sleep ${MARK}`]).stdout.trim();
      try {
        const port = docker(['port', id, '80/tcp']).stdout.trim();
        seen.port = /^127\.0\.0\.1:\d+$/.test(port);
        // dockerd's network namespace is the host's to a --network host container.
        let got = '';
        for (let i = 0; i < 30 && got !== 'hello\n'; i++, spawnSync('sleep', ['0.2'])) {
          got = docker(['run', '--rm', '--network', 'host', IMAGE, 'wget', '-qO-', `http://${port}/i`]).stdout;
        }
        seen.web = got;
        const stats = docker(['stats', '--no-stream', '--format', '{{.ID}} {{.MemUsage}} {{.PIDs}}', id]);
        seen.stats = [stats.status, new RegExp(`^${id.slice(0, 12)} [\\d.]+[KMG]iB / [\\d.]+[KMGT]iB [1-9]\\d*\\n$`).test(stats.stdout) || stats.stdout];
        seen.update = docker(['update', '--memory', '96m', '--memory-swap', '192m', '--cpus', '0.5', id]).status;
        seen.limits = docker(['exec', id, 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us']).stdout;
      } finally {
        seen.rm = docker(['rm', '-f', id]).status;
      }
      // The runc shim watches for OOM only once `start` has returned, which takes tsrun longer than runc: a process
      // that exhausts its memory at once could be killed before anyone watches.
      const oom = docker(['run', '-d', '--runtime', runtime, '-m', '16m', '--memory-swap', '16m', IMAGE, 'sh', '-c', 'sleep 1; x=a; while :; do x=$x$x; done']).stdout.trim();
      try {
        seen.oomWait = docker(['wait', oom]).stdout.trim();
        seen.oom = docker(['inspect', '-f', '{{.State.OOMKilled}} {{.State.ExitCode}}', oom]).stdout.trim();
      } finally {
        docker(['rm', '-f', oom]);
      }
      return seen;
    };
    const viaRunc = session('runc');
    assert.deepEqual(viaRunc, { port: true, web: 'hello\n', stats: [0, true], update: 0, limits: '100663296\n50000\n', rm: 0, oomWait: '137', oom: 'true 137' });
    assert.deepEqual(session('tsrun'), viaRunc);
    assert.deepEqual(session('tsrun-shim'), viaRunc);
  });

  test('nothing is left once the containers are gone: runtime state, cgroups, processes', () => {
    assert.equal(docker(['ps', '-aq']).stdout, '');
    const states = join(dir, 'exec', 'runtime-runc', namespace);
    assert.deepEqual(existsSync(states) ? readdirSync(states) : [], []);
    assert.deepEqual(existsSync(shimState) ? readdirSync(shimState) : [], []);
    for (const p of cgroupParents()) {
      const children = readdirSync(p, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
      assert.deepEqual(children, [], `${p} still has container cgroups`);
    }
    assert.deepEqual(markedProcesses(), []);
  });
});
