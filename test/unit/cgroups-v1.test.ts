import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { cgroupManager, cgroupManagerFromState, serializeCgroupPaths, type CgroupConfig } from '../../runtime/cgroups/index.js';
import { FakeCgroupTree, type FakeTreeOptions } from '../helpers/fake-cgroup-tree.js';

const MiB = 1024 * 1024;

function setup(opts: Partial<FakeTreeOptions> = {}, cfg: Partial<CgroupConfig> = {}) {
  const tree = new FakeCgroupTree({ mode: 'v1', ...opts });
  const m = cgroupManager({ id: 'c1', systemd: false, ...cfg }, tree.host());
  return { tree, m };
}

test('create: one dir per hierarchy, cpuset cpus/mems copied from the parent, created dirs remembered', (t) => {
  const { tree, m } = setup({ own: { memory: '/process_api/abc' } }, { cgroupsPath: 'a/b' });
  t.after(() => tree.cleanup());
  assert.equal(m.version, 1);
  assert.equal(m.paths.memory, `${tree.root}/memory/process_api/abc/a/b`);
  assert.equal(m.paths.cpu, `${tree.root}/cpu/a/b`);
  assert.equal(m.paths['name=systemd'], `${tree.root}/systemd/a/b`);
  assert.equal(m.paths[''], undefined, 'no unified dir on plain v1');
  assert.equal(m.exists(), false);
  m.create();
  assert.ok(existsSync(`${tree.root}/memory/process_api/abc/a/b`));
  assert.ok(existsSync(`${tree.root}/cpu/a/b`));
});

test('create on a fresh tree', (t) => {
  const { tree, m } = setup({}, { cgroupsPath: '/x/y' });
  t.after(() => tree.cleanup());
  m.create();
  assert.equal(m.exists(), true);
  for (const dir of Object.values(m.paths)) assert.ok(existsSync(dir), dir);
  // cpuset: each new level gets the parent's cpus/mems before anything can join.
  assert.deepEqual(tree.relWrites(), [
    ['cpuset/x/cpuset.cpus', '0-3'],
    ['cpuset/x/cpuset.mems', '0'],
    ['cpuset/x/y/cpuset.cpus', '0-3'],
    ['cpuset/x/y/cpuset.mems', '0'],
  ]);
  assert.equal(tree.read(`${tree.root}/cpuset/x/y/cpuset.cpus`), '0-3');
  const saved = serializeCgroupPaths(m) as { created: string[] };
  assert.ok(saved.created.includes(`${tree.root}/memory/x`));
  assert.ok(saved.created.includes(`${tree.root}/memory/x/y`));
  assert.deepEqual(m.procsFiles().sort(), Object.values(m.paths).map((d) => `${d}/cgroup.procs`).sort());
  assert.equal(m.procsFiles().length, Object.keys(m.paths).length);
});

test('a state saved before create() records the dirs create() made once written again', (t) => {
  const { tree, m } = setup({}, { cgroupsPath: '/p/q' });
  t.after(() => tree.cleanup());
  const saved = serializeCgroupPaths(m);
  assert.deepEqual(JSON.parse(JSON.stringify(saved)).created, []);
  m.create();
  const later = JSON.parse(JSON.stringify(saved)) as { created: string[] };
  assert.ok(later.created.includes(`${tree.root}/pids/p`));
  assert.ok(later.created.includes(`${tree.root}/pids/p/q`));
});

test('hybrid: a unified or name= dir that cannot be made is dropped, as runc joins them best effort', (t) => {
  const tree = new FakeCgroupTree({ mode: 'hybrid' });
  t.after(() => tree.cleanup());
  const host = tree.host({
    onMkdir: (d) => {
      if (d.includes('/unified/')) throw Object.assign(new Error('EPERM'), { code: 'EPERM', syscall: 'mkdir', path: d });
      tree.onMkdir(d);
    },
  });
  const m = cgroupManager({ id: 'c1', systemd: false }, host);
  assert.equal(m.paths[''], `${tree.root}/unified/c1`);
  m.create();
  assert.equal(m.paths[''], undefined);
  assert.ok(!m.procsFiles().some((f) => f.includes('/unified/')));
  assert.ok(m.procsFiles().includes(`${tree.root}/memory/c1/cgroup.procs`));
});

