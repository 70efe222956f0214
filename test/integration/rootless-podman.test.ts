// Rootless Podman 4.3 (as the unprivileged test user, with its /etc/subuid ranges) running
// containers with --runtime tsrun, beside --runtime runc. Podman runs the runtime as root of
// its own user namespace (the user's id and subordinate range mapped), so this is tsrun's
// "euid 0 in a user namespace" side of rootless: devices bound, cgroup errors tolerated. All of
// Podman's state lives in one directory of the user's and a runroot under XDG_RUNTIME_DIR;
// Podman's pause process (which holds its user namespace) is stopped after.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, TSRUN } from '../helpers/harness.js';
import { RUNC, asUser, ensureTestUser, needsRootlessSetup, userProcesses, userStateRoot, type TestUser } from '../helpers/rootless-user.js';

const PODMAN = '/usr/bin/podman';
const skip = needsRootlessSetup || (!existsSync(PODMAN) || !existsSync('/usr/bin/conmon') ? 'Podman is not installed (make test installs podman)' : false);
const IMAGE = 'localhost/busybox:tsrun-rootless';
let user: TestUser;
let dir = '';
let runroot = '';

function podman(args: string[], input?: Buffer) {
  return asUser(user, PODMAN, args, { input, timeout: 120_000, env: { CONTAINERS_CONF: join(dir, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf') } });
}

const RUNTIMES = [{ name: 'tsrun', bin: TSRUN }, { name: 'runc', bin: RUNC }];

describe('rootless Podman 4.3 with --runtime tsrun', { skip }, () => {
  before(() => {
    user = ensureTestUser();
    dir = mkdtempSync(join(user.home, 'podman-'));
    runroot = join(user.runtimeDir, `podman-runroot-${process.pid}`);
    writeFileSync(join(dir, 'containers.conf'), [
      '[containers]',
      // The user's own limits: a rootless runtime cannot raise them.
      'default_ulimits = []',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${dir}/events.log"`,
      'runtime_supports_json = ["crun", "runc", "tsrun"]',
      '[network]',
      `network_config_dir = "${dir}/networks"`,
      '',
    ].join('\n'));
    // vfs: no overlay mounts to leave behind, and it works in any user namespace.
    writeFileSync(join(dir, 'storage.conf'), `[storage]\ndriver = "vfs"\nrunroot = "${runroot}"\ngraphroot = "${dir}/root"\n`);
    spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
    const bundle = join(dir, 'b');
    const made = spawnSync(join(REPO, 'scripts/make-busybox-bundle.sh'), [bundle], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const tar = spawnSync('tar', ['-C', join(bundle, 'rootfs'), '-c', '.'], { maxBuffer: 64 << 20 });
    rmSync(bundle, { recursive: true, force: true });
    const imported = podman(['import', '-', IMAGE], tar.stdout);
    assert.equal(imported.status, 0, imported.stderr);
  });

  after(() => {
    if (!user) return;
    podman(['rm', '-af', '-t', '0']);
    podman(['rmi', '-af']);
    const pause = join(user.runtimeDir, 'libpod/tmp/pause.pid');
    if (existsSync(pause)) {
      try { process.kill(Number(readFileSync(pause, 'utf8')), 'SIGKILL'); } catch { /* gone */ }
    }
    for (let i = 0; i < 100 && userProcesses(user).length; i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    rmSync(dir, { recursive: true, force: true });
    rmSync(runroot, { recursive: true, force: true });
    // What rootless Podman keeps in the user's own directories besides the configured ones.
    for (const p of [join(user.runtimeDir, 'containers'), join(user.runtimeDir, 'libpod'), join(user.home, '.local/share/containers')]) rmSync(p, { recursive: true, force: true });
    assert.deepEqual(userProcesses(user), [], 'processes of the user left behind');
  });

  const run = (runtime: string, args: string[]) => podman(['run', '--rm', '--network', 'none', '--runtime', runtime, ...args]);

  /** No container state of either runtime and no mounts of Podman's storage are left. */
  function assertNothingLeft(): void {
    for (const name of ['tsrun', 'runc']) {
      const root = userStateRoot(user, name);
      const left = existsSync(root) ? spawnSync('ls', [root], { encoding: 'utf8' }).stdout.trim() : '';
      assert.equal(left, '', `${name} state left under ${root}`);
    }
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(dir) || l.includes(runroot));
    assert.deepEqual(mounts, [], 'mounts left behind');
  }

  test('run --rm: root inside is the user, the subordinate range maps the rest; the exit status passes through', () => {
    const out: Record<string, { status: number; stdout: string }> = {};
    for (const r of RUNTIMES) {
      const res = run(r.bin, [IMAGE, 'sh', '-c', 'id; cat /proc/self/uid_map /proc/self/gid_map; ls /dev | tr "\\n" " "; exit 42']);
      out[r.name] = { status: res.status, stdout: res.stdout.toString() };
      assert.equal(res.status, 42, `${r.name}: ${res.stderr}`);
      assertNothingLeft();
    }
    assert.match(out.tsrun.stdout, new RegExp(`^uid=0\\(root\\) gid=0\\(root\\)\\n\\s+0\\s+${user.uid}\\s+1\\n\\s+1\\s+${user.subuid.start}\\s+${user.subuid.count}\\n`));
    assert.deepEqual(out.tsrun, out.runc);
  });

  test('run -d, exec (its exit status), rm -f', () => {
    const out: Record<string, unknown> = {};
    for (const r of RUNTIMES) {
      const name = `rl-${r.name}-${process.pid}`;
      const started = podman(['run', '-d', '--name', name, '--network', 'none', '--runtime', r.bin, IMAGE, 'sleep', '1000']);
      assert.equal(started.status, 0, `${r.name}: ${started.stderr}`);
      const e = podman(['exec', name, 'sh', '-c', 'id -u; exit 7']);
      const removed = podman(['rm', '-f', '-t', '0', name]);
      assert.equal(removed.status, 0, removed.stderr);
      out[r.name] = { exec: e.status, stdout: e.stdout.toString() };
      assertNothingLeft();
    }
    assert.deepEqual(out.tsrun, { exec: 7, stdout: '0\n' });
    assert.deepEqual(out.tsrun, out.runc);
  });
});
