// Runs inside ../shared/vm/run-in-cgroup2-vm: a real systemd, started as pid 1 of a pid and mount
// namespace of its own (with a /run of its own and a target that starts nothing), and
// `--systemd-cgroup` containers under it, tsrun side by side with runc on the same bundle.
// Started by test/integration/cgroup2-vm.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TSRUN, hasRunc, makeBundle, makeRoot, uniqueId, assertNothingLeft, processesIn } from '../helpers/harness.js';
import { ensureTestUser, makeUserBundle, needsRootlessSetup, type TestUser } from '../helpers/rootless-user.js';
import { runc13 } from '../helpers/beside.js';

const r13 = runc13();

let unshare: ChildProcess | undefined;
let systemdPid = 0;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A command in systemd's pid and mount namespaces (pids given to systemd are read in its namespace). */
function inSystemd(cmd: string[]): { status: number; stdout: string; stderr: string } {
  // Files, not pipes: a container started by the command keeps its stdio open long after.
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-sd-out-'));
  const out = openSync(join(dir, 'out'), 'w+');
  const err = openSync(join(dir, 'err'), 'w+');
  try {
    const r = spawnSync('nsenter', ['-t', String(systemdPid), '-m', '-p', '--', ...cmd], { stdio: ['ignore', out, err], timeout: 120_000 });
    return { status: r.status ?? -1, stdout: readFileSync(join(dir, 'out'), 'utf8'), stderr: readFileSync(join(dir, 'err'), 'utf8') };
  } finally {
    closeSync(out);
    closeSync(err);
    rmSync(dir, { recursive: true, force: true });
  }
}

const RUNTIMES = { tsrun: [TSRUN], runc: ['runc'] } as const;
type Runtime = keyof typeof RUNTIMES;

function rt(name: Runtime, root: string, args: string[]) {
  return inSystemd([...RUNTIMES[name], '--root', root, '--systemd-cgroup', ...args]);
}

before(async () => {
  const setup = [
    'mount -t tmpfs tmpfs /run',
    'mkdir -p /run/systemd/system',
    'printf "[Unit]\\nDescription=tsrun test target\\n" > /run/systemd/system/tsrun-test.target',
    'exec env container=tsrun-test /lib/systemd/systemd --system --unit=tsrun-test.target --log-level=warning',
  ].join(' && ');
  unshare = spawn('unshare', ['--pid', '--fork', '--mount', '--mount-proc', '--propagation', 'private', 'sh', '-c', setup], { stdio: 'ignore' });
  for (let i = 0; i < 600; i++) {
    await sleep(100);
    if (!systemdPid) {
      try {
        systemdPid = Number(readFileSync(`/proc/${unshare.pid}/task/${unshare.pid}/children`, 'utf8').trim().split(' ')[0]) || 0;
      } catch { /* not yet */ }
      continue;
    }
    if (inSystemd(['systemctl', 'is-system-running']).stdout.trim() === 'running') return;
  }
  throw new Error(`systemd did not come up: ${inSystemd(['systemctl', 'is-system-running']).stdout}`);
});

after(async () => {
  if (systemdPid) try { process.kill(systemdPid, 'SIGKILL'); } catch { /* gone */ }
  if (unshare && unshare.exitCode === null) await new Promise((r) => unshare!.once('exit', r));
});

const SHOWN = [
  'Slice', 'Delegate', 'Description', 'DefaultDependencies', 'MemoryAccounting', 'CPUAccounting', 'IOAccounting', 'TasksAccounting',
  'MemoryMax', 'MemoryLow', 'MemorySwapMax', 'TasksMax', 'CPUWeight', 'CPUQuotaPerSecUSec', 'CPUQuotaPeriodUSec', 'AllowedCPUs',
  'DevicePolicy', 'DeviceAllow', 'ActiveState', 'TimeoutStopUSec', 'CollectMode',
];
const FILES = ['memory.max', 'memory.low', 'memory.swap.max', 'pids.max', 'cpu.max', 'cpu.weight', 'cpuset.cpus', 'cgroup.type'];

interface ScopeView { props: string; files: Record<string, string>; cgroupOfInit: string; output: string }