test('create: cpuset and realtime values from the config are written before anything joins', (t) => {
  const { tree, m } = setup({}, { resources: { cpu: { cpus: '1-2', mems: '0', realtimeRuntime: 1000, realtimePeriod: 500000 } } });
  t.after(() => tree.cleanup());
  m.create();
  assert.deepEqual(tree.relWrites(), [
    ['cpuset/c1/cpuset.cpus', '1-2'],
    ['cpuset/c1/cpuset.mems', '0'],
    ['cpu/c1/cpu.rt_period_us', '500000'],
    ['cpu/c1/cpu.rt_runtime_us', '1000'],
  ]);
});

test('memory: limit, swap, reservation, swappiness, OOM killer', (t) => {
  const { tree, m } = setup();
  t.after(() => tree.cleanup());
  m.create();
  tree.clearWrites();
  const warnings = m.apply({ memory: { limit: 100 * MiB, swap: 200 * MiB, reservation: 50 * MiB, swappiness: 0, disableOOMKiller: true } });
  assert.deepEqual(warnings, []);
  // Current limit (unlimited) is above the new swap: memory first, then memory+swap.
  assert.deepEqual(tree.relWrites(), [
    ['memory/c1/memory.limit_in_bytes', String(100 * MiB)],
    ['memory/c1/memory.memsw.limit_in_bytes', String(200 * MiB)],
    ['memory/c1/memory.soft_limit_in_bytes', String(50 * MiB)],
    ['memory/c1/memory.oom_control', '1'],
    ['memory/c1/memory.swappiness', '0'],
  ]);
  // Raising above the current limit: swap first, so memsw >= memory holds at every step.
  tree.clearWrites();
  m.apply({ memory: { limit: 300 * MiB, swap: 400 * MiB } });
  assert.deepEqual(tree.relWrites(), [
    ['memory/c1/memory.memsw.limit_in_bytes', String(400 * MiB)],
    ['memory/c1/memory.limit_in_bytes', String(300 * MiB)],
  ]);
  // -1 = unlimited, and swap follows when unset.
  tree.clearWrites();
  m.apply({ memory: { limit: -1 } });
  assert.deepEqual(tree.relWrites(), [
    ['memory/c1/memory.memsw.limit_in_bytes', '-1'],
    ['memory/c1/memory.limit_in_bytes', '-1'],
  ]);
  assert.throws(() => m.apply({ memory: { swappiness: 101 } }), /invalid memory swappiness value: 101 \(valid range is 0-100\)/);
  tree.clearWrites();
  m.apply({ memory: { swappiness: -1, kernel: 1 } });
  assert.deepEqual(tree.relWrites(), []);
});

test('memory -1 without swap accounting leaves memsw alone', (t) => {
  const { tree, m } = setup({ omit: ['memory.memsw.limit_in_bytes'] });
  t.after(() => tree.cleanup());
  m.create();
  tree.clearWrites();
  m.apply({ memory: { limit: -1 } });
  assert.deepEqual(tree.relWrites(), [['memory/c1/memory.limit_in_bytes', '-1']]);
  assert.throws(() => m.apply({ memory: { limit: 10 * MiB, swap: 20 * MiB } }),
    (e: Error) => e.message === `failed to write "${20 * MiB}" to "${tree.root}/memory/c1/memory.memsw.limit_in_bytes": open: no such file or directory`);
});

test('cpu: shares (read back), period/quota, burst, idle, realtime', (t) => {
  const { tree, m } = setup();
  t.after(() => tree.cleanup());
  m.create();
  tree.clearWrites();
  m.apply({ cpu: { shares: 512, quota: 50000, period: 100000, burst: 10000, idle: 1, realtimeRuntime: 950, realtimePeriod: 1000000 } });
  assert.deepEqual(tree.relWrites(), [
    ['cpu/c1/cpu.shares', '512'],
    ['cpu/c1/cpu.cfs_period_us', '100000'],
    ['cpu/c1/cpu.cfs_burst_us', '10000'],
    ['cpu/c1/cpu.cfs_quota_us', '50000'],
    ['cpu/c1/cpu.idle', '1'],
    ['cpu/c1/cpu.rt_period_us', '1000000'],
    ['cpu/c1/cpu.rt_runtime_us', '950'],
  ]);
  tree.clearWrites();
  m.apply({ cpu: { quota: -1 } });
  assert.deepEqual(tree.relWrites(), [['cpu/c1/cpu.cfs_quota_us', '-1']]);
});

