// CVE-2019-16884 / CVE-2023-27561 and relatives: a /proc that is not the kernel's procfs takes
// the values the runtime writes there (sysctls, LSM labels). /proc symlinked, pre-filled,
// bind-mounted, or another file system: the planted files stay untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot, runContainer, tsrun, assertNothingLeft, type RunResult } from '../helpers/harness.js';
import { fixture, type AfterHook } from '../helpers/fixture.js';

const SYSCTL = { 'kernel.shmmax': '4096' };

function plant(dir: string): void {
  mkdirSync(join(dir, 'sys/kernel'), { recursive: true });
  writeFileSync(join(dir, 'sys/kernel/shmmax'), 'planted');
}

/** Runs a bundle prepared by `before`, then hands the bundle to `check` before the test's teardown. */
function runThenCheck(t: AfterHook, edit: (c: any) => void, before: (bundle: string) => void, check: (r: RunResult, bundle: string) => void): void {
  const f = fixture(t);
  const root = f.root;
  const bundle = f.bundle(edit);
  const id = f.id('tsrun-procfs');
  before(bundle);
  const r = tsrun(['--root', root, 'run', '--bundle', bundle, id]);
  assertNothingLeft(root, id, bundle);
  check(r, bundle);
}

test('/proc a symlink to a planted directory in the rootfs: refused or the real procfs, never the plant', { skip: needsRoot }, (t) => {
  runThenCheck(t, (c) => { c.linux.sysctl = SYSCTL; c.process.args = ['cat', '/proc/sys/kernel/shmmax']; }, (b) => {
    rmSync(join(b, 'rootfs/proc'), { recursive: true, force: true });
    plant(join(b, 'rootfs/fakeproc'));
    symlinkSync('/fakeproc', join(b, 'rootfs/proc'));
  }, (r, b) => {
    assert.equal(readFileSync(join(b, 'rootfs/fakeproc/sys/kernel/shmmax'), 'utf8'), 'planted');
    if (r.status === 0) assert.equal(r.stdout.trim(), '4096', 'the sysctl went to the real procfs');
  });
});

test('/proc pre-filled with planted files: proc is mounted over them and they stay untouched', { skip: needsRoot }, (t) => {
  runThenCheck(t, (c) => { c.linux.sysctl = SYSCTL; c.process.args = ['cat', '/proc/sys/kernel/shmmax']; }, (b) => plant(join(b, 'rootfs/proc')), (r, b) => {
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '4096');
    assert.equal(readFileSync(join(b, 'rootfs/proc/sys/kernel/shmmax'), 'utf8'), 'planted');
  });
});

test('/proc bind-mounted from a host directory: refused, the host files untouched', { skip: needsRoot }, (t) => {
  const f = fixture(t);
  const host = f.dir('tsrun-fakeproc-');
  plant(host);
  const r = runContainer((c) => { c.mounts[0] = { destination: '/proc', type: 'bind', source: host, options: ['rbind'] }; c.linux.sysctl = SYSCTL; });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot be mounted because it is not of type proc/);
  assert.equal(readFileSync(join(host, 'sys/kernel/shmmax'), 'utf8'), 'planted');
});

test('/proc of another file system type with a planted sysctl file: the write is refused', { skip: needsRoot }, () => {
  const r = runContainer((c) => {
    c.mounts[0] = { destination: '/proc', type: 'tmpfs', source: 'tmpfs' };
    c.linux.maskedPaths = [];
    c.linux.readonlyPaths = [];
    c.linux.sysctl = SYSCTL;
    c.hooks = { createContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'mkdir -p proc/sys/kernel && echo planted > proc/sys/kernel/shmmax'] }] };
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /is not on procfs/);
});