/** What systemd and the cgroup files say of a running container's scope, names made neutral. */
function scopeView(unit: string, bundle: string): ScopeView {
  const show = inSystemd(['systemctl', 'show', unit, '-p', SHOWN.join(',')]);
  assert.equal(show.status, 0, show.stderr);
  const dir = `/sys/fs/cgroup/system.slice/${unit}`;
  const files: Record<string, string> = {};
  for (const f of FILES) files[f] = readFileSync(join(dir, f), 'utf8').trim();
  const hostPid = Number(readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim().split('\n')[0]);
  assert.ok(hostPid > 0, `no process in ${dir}`);
  const neutral = (s: string) => s.replaceAll(unit, 'UNIT');
  return {
    props: neutral(show.stdout.split('\n').sort().join('\n')),
    files,
    cgroupOfInit: neutral(readFileSync(`/proc/${hostPid}/cgroup`, 'utf8').trim()),
    output: neutral(readFileSync(join(bundle, 'out'), 'utf8')),
  };
}

test('systemd driver: the same scope, properties and cgroup files as runc; update, pause, exec, delete', { skip: !hasRunc && 'needs runc' }, async () => {
  const views: Partial<Record<Runtime, ScopeView>> = {};
  const updated: Partial<Record<Runtime, string>> = {};
  // One id for both: the units differ by prefix, and their descriptions are the same.
  const id = uniqueId('sd');
  for (const name of ['runc', 'tsrun'] as Runtime[]) {
    const root = makeRoot();
    const unit = `${name}-test-${id}.scope`;
    const bundle = makeBundle((c) => {
      c.process.args = ['sh', '-c', 'cat /proc/self/cgroup > /out; sleep 1000'];
      c.linux.cgroupsPath = `system.slice:${name}-test:${id}`;
      c.annotations = { 'org.systemd.property.TimeoutStopSec': '17', 'org.systemd.property.CollectMode': "'inactive-or-failed'" };
      c.linux.resources = {
        memory: { limit: 48 * 1024 * 1024, reservation: 16 * 1024 * 1024, swap: 96 * 1024 * 1024 },
        pids: { limit: 23 }, cpu: { shares: 512, quota: 12345, period: 100000, cpus: '0' },
        devices: [{ allow: false, access: 'rwm' }],
      };
    });
    // What the container sees of its cgroup comes back through a file of the bundle.
    const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
    config.mounts.push({ destination: '/out', type: 'bind', source: join(bundle, 'out'), options: ['bind'] });
    writeFileSync(join(bundle, 'out'), '');
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
    try {
      let r = rt(name, root, ['create', '--bundle', bundle, id]);
      assert.equal(r.status, 0, `${name} create: ${r.stderr}`);
      r = rt(name, root, ['start', id]);
      assert.equal(r.status, 0, `${name} start: ${r.stderr}`);
      for (let i = 0; i < 100 && readFileSync(join(bundle, 'out'), 'utf8') === ''; i++) await sleep(50);
      views[name] = scopeView(unit, bundle);
      // update: systemd and the files get the new values.
      r = rt(name, root, ['update', '--memory', '64M', '--pids-limit', '31', id]);
      assert.equal(r.status, 0, `${name} update: ${r.stderr}`);
      const show = inSystemd(['systemctl', 'show', unit, '-p', 'MemoryMax,TasksMax']).stdout.trim();
      const dir = `/sys/fs/cgroup/system.slice/${unit}`;
      updated[name] = `${show}\n${readFileSync(join(dir, 'memory.max'), 'utf8').trim()} ${readFileSync(join(dir, 'pids.max'), 'utf8').trim()}`;
      // pause / resume through the scope's cgroup.freeze.
      assert.equal(rt(name, root, ['pause', id]).status, 0);
      assert.match(readFileSync(join(dir, 'cgroup.events'), 'utf8'), /^frozen 1$/m);
      assert.equal(rt(name, root, ['resume', id]).status, 0);
      // exec joins the scope.
      r = rt(name, root, ['exec', id, 'cat', '/proc/self/cgroup']);
      assert.equal(r.status, 0, `${name} exec: ${r.stderr}`);
      assert.equal(r.stdout.trim(), `0::/system.slice/${unit}`);
      // delete: the unit is stopped and gone, with its cgroup.
      r = rt(name, root, ['delete', '--force', id]);
      assert.equal(r.status, 0, `${name} delete: ${r.stderr}`);
      const status = inSystemd(['systemctl', 'status', unit, '--no-pager']);
      assert.equal(status.status, 4, `${name}: unit still known: ${status.stdout}`);
      assert.equal(existsSync(dir), false, `${name}: ${dir} left behind`);
      assert.deepEqual(inSystemd(['systemctl', 'list-units', '--failed', '--plain', '--no-legend']).stdout.trim(), '', 'no failed unit left');
      assertNothingLeft(root, id, bundle);
    } finally {
      rt(name, root, ['delete', '--force', id]);
      rmSync(bundle, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    }
  }
  assert.deepEqual(views.tsrun, views.runc);
  assert.equal(updated.tsrun, updated.runc);
  assert.match(views.tsrun!.props, /^Delegate=yes$/m);
  assert.match(views.tsrun!.props, /^MemoryMax=50331648$/m);
  assert.match(views.tsrun!.props, /^TimeoutStopUSec=17s$/m);
  assert.match(views.tsrun!.props, /^CollectMode=inactive-or-failed$/m);
  assert.equal(views.tsrun!.files['cpu.max'], '12345 100000');
  assert.equal(views.tsrun!.cgroupOfInit, '0::/system.slice/UNIT');
});

test('systemd driver: a scope name in use is refused and left alone; bad cgroupsPath refused; nothing left behind', async () => {
  const root = makeRoot();
  const first = uniqueId('sd');
  const second = uniqueId('sd');
  const edit = (c: any) => {
    c.process.args = ['sleep', '1000'];
    c.linux.cgroupsPath = 'system.slice:tsrun-test:shared';
  };
  const bundle = makeBundle(edit);
  const bundle2 = makeBundle(edit);
  try {
    let r = rt('tsrun', root, ['run', '-d', '--bundle', bundle, first]);
    assert.equal(r.status, 0, r.stderr);
    r = rt('tsrun', root, ['run', '-d', '--bundle', bundle2, second]);
    assert.equal(r.status, 1);
    // The scope's cgroup holds the first container: refused before systemd is asked, as runc 1.2+
    // refuses it (runc 1.1 warned, and systemd's "already exists" came next).
    assert.match(r.stderr, /container's cgroup is not empty: 1 process\(es\) found/);
    assertNothingLeft(root, second, bundle2);
    // The first container and its scope are untouched.
    assert.equal(JSON.parse(rt('tsrun', root, ['state', first]).stdout).status, 'running');
    assert.equal(processesIn(bundle).length, 1);
    assert.match(inSystemd(['systemctl', 'is-active', 'tsrun-test-shared.scope']).stdout, /^active/);
    r = rt('tsrun', root, ['delete', '--force', first]);
    assert.equal(r.status, 0, r.stderr);
    assertNothingLeft(root, first, bundle);
    assert.equal(existsSync('/sys/fs/cgroup/system.slice/tsrun-test-shared.scope'), false);

    for (const [path, message] of [
      ['/not/systemd', 'expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups, got "/not/systemd" instead'],
      ['system:tsrun-test:x', 'invalid slice name: system'],
    ] as const) {
      const b = makeBundle((c) => { c.linux.cgroupsPath = path; });
      const id = uniqueId('sd');
      r = rt('tsrun', root, ['run', '--bundle', b, id]);
      assert.equal(r.status, 1, r.stderr);
      assert.ok(r.stderr.includes(message.replaceAll('"', '\\"')), r.stderr);
      assertNothingLeft(root, id, b);
      rmSync(b, { recursive: true, force: true });
    }
  } finally {
    rt('tsrun', root, ['delete', '--force', first]);
    rt('tsrun', root, ['delete', '--force', second]);
    rmSync(bundle, { recursive: true, force: true });
    rmSync(bundle2, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- rootless: the user's own systemd
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
