// The test fixture itself: teardown force-deletes, fails on what is left, and always removes
// its temp dirs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot, processesIn, tsrun } from '../helpers/harness.js';
import { fixture } from '../helpers/fixture.js';

test('teardown deletes a running container, checks it and removes root, bundles and dirs', { skip: needsRoot }, () => {
  const f = fixture();
  const bundle = f.bundle((c) => { c.process.args = ['sleep', '1000']; }, { dirs: ['data/sub'], files: { 'bin/hello': { content: '#!/bin/sh\necho hi\n', mode: 0o755 }, 'etc/note': 'n' } });
  assert.equal(statSync(join(bundle, 'rootfs/bin/hello')).mode & 0o777, 0o755);
  assert.equal(readFileSync(join(bundle, 'rootfs/etc/note'), 'utf8'), 'n');
  assert.ok(statSync(join(bundle, 'rootfs/data/sub')).isDirectory());
  const id = f.id('tsrun-fixture');
  const dir = f.dir();
  const copy = f.copy(bundle);
  assert.equal(readFileSync(join(copy, 'rootfs/etc/note'), 'utf8'), 'n');
  assert.equal(tsrun(['--root', f.root, 'run', '-d', '--bundle', bundle, id]).status, 0);
  const root = f.root;
  f.teardown();
  for (const p of [root, bundle, dir, copy]) assert.equal(existsSync(p), false, `${p} removed`);
  f.teardown();
});

test('teardown fails on what is left, and still removes its temp dirs', { skip: needsRoot }, async () => {
  const f = fixture();
  const bundle = f.bundle();
  // A process rooted in the bundle's rootfs that no container owns: nothing deletes it.
  const stray = spawn('chroot', [join(bundle, 'rootfs'), 'sleep', '1000'], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 500 && processesIn(bundle).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.throws(() => f.teardown(), /processes in .* left behind/);
    assert.equal(existsSync(bundle), false);
  } finally {
    stray.kill('SIGKILL');
  }
});

test('detached containers are deleted after those made later, strictly', { skip: needsRoot }, () => {
  const f = fixture();
  const first = f.detached((c) => { c.process.args = ['sleep', '1000']; }, 'tsrun-fixture-a');
  const bundle = f.bundle((c) => {
    c.process.args = ['sleep', '1000'];
    c.linux.namespaces = c.linux.namespaces.map((ns: any) => (ns.type === 'pid' ? { type: 'pid', path: `/proc/${first.initPid}/ns/pid` } : ns));
  });
  const id = f.id('tsrun-fixture-b');
  assert.equal(tsrun(['--root', f.root, 'run', '-d', '--bundle', bundle, id]).status, 0);
  f.teardown();
  assert.equal(existsSync(first.root), false);
});
