// Issue 15, a container's cgroup as someone else left it (frozen, or with processes in it), each
// case under runc 1.1.5 and tsrun side by side. cgroup v1 (this host); the v2 twin is the VM's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { needsRoot, makeBundle, makeRoot, tsrun, uniqueId, assertNothingLeft, processesIn, waitForStatus } from '../helpers/harness.js';
import { errorTail, runc, runc13, skipRunc } from '../helpers/beside.js';

const r13 = runc13();

const FREEZER = '/sys/fs/cgroup/freezer';
const DEVICES = '/sys/fs/cgroup/devices';
const skip = needsRoot || skipRunc || (existsSync(`${FREEZER}/freezer.state`) || existsSync(FREEZER) ? false : 'no v1 freezer');

type Runtime = 'runc' | 'tsrun';
const cli = (rt: Runtime, root: string, args: string[]) => (rt === 'runc' ? runc(['--root', root, ...args]) : tsrun(['--root', root, ...args]));

/** A cgroup made by the test itself, before the container: removed (thawed, emptied) afterwards. */
function premade(hierarchy: string, path: string): string {
  const dir = `${hierarchy}${path}`;
  mkdirSync(dir);
  return dir;
}
function removePremade(dir: string): void {
  if (!existsSync(dir)) return;
  if (existsSync(`${dir}/freezer.state`)) writeFileSync(`${dir}/freezer.state`, 'THAWED');
  for (let i = 0; i < 100; i++) {
    try { rmdirSync(dir); return; } catch { /* busy for a moment */ }
  }
}

/** As an outside tool would (runc's own state reading waits while the kernel says FREEZING). */
async function freezeFromOutside(dir: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (i % 50 === 0) {
      writeFileSync(`${dir}/freezer.state`, 'THAWED');
      writeFileSync(`${dir}/freezer.state`, 'FROZEN');
    }
    if (readFileSync(`${dir}/freezer.state`, 'utf8').trim() === 'FROZEN') return;
    await new Promise((res) => setTimeout(res, 10));
  }
  assert.fail(`${dir} never froze`);
}

