// `update` and `events` on real busybox containers (v1 or hybrid host; the v2 subset runs in the
// cgroup2 VM from test/vm/cgroup2.vm.ts). Limits are read back from the cgroup files and shown
// to take effect; every test checks that nothing is left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TSRUN, needsRoot, tsrun, waitForStatus } from '../helpers/harness.js';
import { fixture, type AfterHook } from '../helpers/fixture.js';
import { detectCgroupLayout } from '../../runtime/cgroups/index.js';

const MiB = 1024 * 1024;
const skip = needsRoot || (detectCgroupLayout().mode === 'v2' ? 'host is cgroup v2 (the v2 subset runs in test/vm/cgroup2.vm.ts)' : false);

interface Box { root: string; id: string; bundle: string; t: (...args: string[]) => ReturnType<typeof tsrun>; paths: Record<string, string> }

/** A started container; deleted, and checked to leave nothing, when the test ends. */
function started(testCtx: AfterHook, edit: (c: any) => void): Box {
  const f = fixture(testCtx);
  const root = f.root;
  const id = f.id('tsrun-upd', { strict: true });
  const bundle = f.bundle(edit);
  const t = (...args: string[]) => tsrun(['--root', root, ...args]);
  let r = t('create', '--bundle', bundle, id);
  assert.equal(r.status, 0, r.stderr);
  r = t('start', id);
  assert.equal(r.status, 0, r.stderr);
  const state = JSON.parse(readFileSync(join(root, id, 'tsrun-state.json'), 'utf8'));
  return { root, id, bundle, t, paths: state.cgroup.paths };
}

const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8').trim();

test('update: flags and --resources - are written to the cgroup files, zeros leave the rest alone', { skip }, (t) => {
  const b = started(t, (c) => {
    c.process.args = ['sleep', '1000'];
    c.linux.resources = { ...c.linux.resources, memory: { limit: 64 * MiB }, cpu: { shares: 1024, quota: 50000, period: 100000 } };
  });
  let r = b.t('update', '--memory', '100M', '--memory-reservation', '50M', '--pids-limit', '50', '--cpu-quota', '20000', '--cpu-share', '512', '--cpuset-cpus', '0', '--cpuset-mems', '0', b.id);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(read(b.paths.memory, 'memory.limit_in_bytes'), String(100 * MiB));
  assert.equal(read(b.paths.memory, 'memory.soft_limit_in_bytes'), String(50 * MiB));
  assert.equal(read(b.paths.pids, 'pids.max'), '50');
  assert.equal(read(b.paths.cpu, 'cpu.cfs_quota_us'), '20000');
  assert.equal(read(b.paths.cpu, 'cpu.cfs_period_us'), '100000');
  assert.equal(read(b.paths.cpu, 'cpu.shares'), '512');
  assert.equal(read(b.paths.cpuset, 'cpuset.cpus'), '0');

  // Docker's payload: zeros for what it does not change.
  r = b.t('update', '--resources', '-', b.id);
  assert.notEqual(r.status, 0, 'no stdin: EOF');
  r = tsrun(['--root', b.root, 'update', '-r', '-', b.id], { input: '{"memory":{"limit":0,"reservation":0,"swap":0,"kernel":0},"cpu":{"shares":0,"quota":30000,"period":0},"blockIO":{"weight":0},"pids":{"limit":40}}' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(read(b.paths.memory, 'memory.limit_in_bytes'), String(100 * MiB), 'limit 0 = unchanged');
  assert.equal(read(b.paths.cpu, 'cpu.shares'), '512');
  assert.equal(read(b.paths.cpu, 'cpu.cfs_quota_us'), '30000');
  assert.equal(read(b.paths.pids, 'pids.max'), '40');
  // The state keeps the merged resources for later updates.
  const saved = JSON.parse(readFileSync(join(b.root, b.id, 'tsrun-state.json'), 'utf8')).resources;
  assert.deepEqual([saved.memory.limit, saved.cpu.shares, saved.cpu.quota, saved.cpu.period, saved.pids.limit], [100 * MiB, 512, 30000, 100000, 40]);

  // -1: unlimited; a JSON file instead of stdin.
  const file = join(b.bundle, 'res.json');
  writeFileSync(file, '{"memory":{"limit":-1},"pids":{"limit":-1}}');
  r = b.t('update', `--resources=${file}`, b.id);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(read(b.paths.pids, 'pids.max'), 'max');
  assert.equal(read(b.paths.memory, 'memory.limit_in_bytes'), '9223372036854771712');

  r = b.t('update', '--memory', 'lots', b.id);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /invalid value for memory: invalid size: 'lots'/);
  r = b.t('update', '--cpu-share', '1', b.id);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /the minimum allowed cpu-shares is 2/);
  assert.equal(read(b.paths.cpu, 'cpu.shares'), '512', 'a failed update puts the saved settings back');
});

