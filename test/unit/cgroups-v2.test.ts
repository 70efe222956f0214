import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { cgroupManager, cgroupManagerFromState, serializeCgroupPaths, type CgroupConfig } from '../../runtime/cgroups/index.js';
import { FakeCgroupTree, type FakeTreeOptions } from '../helpers/fake-cgroup-tree.js';

const MiB = 1024 * 1024;

function setup(opts: Partial<FakeTreeOptions> = {}, cfg: Partial<CgroupConfig> = {}) {
  const tree = new FakeCgroupTree({ mode: 'v2', ...opts });
  const m = cgroupManager({ id: 'c1', systemd: false, ...cfg }, tree.host());
  return { tree, m };
}

test('paths: absolute below the mount, relative below the parent of our own cgroup', (t) => {
  const a = setup({ own: { '': '/user.slice/session-1.scope' } }, { cgroupsPath: '/machine/c1' });
  t.after(() => a.tree.cleanup());
  assert.equal(a.m.version, 2);
  assert.deepEqual(a.m.paths, { '': `${a.tree.root}/machine/c1` });
  const r = cgroupManager({ id: 'c1', systemd: false }, a.tree.host());
  assert.deepEqual(r.paths, { '': `${a.tree.root}/user.slice/c1` });
});

test('create: controllers enabled from the root down in every ancestor, not in the leaf', (t) => {
  const { tree, m } = setup({ v2Controllers: ['cpu', 'memory', 'pids'] }, { cgroupsPath: '/a/b/c' });
  t.after(() => tree.cleanup());
  // The root has them enabled already (the fake root starts with all enabled).
  m.create();
  assert.deepEqual(tree.relWrites(), [
    ['a/cgroup.subtree_control', '+cpu +memory +pids'],
    ['a/b/cgroup.subtree_control', '+cpu +memory +pids'],
  ]);
  assert.equal(tree.read(`${tree.root}/a/b/c/cgroup.controllers`), 'cpu memory pids\n');
  assert.ok(existsSync(`${tree.root}/a/b/c/memory.max`));
  assert.deepEqual(m.procsFiles(), [`${tree.root}/a/b/c/cgroup.procs`]);
  const saved = serializeCgroupPaths(m) as { created: string[] };
  assert.deepEqual(saved.created, [`${tree.root}/a`, `${tree.root}/a/b`, `${tree.root}/a/b/c`]);
});

test('create: a root without the controllers enabled gets them (only those available)', (t) => {
  const tree = new FakeCgroupTree({ mode: 'v2', v2Controllers: ['memory', 'pids'] });
  t.after(() => tree.cleanup());
  writeFileSync(`${tree.root}/cgroup.subtree_control`, 'memory\n');
  const m = cgroupManager({ id: 'c1', systemd: false }, tree.host());
  m.create();
  assert.deepEqual(tree.relWrites(), [['cgroup.subtree_control', '+pids']]);
});

test('create: threaded / invalid subtrees refuse domain controllers', (t) => {
  const tree = new FakeCgroupTree({ mode: 'v2' });
  t.after(() => tree.cleanup());
  mkdirSync(`${tree.root}/th`);
  tree.onMkdir(`${tree.root}/th`);
  writeFileSync(`${tree.root}/th/cgroup.type`, 'threaded\n');
  const m = cgroupManager({ id: 'c1', cgroupsPath: '/th/c1', systemd: false, resources: { memory: { limit: MiB } } }, tree.host());
  assert.throws(() => m.create(), /cannot enter cgroupv2 ".*\/th" with domain controllers -- it is in threaded mode/);
});