test('cpu.shares outside the kernel range: runc\'s error from the read-back', (t) => {
  const tree = new FakeCgroupTree({ mode: 'v1' });
  t.after(() => tree.cleanup());
  const clamp = (file: string, value: string) => {
    if (file.endsWith('cpu.shares')) writeFileSync(file, String(Math.min(262144, Math.max(2, Number(value)))) + '\n');
  };
  const m = cgroupManager({ id: 'c1', systemd: false }, tree.host({ onWrite: (f, v) => { tree.afterWrite(f, v); clamp(f, v); } }));
  m.create();
  assert.throws(() => m.apply({ cpu: { shares: 1 } }), { name: 'TsrunError', message: 'the minimum allowed cpu-shares is 2' });
  assert.throws(() => m.apply({ cpu: { shares: 300000 } }), /the maximum allowed cpu-shares is 262144/);
});

test('cpu burst: a kernel without cpu.cfs_burst_us gives a warning', (t) => {
  const { tree, m } = setup({ omit: ['cpu.cfs_burst_us'] });
  t.after(() => tree.cleanup());
  m.create();
  tree.clearWrites();
  const w = m.apply({ cpu: { burst: 1000 } });
  assert.equal(w.length, 1);
  assert.match(w[0], /cpu burst is not supported/);
});

test('pids: positive limit, -1 = max, 0 = untouched (runc 1.1)', (t) => {
  const { tree, m } = setup();
  t.after(() => tree.cleanup());
  m.create();
  tree.clearWrites();
  m.apply({ pids: { limit: 100 } });
  m.apply({ pids: { limit: -1 } });
  m.apply({ pids: { limit: 0 } });
  assert.deepEqual(tree.relWrites(), [['pids/c1/pids.max', '100'], ['pids/c1/pids.max', 'max']]);
});

test('blkio: CFQ weight files, device weights and throttles', (t) => {
  const { tree, m } = setup();
  t.after(() => tree.cleanup());
  m.create();
  tree.clearWrites();
  m.apply({
    blockIO: {
      weight: 300,
      weightDevice: [{ major: 8, minor: 0, weight: 500 }],
      throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
      throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 100 }],
    },
  });
  assert.deepEqual(tree.relWrites(), [
    ['blkio/c1/blkio.weight', '300'],
    ['blkio/c1/blkio.weight_device', '8:0 500'],
    ['blkio/c1/blkio.throttle.read_bps_device', '8:0 1048576'],
    ['blkio/c1/blkio.throttle.write_iops_device', '8:16 100'],
  ]);
});

test('blkio: BFQ weight file when blkio.weight is absent', (t) => {
  const { tree, m } = setup({ bfq: true });
  t.after(() => tree.cleanup());
  m.create();
  tree.clearWrites();
  m.apply({ blockIO: { weight: 300, weightDevice: [{ major: 8, minor: 0, weight: 500 }] } });
  assert.deepEqual(tree.relWrites(), [['blkio/c1/blkio.bfq.weight', '300'], ['blkio/c1/blkio.bfq.weight_device', '8:0 500']]);
});

test('hugetlb: limit and reservation files; not mounted -> runc\'s error', (t) => {
  const { tree, m } = setup();
  t.after(() => tree.cleanup());
  m.create();
  tree.clearWrites();
  m.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 4 * 2 * MiB }] });
  assert.deepEqual(tree.relWrites(), [
    ['hugetlb/c1/hugetlb.2MB.limit_in_bytes', String(8 * MiB)],
    ['hugetlb/c1/hugetlb.2MB.rsvd.limit_in_bytes', String(8 * MiB)],
  ]);

  // This machine: hugetlb only in the cgroup2 hierarchy of a hybrid host.
  const hy = new FakeCgroupTree({ mode: 'hybrid', v1Hierarchies: [['cpu'], ['memory'], ['devices'], ['pids'], ['freezer']] });
  t.after(() => hy.cleanup());
  const hm = cgroupManager({ id: 'c1', systemd: false }, hy.host());
  hm.create();
  assert.throws(() => hm.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 0 }] }), { message: 'cannot set hugetlb limit: container could not join or create cgroup' });
  // Nothing asked of hugetlb: fine.
  assert.deepEqual(hm.apply({ pids: { limit: 5 } }), []);
});

