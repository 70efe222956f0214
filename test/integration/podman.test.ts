// tsrun under Podman 4.3 + conmon (--runtime tsrun, JSON error log), beside runc. Podman's
// storage, run and network state live in one temporary directory (CONTAINERS_CONF and
// CONTAINERS_STORAGE_CONF, see ../shared/reference/podman-offline.md), containers run without a
// network and under a cgroup parent of their own; what Podman writes elsewhere is removed after.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, makeBundle, TSRUN } from '../helpers/harness.js';

const PODMAN = '/usr/bin/podman';
const skip = needsRoot || (!existsSync(PODMAN) || !existsSync('/usr/bin/conmon') ? 'Podman is not installed (make test installs podman)' : false);

const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'tsrun-podman-'));
const cgroupParent = `tsrun-podman-test-${process.pid}`;
const IMAGE = 'localhost/busybox:tsrun-test';
// Podman writes these outside its configured directories; they are removed after if they were not there before.
const globalPaths = ['/var/lib/containers', '/sys/fs/cgroup/memory/libpod_parent'].filter((p) => !existsSync(p));

function podman(args: string[], input?: Buffer) {
  const env = { ...process.env, CONTAINERS_CONF: join(dir, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf') };
  const r = spawnSync(PODMAN, args, { input, env, encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const run = (runtime: string, args: string[]) => podman(['run', '--rm', '--network', 'none', '--runtime', runtime, '--cgroup-parent', `/${cgroupParent}`, ...args]);

function cgroupDirs(): string[] {
  const out: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    for (const name of [cgroupParent, 'libpod_parent']) {
      const p = join('/sys/fs/cgroup', h, name);
      if (existsSync(p) && (name === cgroupParent || globalPaths.includes('/sys/fs/cgroup/memory/libpod_parent'))) out.push(p);
    }
  }
  return out;
}

describe('Podman 4.3 with --runtime tsrun', { skip }, () => {
  before(() => {
    writeFileSync(join(dir, 'containers.conf'), [
      '[containers]',
      // Root lacks CAP_SYS_RESOURCE here: Podman's default rlimits cannot be set by any runtime.
      'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${dir}/events.log"`,
      `tmp_dir = "${dir}/tmp"`,
      'runtime_supports_json = ["crun", "runc", "tsrun"]',
      '[engine.runtimes]',
      `tsrun = ["${TSRUN}"]`,
      '[network]',
      `network_config_dir = "${dir}/networks"`,
      '',
    ].join('\n'));
    writeFileSync(join(dir, 'storage.conf'), `[storage]\ndriver = "overlay"\nrunroot = "${dir}/runroot"\ngraphroot = "${dir}/root"\n`);
    const bundle = makeBundle();
    writeFileSync(join(bundle, 'rootfs', 'not-executable'), '#!/bin/sh\n');
    chmodSync(join(bundle, 'rootfs', 'not-executable'), 0o644);
    const tar = spawnSync('tar', ['-C', join(bundle, 'rootfs'), '-c', '.'], { maxBuffer: 64 << 20 });
    assert.equal(podman(['import', '-', IMAGE], tar.stdout).status, 0);
    rmSync(bundle, { recursive: true, force: true });
  });

  after(() => {
    podman(['rm', '-af', '-t', '0']);
    podman(['rmi', '-af']);
    for (const m of readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m?.startsWith(dir)).reverse()) {
      spawnSync('umount', ['-l', m]);
    }
    rmSync(dir, { recursive: true, force: true });
    for (const p of cgroupDirs()) spawnSync('find', [p, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
    for (const p of globalPaths) if (!p.startsWith('/sys/')) rmSync(p, { recursive: true, force: true });
  });

  const probe = [
    'echo pid=$$; id',
    'grep -E "^(Cap|NoNewPrivs|Seccomp)" /proc/self/status',
    'ulimit -a',
    'ls -l /dev /dev/pts | awk \'{print $1, $3, $4, $5, $6, $NF}\'',
    // Sorted: Podman orders its /etc binds differently from one run to the next. tsrun's cgroup
    // tmpfs is read-only as the spec asks (runc leaves it read-write): that one line is normalised.
    'awk \'{print $5, $6, $(NF-2)}\' /proc/self/mountinfo | sed "s/^\\/sys\\/fs\\/cgroup r[ow],/\\/sys\\/fs\\/cgroup rX,/" | sort',
    'cat /proc/self/oom_score_adj; umask; pwd; env | sort | grep -v HOSTNAME',
  ].join('; ');

  test('a container sees the same under tsrun as under runc', () => {
    const viaRunc = run('/usr/sbin/runc', [IMAGE, 'sh', '-c', probe]);
    const viaTsrun = run('tsrun', [IMAGE, 'sh', '-c', probe]);
    assert.equal(viaTsrun.status, 0, viaTsrun.stderr);
    assert.match(viaTsrun.stdout, /^pid=1$/m);
    assert.match(viaTsrun.stdout, /^Seccomp:\t2$/m);
    assert.equal(viaTsrun.stdout, viaRunc.stdout);
  });

  test('podman run flags: for each, what the container sees is the same under tsrun as under runc', () => {
    const matrix = [
      ['--read-only'], ['--cap-drop', 'all'], ['--cap-add', 'SYS_ADMIN'], ['--security-opt', 'seccomp=unconfined'],
      ['--security-opt', 'no-new-privileges'], ['--user', '1000:1000'], ['--tmpfs', '/run:rw,noexec,size=1m'], ['--device', '/dev/fuse'],
      ['--ulimit', 'nofile=1024:2048', '--ulimit', 'nproc=100:200'], ['--sysctl', 'kernel.shm_rmid_forced=1'],
      ['--memory', '64m', '--pids-limit', '30', '--cpus', '0.5'], ['--pid', 'host'], ['--ipc', 'host'], ['--privileged'],
      ['--read-only-tmpfs=false', '--read-only'], ['--workdir', '/tmp', '-e', 'FOO=bar', '--hostname', 'hh'],
    ];
    for (const flags of matrix) {
      const viaRunc = run('/usr/sbin/runc', [...flags, IMAGE, 'sh', '-c', probe]);
      const viaTsrun = run('tsrun', [...flags, IMAGE, 'sh', '-c', probe]);
      assert.equal(viaTsrun.status, viaRunc.status, `${flags.join(' ')}: ${viaTsrun.stderr}`);
      // (with --pid host the shell's pid is the host's, different each time)
      const same = (out: string) => out.replace(/^pid=\d+$/m, 'pid=N');
      assert.equal(same(viaTsrun.stdout), same(viaRunc.stdout), flags.join(' '));
    }
  });

  test('exit codes and the JSON error log: 42 passes through, missing command 127, not executable 126', () => {
    assert.equal(run('tsrun', [IMAGE, 'sh', '-c', 'exit 42']).status, 42);
    const missing = run('tsrun', [IMAGE, '/no/such/cmd']);
    assert.equal(missing.status, 127);
    // Podman read our one JSON line from --log and classified it as runc's.
    assert.match(missing.stderr, /^Error: tsrun: tsrun create failed: unable to start container process: exec: "\/no\/such\/cmd": stat \/no\/such\/cmd: no such file or directory: OCI runtime attempted to invoke a command that was not found$/m);
    assert.equal(run('tsrun', [IMAGE, 'nosuchcmd']).status, 127);
    const denied = run('tsrun', [IMAGE, '/not-executable']);
    assert.equal(denied.status, 126, denied.stderr);
    assert.match(denied.stderr, /permission denied/);
  });

  test('-t: conmon gets the pty over the console socket (run and exec)', () => {
    const r = run('tsrun', ['-t', IMAGE, 'sh', '-c', 'tty; exit 9']);
    assert.equal(r.status, 9, r.stderr);
    assert.equal(r.stdout, '/dev/pts/0\r\n');
    const id = podman(['run', '-d', '-t', '--network', 'none', '--runtime', 'tsrun', '--cgroup-parent', `/${cgroupParent}`, IMAGE, 'sleep', '4322']).stdout.trim();
    try {
      const ex = podman(['exec', '-t', id, 'sh', '-c', 'tty; exit 3']);
      assert.equal(ex.status, 3, ex.stderr);
      assert.match(ex.stdout, /^\/dev\/pts\/\d+\r\n$/);
    } finally {
      podman(['rm', '-f', '-t', '0', id]);
    }
  });

  test('detached: exec (exit status, missing binary), pause/unpause, stop, restart, rm', () => {
    const id = podman(['run', '-d', '--network', 'none', '--runtime', 'tsrun', '--cgroup-parent', `/${cgroupParent}`, IMAGE, 'sleep', '4322']).stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    try {
      assert.equal(podman(['inspect', '-f', '{{.OCIRuntime}}', id]).stdout.trim(), 'tsrun');
      const ex = podman(['exec', '-u', '1000:1000', '-w', '/tmp', '-e', 'X=y', id, 'sh', '-c', 'echo $X $(id -u) $(pwd)']);
      assert.equal(ex.stdout, 'y 1000 /tmp\n', ex.stderr);
      assert.equal(podman(['exec', id, 'sh', '-c', 'exit 7']).status, 7);
      const missing = podman(['exec', id, '/no/such']);
      assert.equal(missing.status, 127, missing.stderr);
      assert.equal(podman(['pause', id]).status, 0);
      assert.equal(podman(['inspect', '-f', '{{.State.Status}}', id]).stdout.trim(), 'paused');
      assert.equal(podman(['unpause', id]).status, 0);
      assert.equal(podman(['stop', '-t', '1', id]).status, 0);
      assert.equal(podman(['inspect', '-f', '{{.State.ExitCode}}', id]).stdout.trim(), '137');
      assert.equal(podman(['start', id]).status, 0);
      assert.equal(podman(['inspect', '-f', '{{.State.Running}}', id]).stdout.trim(), 'true');
    } finally {
      assert.equal(podman(['rm', '-f', '-t', '0', id]).status, 0);
    }
    // tsrun's default root (Podman passes none): nothing of the container left there.
    assert.equal(existsSync(join('/run/tsrun', id)), false);
    const left = spawnSync('sh', ['-c', `cat $(find ${cgroupDirs().join(' ')} -name cgroup.procs) 2>/dev/null`], { encoding: 'utf8' }).stdout;
    assert.equal(left, '', 'processes left in the cgroups');
  });
});
