// Real cgroups on a v1 or hybrid host (skipped elsewhere and when not root). Every cgroup is
// named tsrun-test-*, and each test checks that nothing is left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { cgroupManager, cgroupManagerFromState, detectCgroupLayout, serializeCgroupPaths, type CgroupManager } from '../../runtime/cgroups/index.js';

const MiB = 1024 * 1024;

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root';
  try {
    const mode = detectCgroupLayout().mode;
    return mode === 'v2' ? 'host is cgroup v2 (see cgroups-v2.test.ts)' : false;
  } catch (err) {
    return `no cgroups: ${(err as Error).message}`;
  }
}
const skip = skipReason();

const uniq = () => `tsrun-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const read = (dir: string, file: string) => readFileSync(posix.join(dir, file), 'utf8').trim();

/** A `sleep 300`, killed when the test ends (a failed test must not keep the runner waiting). */
function sleeper(t: { after(fn: () => void): void }): { child: ChildProcess; exited: Promise<NodeJS.Signals | number | null> } {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, sig) => resolve(sig ?? code)));
  return { child, exited };
}

function join(m: CgroupManager, pid: number): void {
  for (const f of m.procsFiles()) writeFileSync(f, String(pid));
}

function assertGone(m: CgroupManager): void {
  for (const dir of Object.values(m.paths)) assert.equal(existsSync(dir), false, `${dir} left behind`);
}

test('create, apply limits, join a process, pids, killAll, destroy', { skip }, async (t) => {
  const id = uniq();
  const m = cgroupManager({ id, systemd: false, resources: { cpu: { cpus: '0' } } });
  t.after(() => m.destroy());
  const own = readFileSync('/proc/self/cgroup', 'utf8');
  m.create();
  assert.equal(m.exists(), true);
  // Unset cgroupsPath = relative "<id>" below our own cgroup in each hierarchy.
  const memOwn = /^\d+:memory:(.*)$/m.exec(own)?.[1] ?? '/';
  assert.equal(m.paths.memory, posix.join('/sys/fs/cgroup/memory', memOwn, id));
  if (detectCgroupLayout().mode === 'hybrid') assert.equal(m.paths[''], posix.join(detectCgroupLayout().unified!.mountpoint, id));

  const warnings = m.apply({
    memory: { limit: 64 * MiB, swap: 128 * MiB, reservation: 32 * MiB, swappiness: 10 },
    pids: { limit: 20 },
    cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0', mems: '0' },
    devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, type: 'c', major: 136, access: 'rwm' }],
  });
  assert.deepEqual(warnings, []);
  assert.equal(read(m.paths.memory, 'memory.limit_in_bytes'), String(64 * MiB));
  if (existsSync(posix.join(m.paths.memory, 'memory.memsw.limit_in_bytes'))) {
    assert.equal(read(m.paths.memory, 'memory.memsw.limit_in_bytes'), String(128 * MiB));
  }
  assert.equal(read(m.paths.memory, 'memory.soft_limit_in_bytes'), String(32 * MiB));
  assert.equal(read(m.paths.memory, 'memory.swappiness'), '10');
  assert.equal(read(m.paths.pids, 'pids.max'), '20');
  assert.equal(read(m.paths.cpu, 'cpu.shares'), '512');
  assert.equal(read(m.paths.cpu, 'cpu.cfs_quota_us'), '50000');
  assert.equal(read(m.paths.cpu, 'cpu.cfs_period_us'), '100000');
  assert.equal(read(m.paths.cpuset, 'cpuset.cpus'), '0');
  const devices = read(m.paths.devices, 'devices.list').split('\n');
  assert.deepEqual(devices, ['c 1:3 rwm', 'c 136:* rwm']);
  assert.ok(!devices.includes('a *:* rwm'), 'not allow-all any more');

  // Raising memory and swap together needs swap first (the kernel keeps memsw >= memory).
  m.apply({ memory: { limit: 256 * MiB, swap: 512 * MiB } });
  assert.equal(read(m.paths.memory, 'memory.limit_in_bytes'), String(256 * MiB));

  const { child, exited } = sleeper(t);
  join(m, child.pid!);
  const cg = readFileSync(`/proc/${child.pid}/cgroup`, 'utf8');
  assert.match(cg, new RegExp(`:pids:/(.*/)?${id}$`, 'm'));
  assert.match(cg, new RegExp(`:memory:${memOwn === '/' ? '' : memOwn}/${id}$`, 'm'));
  assert.deepEqual(m.pids(), [child.pid]);
  assert.equal(read(m.paths.pids, 'pids.current'), '1');

  await m.killAll('SIGTERM');
  assert.equal(await exited, 'SIGTERM');
  assert.equal(read(m.paths.freezer, 'freezer.state'), 'THAWED', 'thawed after signalling');
  assert.deepEqual(m.pids(), []);

  await m.destroy();
  assertGone(m);
  assert.equal(m.exists(), false);
  await m.destroy();
});

test('destroy SIGKILLs stragglers, including in sub-cgroups, and removes them', { skip }, async (t) => {
  const m = cgroupManager({ id: uniq(), systemd: false });
  t.after(() => m.destroy());
  m.create();
  m.apply({ pids: { limit: 10 } });
  const a = sleeper(t);
  const b = sleeper(t);
  join(m, a.child.pid!);
  // b goes into a sub-cgroup in every hierarchy, as a container's own cgroup tree would.
  for (const dir of new Set(Object.values(m.paths))) {
    const sub = posix.join(dir, 'inner');
    mkdirSync(sub);
    if (dir === m.paths.cpuset) {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(posix.join(sub, f), read(dir, f));
    }
    writeFileSync(posix.join(sub, 'cgroup.procs'), String(b.child.pid));
  }
  assert.deepEqual(m.pids().sort(), [a.child.pid, b.child.pid].sort());
  await m.destroy();
  assert.equal(await a.exited, 'SIGKILL');
  assert.equal(await b.exited, 'SIGKILL');
  assertGone(m);
});

test('absolute nested path: created ancestors are removed too; state round trip', { skip }, async (t) => {
  const top = uniq();
  const m = cgroupManager({ id: 'x', cgroupsPath: `/${top}/pod/ctr`, systemd: false });
  t.after(() => m.destroy());
  m.create();
  assert.equal(m.paths.devices, `/sys/fs/cgroup/devices/${top}/pod/ctr`);
  assert.equal(read(`/sys/fs/cgroup/cpuset/${top}/pod`, 'cpuset.mems'), read('/sys/fs/cgroup/cpuset', 'cpuset.mems'));
  m.apply({ pids: { limit: 7 } });
  const restored = cgroupManagerFromState(JSON.parse(JSON.stringify(serializeCgroupPaths(m))));
  assert.equal(read(restored.paths.pids, 'pids.max'), '7');
  await restored.destroy();
  assertGone(m);
  for (const key of Object.keys(m.paths)) {
    const topDir = m.paths[key].slice(0, m.paths[key].indexOf(top) + top.length);
    assert.equal(existsSync(topDir), false, `${topDir} left behind`);
  }
});

test('kernel rejections come back with runc\'s messages', { skip }, async (t) => {
  const m = cgroupManager({ id: uniq(), systemd: false });
  t.after(() => m.destroy());
  m.create();
  assert.throws(() => m.apply({ cpu: { shares: 1 } }), { message: 'the minimum allowed cpu-shares is 2' });
  assert.throws(() => m.apply({ cpu: { realtimeRuntime: 2000000, realtimePeriod: 1000000 } }), {
    message: `failed to write "2000000" to "${m.paths.cpu}/cpu.rt_runtime_us": write: invalid argument`,
  });
  if (!detectCgroupLayout().v1.hugetlb) {
    assert.throws(() => m.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 0 }] }), { message: 'cannot set hugetlb limit: container could not join or create cgroup' });
  }
  await m.destroy();
  assertGone(m);
});