for (const rt of ['runc', 'tsrun'] as const) {
  test(`${rt}: a container whose cgroup exists and is frozen is refused (container's cgroup unexpectedly frozen), nothing made`, { skip }, () => {
    const root = makeRoot();
    const id = uniqueId(`tsrun-frozen-${rt}`);
    const path = `/${id}-cg`;
    const bundle = makeBundle((c) => { c.linux.cgroupsPath = path; });
    const frozen = premade(FREEZER, path);
    try {
      writeFileSync(`${frozen}/freezer.state`, 'FROZEN');
      const r = cli(rt, root, ['run', '-d', '--bundle', bundle, id]);
      assert.equal(r.status, 1, r.stderr);
      assert.equal(errorTail(r.stderr), 'container\'s cgroup unexpectedly frozen');
      assert.equal(existsSync(`${root}/${id}`), false);
      // Nothing of the container's own was made beside the frozen cgroup.
      for (const h of ['memory', 'pids', 'devices', 'cpu']) assert.equal(existsSync(`/sys/fs/cgroup/${h}${path}`), false, `${h} cgroup made`);
      assert.equal(readFileSync(`${frozen}/freezer.state`, 'utf8').trim(), 'FROZEN');
      if (rt === 'tsrun') assertNothingLeft(root, id, bundle);
    } finally {
      cli(rt, root, ['delete', '--force', id]);
      removePremade(frozen);
      rmSync(bundle, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    }
  });

  test(`${rt}: kill KILL of a container frozen from outside stops it, and delete removes it without hanging`, { skip }, async () => {
    const root = makeRoot();
    const id = uniqueId(`tsrun-kfrozen-${rt}`);
    const path = `/${id}`;
    const bundle = makeBundle((c) => { c.linux.cgroupsPath = path; c.process.args = ['sleep', '4321']; });
    try {
      const r = cli(rt, root, ['run', '-d', '--bundle', bundle, id]);
      assert.equal(r.status, 0, r.stderr);
      await freezeFromOutside(`${FREEZER}${path}`);
      assert.equal(JSON.parse(cli(rt, root, ['state', id]).stdout).status, 'paused');
      const k = cli(rt, root, ['kill', id, 'KILL']);
      assert.equal(k.status, 0, k.stderr);
      if (rt === 'tsrun') await waitForStatus(root, id, 'stopped');
      else for (let i = 0; i < 500 && JSON.parse(cli(rt, root, ['state', id]).stdout).status !== 'stopped'; i++) await new Promise((res) => setTimeout(res, 10));
      assert.equal(JSON.parse(cli(rt, root, ['state', id]).stdout).status, 'stopped');
      const d = cli(rt, root, ['delete', id]);
      assert.equal(d.status, 0, d.stderr);
      if (rt === 'tsrun') assertNothingLeft(root, id, bundle);
    } finally {
      if (existsSync(`${FREEZER}${path}/freezer.state`)) writeFileSync(`${FREEZER}${path}/freezer.state`, 'THAWED');
      cli(rt, root, ['delete', '--force', id]);
      rmSync(bundle, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    }
  });

  test(`${rt}: delete --force of a container frozen from outside does not hang`, { skip }, async () => {
    const root = makeRoot();
    const id = uniqueId(`tsrun-dfrozen-${rt}`);
    const path = `/${id}`;
    const bundle = makeBundle((c) => { c.linux.cgroupsPath = path; c.process.args = ['sleep', '4322']; });
    try {
      assert.equal(cli(rt, root, ['run', '-d', '--bundle', bundle, id]).status, 0);
      await freezeFromOutside(`${FREEZER}${path}`);
      const d = cli(rt, root, ['delete', '--force', id]);
      assert.equal(d.status, 0, d.stderr);
      assert.equal(existsSync(`${FREEZER}${path}`), false);
      if (rt === 'tsrun') assertNothingLeft(root, id, bundle);
    } finally {
      if (existsSync(`${FREEZER}${path}/freezer.state`)) writeFileSync(`${FREEZER}${path}/freezer.state`, 'THAWED');
      cli(rt, root, ['delete', '--force', id]);
      rmSync(bundle, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    }
  });

  test(`${rt}: a cgroup that already holds a process is refused, in runc 1.3's words (runc 1.1 only warned)`, { skip: skip || r13.skip }, async () => {
    const root = makeRoot();
    const id = uniqueId(`tsrun-nonempty-${rt}`);
    const path = `/${id}-cg`;
    const bundle = makeBundle((c) => { c.linux.cgroupsPath = path; c.process.args = ['true']; });
    const dir = premade(DEVICES, path);
    const squatter = spawn('sleep', ['4323'], { stdio: 'ignore' });
    try {
      writeFileSync(`${dir}/cgroup.procs`, String(squatter.pid));
      const r = rt === 'runc' ? runc(['--root', root, 'run', '--bundle', bundle, id], { bin: r13.bin }) : cli(rt, root, ['run', '--bundle', bundle, id]);
      assert.equal(r.status, 1, r.stderr);
      assert.equal(errorTail(r.stderr), 'container\'s cgroup is not empty: 1 process(es) found');
      assert.deepEqual(processesIn(bundle), []);
      assert.equal(readFileSync(`${dir}/cgroup.procs`, 'utf8').trim(), String(squatter.pid), 'the squatter is left alone');
    } finally {
      squatter.kill('SIGKILL');
      await new Promise((res) => squatter.once('exit', res));
      cli(rt, root, ['delete', '--force', id]);
      removePremade(dir);
      for (const h of ['memory', 'pids', 'cpu', 'freezer']) removePremade(`/sys/fs/cgroup/${h}${path}`);
      if (rt === 'tsrun') assert.deepEqual(processesIn(bundle), []);
      rmSync(bundle, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    }
  });
}

for (const rt of ['runc', 'tsrun'] as const) {
  test(`${rt}: delete --force of a container frozen through its parent cgroup (SIGKILL cannot land): runc's words`, { skip }, async () => {
    const root = makeRoot();
    const id = uniqueId(`tsrun-pfrozen-${rt}`);
    const parent = `/${id}-parent`;
    const path = `${parent}/${id}`;
    const bundle = makeBundle((c) => { c.linux.cgroupsPath = path; c.process.args = ['sleep', '4328']; });
    try {
      assert.equal(cli(rt, root, ['run', '-d', '--bundle', bundle, id]).status, 0);
      await freezeFromOutside(`${FREEZER}${parent}`);
      const d = cli(rt, root, ['delete', '--force', id]);
      assert.equal(d.status, 1, d.stderr);
      assert.equal(errorTail(d.stderr), 'container init still running');
    } finally {
      if (existsSync(`${FREEZER}${parent}/freezer.state`)) writeFileSync(`${FREEZER}${parent}/freezer.state`, 'THAWED');
      assert.equal(cli(rt, root, ['delete', '--force', id]).status, 0);
      for (const h of ['memory', 'pids', 'cpu', 'cpuacct', 'cpuset', 'blkio', 'devices', 'freezer', 'systemd', 'unified']) removePremade(`/sys/fs/cgroup/${h}${parent}`);
      if (rt === 'tsrun') assertNothingLeft(root, id, bundle);
      rmSync(bundle, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    }
  });
}