test('devices: deny all, then the reduced rules in runc\'s order (major, minor, type)', (t) => {
  const tree = new FakeCgroupTree({ mode: 'v1' });
  t.after(() => tree.cleanup());
  const m = cgroupManager({ id: 'c1', systemd: false }, tree.host());
  m.create();
  tree.clearWrites();
  m.apply({
    devices: [
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' },
      { allow: false, type: 'c', major: 5, minor: 1, access: 'w' },
      { allow: true, type: 'c', major: 136, access: 'rwm' },
      { allow: true, type: 'b', access: 'm' },
    ],
  });
  const dev = tree.relWrites().map(([f, v]) => `${posix.basename(f)} ${v}`);
  assert.deepEqual(dev, [
    'devices.deny a *:* rwm',
    'devices.allow b *:* m',
    'devices.allow c 10:229 rwm',
    'devices.allow c 136:* rwm',
  ]);
  // Later updates without device rules leave the device cgroup alone.
  tree.clearWrites();
  m.apply({ pids: { limit: 3 } });
  assert.deepEqual(tree.relWrites(), [['pids/c1/pids.max', '3']]);
  assert.throws(() => m.apply({ devices: [{ allow: true, type: 'p', access: 'r' }] }), /invalid cgroup device type "p"/);
});

test('devices: an empty list denies everything; no list leaves the device cgroup alone', (t) => {
  const tree = new FakeCgroupTree({ mode: 'v1' });
  t.after(() => tree.cleanup());
  const m = cgroupManager({ id: 'c1', systemd: false }, tree.host());
  m.create();
  tree.clearWrites();
  m.apply(undefined);
  m.apply({});
  assert.deepEqual(tree.relWrites(), []);
  m.apply({ devices: [] });
  assert.deepEqual(tree.relWrites(), [['devices/c1/devices.deny', 'a *:* rwm']]);
});

test('v1 rejects unified; a devices hierarchy is required', (t) => {
  const { tree, m } = setup();
  t.after(() => tree.cleanup());
  m.create();
  assert.throws(() => m.apply({ unified: { 'memory.high': '1' } }), /invalid configuration: cannot use unified on cgroup v1/);
  const nodev = new FakeCgroupTree({ mode: 'v1', v1Hierarchies: [['memory'], ['cpu']] });
  t.after(() => nodev.cleanup());
  assert.throws(() => cgroupManager({ id: 'c1', systemd: false }, nodev.host()), /mountpoint for devices not found/);
  assert.throws(() => cgroupManager({ id: 'c1', systemd: true }, { ...nodev.host(), systemdRunning: false }), /systemd not running on this host, cannot use systemd cgroups manager$/);
  assert.throws(() => cgroupManager({ id: 'c1', systemd: true }, { ...nodev.host(), systemdRunning: true, pid1Cgroup: '' }), /mountpoint for devices not found/);
});

test('write errors name the file, the value and the errno text', (t) => {
  const { tree, m } = setup({ omit: ['pids.max'] });
  t.after(() => tree.cleanup());
  m.create();
  assert.throws(() => m.apply({ pids: { limit: 10 } }), (e: Error) => {
    assert.equal(e.name, 'TsrunError');
    assert.equal(e.message, `failed to write "10" to "${tree.root}/pids/c1/pids.max": open: no such file or directory`);
    return true;
  });
});

test('pids() is recursive; killAll freezes, signals, thaws; never signals itself', async (t) => {
  const { tree, m } = setup();
  t.after(() => tree.cleanup());
  m.create();
  const dev = m.paths.devices;
  tree.addProcs(dev, [101, 102]);
  // A sub-cgroup made by the container.
  const sub = posix.join(dev, 'sub');
  mkdirSync(sub);
  tree.onMkdir(sub);
  tree.addProcs(sub, [103]);
  assert.deepEqual(m.pids().sort(), [101, 102, 103]);
  tree.addProcs(m.paths.freezer, [101, 102, 103]);
  tree.clearWrites();
  await m.killAll('SIGTERM');
  assert.deepEqual(tree.kills.map(([p]) => p).sort(), [101, 102, 103]);
  assert.ok(tree.kills.every(([, s]) => s === 'SIGTERM'));
  assert.deepEqual(tree.relWrites(), [['freezer/c1/freezer.state', 'FROZEN'], ['freezer/c1/freezer.state', 'THAWED']]);

  // Our own pid in the cgroup: no freeze (it would freeze us), no signal to ourselves.
  tree.kills.length = 0;
  tree.clearWrites();
  tree.addProcs(dev, [1, 101]);
  await m.killAll('SIGKILL');
  assert.deepEqual(tree.relWrites(), []);
  assert.ok(!tree.kills.some(([p]) => p === 1));
});