test('memory: memory.swap.max = swap - limit, -1 = max, limit == swap disables swap', (t) => {
  const { tree, m } = setup();
  t.after(() => tree.cleanup());
  m.create();
  tree.clearWrites();
  const w = m.apply({ memory: { limit: 100 * MiB, swap: 300 * MiB, reservation: 50 * MiB } });
  assert.deepEqual(w, []);
  assert.deepEqual(tree.relWrites(), [
    ['c1/memory.swap.max', String(200 * MiB)],
    ['c1/memory.max', String(100 * MiB)],
    ['c1/memory.low', String(50 * MiB)],
  ]);
  tree.clearWrites();
  m.apply({ memory: { limit: -1 } });
  assert.deepEqual(tree.relWrites(), [['c1/memory.swap.max', 'max'], ['c1/memory.max', 'max']]);
  tree.clearWrites();
  m.apply({ memory: { limit: 64 * MiB, swap: 64 * MiB } });
  assert.deepEqual(tree.relWrites(), [['c1/memory.swap.max', '0'], ['c1/memory.max', String(64 * MiB)]]);
  tree.clearWrites();
  m.apply({ memory: { limit: 64 * MiB, swap: -1 } });
  assert.deepEqual(tree.relWrites(), [['c1/memory.swap.max', 'max'], ['c1/memory.max', String(64 * MiB)]]);
  assert.throws(() => m.apply({ memory: { swap: 64 * MiB } }), /unable to set swap limit without memory limit/);
  const w2 = m.apply({ memory: { swappiness: 10, disableOOMKiller: true } });
  assert.equal(w2.length, 2);
});

test('cpu: weight from shares, cpu.max "quota period", burst, idle', (t) => {
  const { tree, m } = setup();
  t.after(() => tree.cleanup());
  m.create();
  tree.clearWrites();
  m.apply({ cpu: { shares: 1024, quota: 50000, period: 200000, burst: 1000, idle: 0 } });
  assert.deepEqual(tree.relWrites(), [
    ['c1/cpu.idle', '0'],
    ['c1/cpu.weight', '39'],
    ['c1/cpu.max.burst', '1000'],
    ['c1/cpu.max', '50000 200000'],
  ]);
  tree.clearWrites();
  m.apply({ cpu: { quota: 20000 } });
  m.apply({ cpu: { quota: -1 } });
  m.apply({ cpu: { period: 50000 } });
  assert.deepEqual(tree.relWrites(), [['c1/cpu.max', '20000 100000'], ['c1/cpu.max', 'max 100000'], ['c1/cpu.max', 'max 50000']]);
  const w = m.apply({ cpu: { realtimeRuntime: 100 } });
  assert.match(w.join('\n'), /realtime.*not supported on cgroup v2/);
});

test('cpuset, pids, hugetlb, rdma', (t) => {
  const { tree, m } = setup();
  t.after(() => tree.cleanup());
  m.create();
  tree.clearWrites();
  m.apply({ cpu: { cpus: '0-1', mems: '0' }, pids: { limit: -1 }, hugepageLimits: [{ pageSize: '2MB', limit: 4 * MiB }], rdma: { mlx5_0: { hcaHandles: 3, hcaObjects: 1000 } } });
  assert.deepEqual(tree.relWrites(), [
    ['c1/pids.max', 'max'],
    ['c1/cpuset.cpus', '0-1'],
    ['c1/cpuset.mems', '0'],
    ['c1/hugetlb.2MB.max', String(4 * MiB)],
    ['c1/hugetlb.2MB.rsvd.max', String(4 * MiB)],
    ['c1/rdma.max', 'mlx5_0 hca_handle=3 hca_object=1000'],
  ]);
  assert.throws(() => m.apply({ hugepageLimits: [{ pageSize: '2MB/../../x', limit: 1 }] }), /invalid hugepage size "2MB\/..\/..\/x"/);
  tree.clearWrites();
  m.apply({ pids: { limit: 0 } });
  m.apply({ pids: { limit: 42 } });
  assert.deepEqual(tree.relWrites(), [['c1/pids.max', '42']]);
});