test('update: a fork bomb stops at the updated pids.max', { skip }, async (t) => {
  const b = started(t, (c) => {
    // Waits for /go, then a subshell forks sleepers for ever; forks past the limit fail (and ash
    // gives up on the first failure), the init stays.
    c.process.args = ['sh', '-c', 'while [ ! -e /go ]; do sleep 0.05; done; (while true; do sleep 1000 & done) 2>/dev/null; sleep 1000'];
  });
  const r = b.t('update', '--pids-limit', '10', b.id);
  assert.equal(r.status, 0, r.stderr);
  writeFileSync(join(b.bundle, 'rootfs', 'go'), '');
  const maxEvents = () => Number(/^max (\d+)$/m.exec(read(b.paths.pids, 'pids.events'))?.[1] ?? 0);
  for (let i = 0; i < 500 && maxEvents() === 0; i++) await new Promise((res) => setTimeout(res, 10));
  assert.ok(maxEvents() > 0, 'forks were refused at the limit');
  const current = Number(read(b.paths.pids, 'pids.current'));
  // 10 at the limit; 9 for a moment between the subshell's exit and the init's last fork.
  assert.ok(current === 10 || current === 9, `pids.current ${current}`);
  assert.equal(read(b.paths.pids, 'pids.max'), '10');
});

test('events --stats: one JSON line with runc\'s shape and live numbers', { skip }, (t) => {
  const b = started(t, (c) => {
    c.process.args = ['sh', '-c', 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 1000'];
    c.linux.resources = { ...c.linux.resources, memory: { limit: 48 * MiB }, pids: { limit: 33 } };
  });
  const r = b.t('events', '--stats', b.id);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.split('\n').length, 2, 'one line and a newline');
  const e = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(e), ['type', 'id', 'data']);
  assert.equal(e.type, 'stats');
  assert.equal(e.id, b.id);
  const d = e.data;
  assert.deepEqual(Object.keys(d), ['cpu', 'cpuset', 'memory', 'pids', 'blkio', 'hugetlb', 'intel_rdt', 'network_interfaces']);
  assert.ok(d.cpu.usage.total > 0);
  assert.ok(Array.isArray(d.cpu.usage.percpu) && d.cpu.usage.percpu.length > 0);
  assert.equal(typeof d.cpu.usage.kernel, 'number');
  assert.equal(typeof d.cpu.usage.user, 'number');
  assert.deepEqual(Object.keys(d.memory).filter((k) => k !== 'cache'), ['usage', 'swap', 'kernel', 'kernelTCP', 'raw']);
  assert.equal(d.memory.usage.limit, 48 * MiB);
  assert.ok(d.memory.usage.usage > 0);
  assert.equal(typeof d.memory.usage.failcnt, 'number');
  assert.equal(typeof d.memory.raw.total_rss, 'number');
  assert.ok(d.pids.current >= 1);
  assert.equal(d.pids.limit, 33);
  assert.ok(Array.isArray(d.cpuset.cpus) && d.cpuset.cpus.length > 0);
  assert.deepEqual(d.intel_rdt, {});
  assert.equal(d.network_interfaces, null);
});

test('events: a memory hog is OOM-killed, the oom event is streamed, the stream ends with the container', { skip }, async (t) => {
  const b = started(t, (c) => {
    c.process.args = ['sh', '-c', 'while [ ! -e /go ]; do sleep 0.05; done; a=$(yes | head -c 200000000)'];
    c.linux.resources = { ...c.linux.resources, memory: { limit: 32 * MiB, swap: 32 * MiB } };
  });
  const child = spawn(TSRUN, ['--root', b.root, 'events', '--interval', '200ms', b.id], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  // The first stats line says the OOM watch is armed: only then let the hog go.
  await new Promise<void>((res) => child.stdout.on('data', (d) => {
    out += d;
    if (out.includes('\n')) res();
  }));
  writeFileSync(join(b.bundle, 'rootfs', 'go'), '');
  child.stdout.on('data', (d) => { out += d; });
  assert.equal(await exited, 0, err);
  const lines = out.trim().split('\n').map((l) => JSON.parse(l));
  // Each OOM kill in the cgroup is a notification (the shell, yes, head…): at least one.
  const ooms = lines.filter((l) => l.type === 'oom');
  assert.ok(ooms.length >= 1, out);
  for (const o of ooms) assert.deepEqual(o, { type: 'oom', id: b.id });
  assert.ok(lines.filter((l) => l.type === 'stats').every((l) => l.id === b.id && l.data.memory.usage.limit === 32 * MiB));
  await waitForStatus(b.root, b.id, 'stopped');
});

test('update and events: stopped and unknown containers, wrong arguments', { skip }, async (t) => {
  const b = started(t, (c) => { c.process.args = ['true']; });
  await waitForStatus(b.root, b.id, 'stopped');
  let r = b.t('update', '--memory', '10M', b.id);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /container not running/);
  r = b.t('events', '--stats', b.id);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`container with id ${b.id} is not running`));
  r = b.t('events', b.id);
  assert.equal(r.status, 1);
  for (const cmd of [['update', '--pids-limit', '5'], ['events', '--stats'], ['events']]) {
    r = b.t(...cmd, 'tsrun-no-such-container');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /container does not exist/);
  }
  r = b.t('events', '--interval', '0s', b.id);
  assert.match(r.stderr, /duration interval must be greater than 0/);
  r = b.t('events', '--interval', '5', b.id);
  assert.match(r.stderr, /invalid value \\"5\\" for flag -interval: parse error/);
  r = b.t('update', b.id, 'extra');
  assert.match(r.stderr, /\\"update\\" requires exactly 1 argument\(s\)/);
  assert.equal(r.status, 1);
});