test('destroy: kills stragglers, removes leaves (sub-cgroups first) and the ancestors it created; idempotent', async (t) => {
  const tree = new FakeCgroupTree({ mode: 'hybrid' });
  t.after(() => tree.cleanup());
  const shared = cgroupManager({ id: 'c0', cgroupsPath: '/pod/c0', systemd: false }, tree.host());
  const m = cgroupManager({ id: 'c1', cgroupsPath: '/pod/c1', systemd: false }, tree.host());
  m.create();
  shared.create(); // /pod made by m, shared with c0
  assert.equal(m.paths[''], `${tree.root}/unified/pod/c1`);
  tree.addProcs(m.paths.memory, [201]);
  tree.addProcs(m.paths.pids, [201, 202]);
  const sub = posix.join(m.paths.memory, 'inner');
  mkdirSync(sub);
  tree.onMkdir(sub);
  await m.destroy();
  assert.deepEqual(tree.kills.map(([p, s]) => `${p}:${s}`).sort(), ['201:SIGKILL', '202:SIGKILL']);
  for (const dir of Object.values(m.paths)) assert.equal(existsSync(dir), false, dir);
  assert.ok(existsSync(`${tree.root}/memory/pod/c0`), 'the other container is untouched');
  assert.ok(existsSync(`${tree.root}/memory/pod`), 'a created ancestor still in use stays');
  await m.destroy();

  await shared.destroy();
  // c0 did not create /pod: it stays (runc never removes parents); only c1 created it.
  assert.ok(existsSync(`${tree.root}/memory/pod`));

  const again = cgroupManager({ id: 'c1', cgroupsPath: '/pod/c1', systemd: false }, tree.host());
  again.create();
  const saved = JSON.parse(JSON.stringify(serializeCgroupPaths(again)));
  const restored = cgroupManagerFromState(saved, tree.host());
  assert.equal(restored.version, 1);
  assert.deepEqual(restored.paths, again.paths);
  await restored.destroy();
  for (const dir of Object.values(again.paths)) assert.equal(existsSync(dir), false, dir);
  const left = readdirSync(`${tree.root}/memory`, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  assert.deepEqual(left, ['pod']);
});

test('state: paths outside the cgroup mounts are refused', (t) => {
  const tree = new FakeCgroupTree({ mode: 'v1' });
  t.after(() => tree.cleanup());
  assert.throws(() => cgroupManagerFromState({ version: 1, paths: { memory: '/etc' }, created: [] }, tree.host()), /not below a cgroup mount/);
  assert.throws(() => cgroupManagerFromState({ version: 3 }, tree.host()), /invalid saved cgroup state/);
  assert.throws(() => cgroupManagerFromState({ version: 1, paths: { memory: `${tree.root}/memory` } }, tree.host()), /a hierarchy root/);
  assert.throws(() => cgroupManager({ id: 'c', cgroupsPath: '/', systemd: false }, tree.host()), /invalid cgroupsPath "\/": the container needs a cgroup of its own/);
  assert.throws(() => cgroupManager({ id: 'c', cgroupsPath: 'a/..', systemd: false }, tree.host()), /needs a cgroup of its own/);
});

test('devices: letters other than r, w and m are dropped as runc 1.1 drops them ("rwa" is "rw"); nothing but them is refused', (t) => {
  const tree = new FakeCgroupTree({ mode: 'v1' });
  t.after(() => tree.cleanup());
  const m = cgroupManager({ id: 'c1', systemd: false }, tree.host());
  m.create();
  tree.clearWrites();
  m.apply({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 11, access: 'rwa' }] });
  assert.deepEqual(tree.relWrites().map(([f, v]) => `${posix.basename(f)} ${v}`), ['devices.deny a *:* rwm', 'devices.allow c 1:11 rw']);
  assert.throws(() => m.apply({ devices: [{ allow: true, type: 'c', major: 1, minor: 11, access: 'a' }] }), /invalid device access "a"/);
});
