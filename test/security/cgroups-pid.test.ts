// cgroupsPath traversal (`../../..` must stay inside the cgroup hierarchies) and pid reuse
// (kill/delete of a container whose init pid now belongs to another process signal nothing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { needsRoot, tsrun, uniqueId, assertNothingLeft, cgroupDirsNamed, waitForStatus } from '../helpers/harness.js';
import { fixture } from '../helpers/fixture.js';

test('cgroupsPath with ../ never leaves the cgroup hierarchies', { skip: needsRoot }, (t) => {
  const f = fixture(t);
  const name = uniqueId('tsrun-cgesc');
  const escapes = [`../../../../../../tmp/${name}`, `/../../../../tmp/${name}`, `a/../../../../../../tmp/${name}`];
  // What a naive join would do (the probe is not vacuous).
  assert.equal(posix.join('/sys/fs/cgroup/memory', escapes[0]), `/tmp/${name}`);
  for (const cgroupsPath of escapes) {
    const root = f.newRoot();
    const bundle = f.bundle((c) => { c.linux.cgroupsPath = cgroupsPath; c.process.args = ['sh', '-c', 'cat /proc/self/cgroup']; });
    const id = f.id('tsrun-cgesc', { root });
    const r = tsrun(['--root', root, 'run', '--bundle', bundle, id]);
    assert.equal(existsSync(`/tmp/${name}`), false, `${cgroupsPath}: made a directory outside /sys/fs/cgroup`);
    if (r.status === 0) assert.match(r.stdout, new RegExp(`/tmp/${name}$`, 'm'));
    assertNothingLeft(root, id, bundle);
    assert.deepEqual(cgroupDirsNamed(name), []);
  }
});

test('kill and delete of a container whose pid was reused do not signal the new process', { skip: needsRoot }, async (t) => {
  const f = fixture(t);
  const root = f.root;
  const bundle = f.bundle((c) => { c.process.args = ['sleep', '1000']; });
  const id = f.id('tsrun-pidreuse');
  const bystander = spawn('sleep', ['1000'], { stdio: 'ignore' });
  f.defer(() => bystander.kill('SIGKILL'));
  assert.equal(tsrun(['--root', root, 'run', '-d', '--bundle', bundle, id]).status, 0);
  assert.equal(tsrun(['--root', root, 'kill', id, 'KILL']).status, 0);
  await waitForStatus(root, id, 'stopped');
  // The init's pid now names the bystander, as after pid reuse (its start time differs).
  const file = `${root}/${id}/tsrun-state.json`;
  const state = JSON.parse(readFileSync(file, 'utf8'));
  state.pid = bystander.pid;
  writeFileSync(file, JSON.stringify(state));
  assert.equal(JSON.parse(tsrun(['--root', root, 'state', id]).stdout).status, 'stopped');
  const k = tsrun(['--root', root, 'kill', id, 'KILL']);
  assert.equal(k.status, 1);
  assert.match(k.stderr, /container not running/);
  assert.equal(tsrun(['--root', root, 'delete', '--force', id]).status, 0);
  assert.equal(bystander.exitCode, null);
  assert.equal(bystander.signalCode, null);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(bystander.signalCode, null, 'the bystander was signalled');
  // The probe is not vacuous: with the bystander's own start time the state names it, and kill reaches it.
  const id2 = f.id('tsrun-pidreuse');
  assert.equal(tsrun(['--root', root, 'create', '--bundle', bundle, id2]).status, 0);
  const file2 = `${root}/${id2}/tsrun-state.json`;
  const s2 = JSON.parse(readFileSync(file2, 'utf8'));
  const realInit = s2.pid;
  const stat = readFileSync(`/proc/${bystander.pid}/stat`, 'latin1');
  s2.pid = bystander.pid;
  s2.pidStartTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  writeFileSync(file2, JSON.stringify(s2));
  const exited = new Promise((r) => bystander.once('exit', (_c, sig) => r(sig)));
  assert.equal(tsrun(['--root', root, 'kill', id2, 'KILL']).status, 0);
  assert.equal(await exited, 'SIGKILL');
  s2.pid = realInit;
  delete s2.pidStartTime;
  writeFileSync(file2, JSON.stringify(s2));
  assert.equal(tsrun(['--root', root, 'delete', '--force', id2]).status, 0);
  assertNothingLeft(root, id2, bundle);
  assertNothingLeft(root, id, bundle);
});
