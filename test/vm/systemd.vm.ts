// Runs inside ../shared/vm/run-in-cgroup2-vm: a real systemd, started as pid 1 of a pid and mount
// namespace of its own (with a /run of its own and a target that starts nothing), and
// `--systemd-cgroup` containers under it, tsrun side by side with runc on the same bundle.
// Started by test/integration/cgroup2-vm.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TSRUN, hasRunc, makeBundle, makeRoot, uniqueId, assertNothingLeft, processesIn } from '../helpers/harness.js';
import { inSystemd, sleep, startSystemd, stopSystemd } from '../helpers/systemd-ns.js';

const RUNTIMES = { tsrun: [TSRUN], runc: ['runc'] } as const;
type Runtime = keyof typeof RUNTIMES;

function rt(name: Runtime, root: string, args: string[]) {
  return inSystemd([...RUNTIMES[name], '--root', root, '--systemd-cgroup', ...args]);
}

before(startSystemd);
after(stopSystemd);

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
