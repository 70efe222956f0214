// Runs inside ../shared/vm/run-in-cgroup2-vm, started by test/integration/rootless-vm.test.ts:
// systemd as pid 1 of a namespace of its own (test/helpers/systemd-ns.ts) starts the test user's
// own systemd, and that user runs `--systemd-cgroup` containers with tsrun and runc 1.3.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TSRUN, uniqueId } from '../helpers/harness.js';
import { ensureTestUser, makeUserBundle, needsRootlessSetup, type TestUser } from '../helpers/rootless-user.js';
import { runc13 } from '../helpers/beside.js';
import { inSystemd, sleep, startSystemd, stopSystemd } from '../helpers/systemd-ns.js';

const r13 = runc13();

before(startSystemd);
after(stopSystemd);

// A plain user's `--systemd-cgroup` asks the user's systemd (user@UID.service, Delegate=yes) over
// the user's session bus, as runc 1.3 does; the scope's cgroup lies below the user manager's.
// Both runtimes, same bundle shape, same outcome; nothing left.
test('systemd driver, rootless: the user\'s systemd makes the scope, the limits hold; beside runc 1.3', { skip: needsRootlessSetup || r13.skip }, async () => {
  const made = ensureTestUser();
  const user: TestUser = { ...made, home: `/tmp/sd-home-${process.pid}`, runtimeDir: `/run/user/${made.uid}` };
  // The bundles are made outside systemd's namespaces, where the user's runtime dir is not its manager's.
  const bundleUser: TestUser = { ...user, runtimeDir: `/tmp/sd-xdg-${process.pid}` };
  for (const d of [user.home, bundleUser.runtimeDir]) {
    mkdirSync(d, { mode: 0o700 });
    chownSync(d, user.uid, user.gid);
  }
  const unitOfUser = `user@${user.uid}.service`;
  // The user manager asks the system manager to move processes it may not move itself: over the
  // system bus. Without their default dependencies these units pull in no sysinit.target, whose
  // tmpfiles would empty the /tmp this test shares with the namespace; without PAM (no logind
  // here) the user manager is told its XDG_RUNTIME_DIR as pam_systemd would.
  const dropIns = ['dbus.socket', 'dbus.service', 'user@.service', 'user-runtime-dir@.service']
    .map((u) => `mkdir -p /run/systemd/system/${u}.d && printf '[Unit]\\nDefaultDependencies=no\\n' > /run/systemd/system/${u}.d/tsrun-test.conf`);
  dropIns.push('printf \'[Service]\\nPAMName=\\nEnvironment=XDG_RUNTIME_DIR=/run/user/%%i\\n\' > /run/systemd/system/user@.service.d/tsrun-test-nopam.conf');
  for (const masked of ['systemd-tmpfiles-setup.service', 'systemd-logind.service']) dropIns.push(`ln -sf /dev/null /run/systemd/system/${masked}`);
  let r0 = inSystemd(['sh', '-c', `${dropIns.join(' && ')} && systemctl daemon-reload`]);
  assert.equal(r0.status, 0, r0.stderr);
  for (const unit of ['dbus.socket', 'dbus.service', unitOfUser]) {
    r0 = inSystemd(['systemctl', 'start', unit]);
    assert.equal(r0.status, 0, `${unit}: ${r0.stderr}${inSystemd(['journalctl', '-n', '30', '--no-pager']).stdout}`);
  }
  const bus = join(user.runtimeDir, 'bus');
  for (let i = 0; i < 200 && inSystemd(['test', '-S', bus]).status !== 0; i++) await sleep(100);
  const asUser = (cmd: string[]) => inSystemd(['setpriv', '--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--',
    'env', '-i', `HOME=${user.home}`, `XDG_RUNTIME_DIR=${user.runtimeDir}`, 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...cmd]);
  const manager = inSystemd(['systemctl', 'show', unitOfUser, '-p', 'ControlGroup', '--value']).stdout.trim();
  assert.match(manager, /^\/user\.slice\/user-\d+\.slice\/user@\d+\.service$/);
  const seen: Record<string, unknown> = {};
  const id = uniqueId('sdu');
  try {
    for (const [name, bin] of [['tsrun', TSRUN], ['runc', r13.bin!]] as const) {
      const unit = `${name}-test-${id}.scope`;
      const dir = `/sys/fs/cgroup${manager}/user.slice/${unit}`;
      const bundle = makeUserBundle(bundleUser, (c) => {
        c.process.args = ['sleep', '1000'];
        c.linux.cgroupsPath = `user.slice:${name}-test:${id}`;
        c.linux.resources = { pids: { limit: 17 }, memory: { limit: 32 * 1024 * 1024 } };
      });
      try {
        let r = asUser([bin, '--systemd-cgroup', 'run', '-d', '--bundle', bundle, id]);
        assert.equal(r.status, 0, `${name}: ${r.stderr}`);
        const pid = Number(readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim().split('\n')[0]);
        const show = asUser(['systemctl', '--user', 'show', unit, '-p', 'ActiveState,Delegate,TasksMax,MemoryMax,Slice']);
        // A fork bomb stops at pids.max.
        r = asUser([bin, 'exec', id, 'sh', '-c', 'for i in $(seq 40); do sleep 100 & done 2>/dev/null; sleep 0.2; ls /proc | grep -c "^[0-9]"']);
        seen[name] = {
          cgroupOfInit: readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().replace(unit, 'UNIT'),
          owner: statSync(dir).uid,
          files: ['pids.max', 'memory.max'].map((f) => readFileSync(join(dir, f), 'utf8').trim()),
          show: show.stdout.trim().split('\n').sort(),
          tasksAtMost: Number(readFileSync(join(dir, 'pids.peak'), 'utf8').trim()) <= 17,
        };
        r = asUser([bin, 'delete', '--force', id]);
        assert.equal(r.status, 0, `${name} delete: ${r.stderr}`);
        assert.equal(existsSync(dir), false, `${name}: ${dir} left behind`);
        assert.equal(asUser(['systemctl', '--user', 'list-units', '--all', '--plain', '--no-legend', unit]).stdout.trim(), '', `${name}: unit left behind`);
        assert.equal(asUser(['ls', join(user.runtimeDir, name)]).stdout.includes(id), false, `${name}: state left behind`);
      } finally {
        asUser([bin, 'delete', '--force', id]);
        rmSync(bundle, { recursive: true, force: true });
      }
    }
  } finally {
    inSystemd(['systemctl', 'stop', unitOfUser]);
    rmSync(user.home, { recursive: true, force: true });
    rmSync(bundleUser.runtimeDir, { recursive: true, force: true });
  }
  assert.deepEqual(seen.tsrun, {
    cgroupOfInit: `0::${manager}/user.slice/UNIT`, owner: user.uid, files: ['17', String(32 * 1024 * 1024)],
    show: ['ActiveState=active', 'Delegate=yes', `MemoryMax=${32 * 1024 * 1024}`, 'Slice=user.slice', 'TasksMax=17'], tasksAtMost: true,
  });
  assert.deepEqual(seen.tsrun, seen.runc);
  // features says so, as runc 1.3's does.
  assert.equal(JSON.parse(spawnSync(TSRUN, ['features'], { encoding: 'utf8' }).stdout).linux.cgroup.systemdUser, true);
});
