// Real cgroups on a pure cgroup v2 host (skipped elsewhere and when not root). On a v1/hybrid
// development machine run it in the VM:
//   /work/shared/vm/run-in-cgroup2-vm -- node --test build/test/integration/cgroups-v2.test.cjs
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
    return detectCgroupLayout().mode === 'v2' ? false : 'host is not cgroup v2 (run in /work/shared/vm/run-in-cgroup2-vm)';
  } catch (err) {
    return `no cgroups: ${(err as Error).message}`;
  }
}
const skip = skipReason();

const uniq = () => `tsrun-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const read = (dir: string, file: string) => readFileSync(posix.join(dir, file), 'utf8').trim();
const words = (s: string) => s.split(/\s+/).filter(Boolean);

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

test('v2: nested path, controllers enabled down the tree, limits read back, join, kill, destroy', { skip }, async (t) => {
  const top = uniq();
  const root = detectCgroupLayout().unified!.mountpoint;
  const available = words(read(root, 'cgroup.controllers'));
  const m = cgroupManager({ id: 'x', cgroupsPath: `/${top}/pod/ctr`, systemd: false });
  t.after(() => m.destroy());
  m.create();
  const dir = m.paths[''];
  assert.equal(dir, `${root}/${top}/pod/ctr`);
  for (const level of [`${root}/${top}`, `${root}/${top}/pod`]) {
    assert.deepEqual(words(read(level, 'cgroup.subtree_control')).sort(), [...available].sort(), level);
  }
  assert.equal(read(dir, 'cgroup.subtree_control'), '', 'leaf: nothing enabled');

  const hasHugetlb = available.includes('hugetlb') && existsSync(`${dir}/hugetlb.2MB.max`);
  const warnings = m.apply({
    memory: { limit: 64 * MiB, swap: 96 * MiB, reservation: 16 * MiB },
    pids: { limit: 20 },
    cpu: { shares: 1024, quota: 50000, period: 100000, cpus: '0', mems: '0' },
    blockIO: { weight: 500 },
    hugepageLimits: hasHugetlb ? [{ pageSize: '2MB', limit: 4 * MiB }] : [],
    unified: { 'memory.high': String(48 * MiB) },
    devices: [{ allow: false, access: 'rwm' }],
  });
  assert.deepEqual(warnings, []);
  assert.equal(read(dir, 'memory.max'), String(64 * MiB));
  assert.equal(read(dir, 'memory.swap.max'), String(32 * MiB));
  assert.equal(read(dir, 'memory.low'), String(16 * MiB));
  assert.equal(read(dir, 'memory.high'), String(48 * MiB));
  assert.equal(read(dir, 'pids.max'), '20');
  assert.equal(read(dir, 'cpu.weight'), '39');
  assert.equal(read(dir, 'cpu.max'), '50000 100000');
  assert.equal(read(dir, 'cpuset.cpus'), '0');
  if (existsSync(`${dir}/io.bfq.weight`)) assert.match(read(dir, 'io.bfq.weight'), /500/);
  else assert.equal(read(dir, 'io.weight'), 'default 4950');
  if (hasHugetlb) assert.equal(read(dir, 'hugetlb.2MB.max'), String(4 * MiB));

  m.apply({ memory: { limit: -1 }, pids: { limit: -1 }, cpu: { quota: -1 } });
  assert.equal(read(dir, 'memory.max'), 'max');
  assert.equal(read(dir, 'memory.swap.max'), 'max');
  assert.equal(read(dir, 'pids.max'), 'max');
  assert.equal(read(dir, 'cpu.max'), 'max 100000');

  const a = sleeper(t);
  join(m, a.child.pid!);
  assert.equal(readFileSync(`/proc/${a.child.pid}/cgroup`, 'utf8').trim(), `0::/${top}/pod/ctr`);
  assert.deepEqual(m.pids(), [a.child.pid]);
  await m.killAll('SIGTERM');
  assert.equal(await a.exited, 'SIGTERM');
  assert.equal(read(dir, 'cgroup.freeze'), '0', 'thawed after signalling');

  const b = sleeper(t);
  join(m, b.child.pid!);
  await m.killAll('SIGKILL');
  assert.equal(await b.exited, 'SIGKILL');

  // Stragglers in a sub-cgroup (a leaf below the container's cgroup) die on destroy.
  const c = sleeper(t);
  mkdirSync(`${dir}/inner`);
  writeFileSync(`${dir}/inner/cgroup.procs`, String(c.child.pid));
  assert.deepEqual(m.pids(), [c.child.pid]);
  const restored = cgroupManagerFromState(JSON.parse(JSON.stringify(serializeCgroupPaths(m))));
  await restored.destroy();
  assert.equal(await c.exited, 'SIGKILL');
  assert.equal(existsSync(`${root}/${top}`), false, 'every created level removed');
  await m.destroy();
});

test('v2: relative path goes beside our own cgroup; errors say what is wrong', { skip }, async (t) => {
  const id = uniq();
  const m = cgroupManager({ id, systemd: false });
  t.after(() => m.destroy());
  const own = /^0::(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))![1];
  const root = detectCgroupLayout().unified!.mountpoint;
  assert.equal(m.paths[''], posix.join(root, posix.dirname(own), id));
  m.create();
  assert.throws(() => m.apply({ unified: { 'memory.bogus': '1' } }), /unified resource "memory.bogus" can't be set: no such file/);
  assert.throws(() => m.apply({ memory: { limit: MiB, swap: MiB / 2 } }), /memory\+swap limit should be >= memory limit/);
  assert.throws(() => m.apply({ cpu: { quota: 500 } }), {
    message: `failed to write "500 100000" to "${m.paths['']}/cpu.max": write: invalid argument`,
  });
  await m.destroy();
  assert.equal(existsSync(m.paths['']), false);
});