test('io: io.weight with conversion, BFQ weight when available, io.max throttles', (t) => {
  const plain = setup();
  t.after(() => plain.tree.cleanup());
  plain.m.create();
  plain.tree.clearWrites();
  const w = plain.m.apply({ blockIO: { weight: 500, weightDevice: [{ major: 8, minor: 0, weight: 100 }], throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1000 }], throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 10 }] } });
  assert.deepEqual(plain.tree.relWrites(), [['c1/io.weight', '4950'], ['c1/io.max', '8:0 rbps=1000'], ['c1/io.max', '8:0 wiops=10']]);
  assert.match(w.join('\n'), /per-device weights need the BFQ scheduler/);

  const bfq = setup({ bfq: true });
  t.after(() => bfq.tree.cleanup());
  bfq.m.create();
  bfq.tree.clearWrites();
  bfq.m.apply({ blockIO: { weight: 500, weightDevice: [{ major: 8, minor: 0, weight: 100 }] } });
  assert.deepEqual(bfq.tree.relWrites(), [['c1/io.bfq.weight', '500'], ['c1/io.bfq.weight', '8:0 100']]);
});

test('unified: validated, then written last', (t) => {
  const { tree, m } = setup({ v2Controllers: ['memory', 'pids', 'cpu'] });
  t.after(() => tree.cleanup());
  m.create();
  tree.clearWrites();
  m.apply({ pids: { limit: 10 }, unified: { 'memory.high': '1000000', 'pids.max': '20' } });
  assert.deepEqual(tree.relWrites(), [['c1/pids.max', '10'], ['c1/memory.high', '1000000'], ['c1/pids.max', '20']]);
  assert.throws(() => m.apply({ unified: { 'hugetlb.2MB.max': '1' } }), /controller "hugetlb" not available/, 'upper case in the parameter is fine');
  assert.throws(() => m.apply({ unified: { '../memory.max': '1' } }), /unified resource "..\/memory.max" must be a file name \(no slashes\)/);
  assert.throws(() => m.apply({ unified: { memory: '1' } }), /must be in the form CONTROLLER.PARAMETER/);
  assert.throws(() => m.apply({ unified: { 'io.weight': '100' } }), /unified resource "io.weight" can't be set: controller "io" not available/);
  assert.throws(() => m.apply({ unified: { 'memory.bogus': '1' } }), /unified resource "memory.bogus" can't be set: no such file/);
});

test('a controller not enabled for the cgroup: the error says so', (t) => {
  const tree = new FakeCgroupTree({ mode: 'v2', v2Controllers: ['pids'] });
  t.after(() => tree.cleanup());
  const m = cgroupManager({ id: 'c1', systemd: false }, tree.host());
  m.create();
  assert.throws(() => m.apply({ memory: { limit: MiB } }), {
    message: `failed to write "1048576" to "${tree.root}/c1/memory.max": open: no such file or directory`
      + ` (the memory controller is not enabled for "${tree.root}/c1"; check cgroup.subtree_control of its parent)`,
  });
  assert.throws(() => m.apply({ memory: { limit: MiB, swap: 2 * MiB } }), /the memory controller is not enabled for ".*\/c1"; check cgroup.subtree_control of its parent/);
});

test('killAll: SIGKILL through cgroup.kill; other signals frozen one by one; destroy removes everything', async (t) => {
  const { tree, m } = setup({}, { cgroupsPath: '/k/c1' });
  t.after(() => tree.cleanup());
  m.create();
  const dir = m.paths[''];
  tree.addProcs(dir, [301, 302]);
  const sub = posix.join(dir, 'sub');
  mkdirSync(sub);
  tree.onMkdir(sub);
  tree.addProcs(sub, [303]);
  assert.deepEqual(m.pids().sort(), [301, 302, 303]);
  // The fake freezer reports frozen right away.
  writeFileSync(`${dir}/cgroup.events`, 'populated 1\nfrozen 1\n');
  tree.clearWrites();
  await m.killAll('SIGHUP');
  assert.deepEqual(tree.relWrites(), [['k/c1/cgroup.freeze', '1'], ['k/c1/cgroup.freeze', '0']]);
  assert.deepEqual(tree.kills.map(([p, s]) => `${p}:${s}`).sort(), ['301:SIGHUP', '302:SIGHUP', '303:SIGHUP']);
  tree.clearWrites();
  await m.killAll(9);
  assert.deepEqual(tree.relWrites(), [['k/c1/cgroup.kill', '1']]);

  // The fake cgroup.kill does nothing: destroy falls back to kill(2), then removes every dir it made.
  await m.destroy();
  assert.equal(existsSync(`${tree.root}/k`), false);
  assert.equal(m.exists(), false);
  await m.destroy();

  const again = cgroupManager({ id: 'c1', cgroupsPath: '/k/c1', systemd: false }, tree.host());
  again.create();
  const restored = cgroupManagerFromState(JSON.parse(JSON.stringify(serializeCgroupPaths(again))), tree.host());
  assert.equal(restored.version, 2);
  await restored.destroy();
  assert.equal(existsSync(`${tree.root}/k`), false);
});

test('rootless without permission and without limits runs without a cgroup', (t) => {
  const tree = new FakeCgroupTree({ mode: 'v2' });
  t.after(() => tree.cleanup());
  const denied = (dir: string) => {
    throw Object.assign(new Error('EACCES'), { code: 'EACCES', syscall: 'mkdir', path: dir });
  };
  const host = tree.host({ onMkdir: denied });
  const m = cgroupManager({ id: 'c1', systemd: false, rootless: true }, host);
  m.create();
  assert.deepEqual(m.procsFiles(), []);
  assert.deepEqual(m.apply({}), []);
  assert.throws(() => m.apply({ pids: { limit: 5 } }), /rootless needs no limits \+ no cgrouppath/);
  const limited = cgroupManager({ id: 'c2', systemd: false, rootless: true, resources: { memory: { limit: MiB } } }, host);
  assert.throws(() => limited.create(), /rootless needs no limits \+ no cgrouppath when no permission is granted for cgroups/);
});

test('memory.checkBeforeUpdate: a limit at or below memory.current is refused with runc\'s words, nothing written', (t) => {
  const { tree, m } = setup();
  t.after(() => tree.cleanup());
  m.create();
  const dir = m.paths[''];
  writeFileSync(posix.join(dir, 'memory.current'), String(80 * MiB));
  tree.clearWrites();
  assert.throws(() => m.apply({ memory: { limit: 64 * MiB, checkBeforeUpdate: true } }), new RegExp(`rejecting memory limit ${64 * MiB} <= usage ${80 * MiB}$`));
  assert.throws(() => m.apply({ memory: { limit: 128 * MiB, swap: 80 * MiB, checkBeforeUpdate: true } }), /rejecting memory\+swap limit \d+ <= usage \d+/);
  assert.deepEqual(tree.relWrites(), []);
  m.apply({ memory: { limit: 96 * MiB, checkBeforeUpdate: true } });
  assert.deepEqual(tree.relWrites(), [['c1/memory.max', String(96 * MiB)]]);
  tree.clearWrites();
  // Without the flag the kernel is left to deal with it, as before.
  m.apply({ memory: { limit: 64 * MiB } });
  assert.deepEqual(tree.relWrites(), [['c1/memory.max', String(64 * MiB)]]);
});

test('before create (runc 1.3\'s checks): a missing cgroup is fine; one with processes (sub-cgroups too) is refused; a frozen one is refused', (t) => {
  const { tree, m } = setup({}, { cgroupsPath: '/pre/c1' });
  t.after(() => tree.cleanup());
  assert.deepEqual(m.checkBeforeCreate(), []);
  m.create();
  writeFileSync(`${tree.root}/pre/c1/cgroup.procs`, '4242\n4243\n');
  assert.throws(() => m.checkBeforeCreate(), /^TsrunError: container's cgroup is not empty: 2 process\(es\) found$/);
  writeFileSync(`${tree.root}/pre/c1/cgroup.procs`, '');
  mkdirSync(`${tree.root}/pre/c1/sub`);
  writeFileSync(`${tree.root}/pre/c1/sub/cgroup.procs`, '4244\n');
  assert.throws(() => m.checkBeforeCreate(), /^TsrunError: container's cgroup is not empty: 1 process\(es\) found$/);
  writeFileSync(`${tree.root}/pre/c1/sub/cgroup.procs`, '');
  assert.deepEqual(m.checkBeforeCreate(), []);
  writeFileSync(`${tree.root}/pre/c1/cgroup.freeze`, '1\n');
  assert.throws(() => m.checkBeforeCreate(), /^TsrunError: container's cgroup unexpectedly frozen$/);
});
