// Rootless limits on pure cgroup v2 need a delegated subtree, which this (hybrid) host cannot
// give: test/vm/rootless.vm.ts runs inside ../shared/vm/run-in-cgroup2-vm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { REPO } from '../helpers/harness.js';
import { VM, vmSkip, vmEnv } from '../helpers/vm.js';
import { needsRootlessSetup } from '../helpers/rootless-user.js';

const skip = needsRootlessSetup || vmSkip('host is cgroup v2: run build/test/vm/rootless.vm.cjs directly');

test('rootless limits in a delegated cgroup v2 subtree (in the cgroup2 VM)', { skip, timeout: 600_000 }, () => {
  const env = vmEnv();
  const r = spawnSync(VM, ['--timeout', '540', '--', process.execPath, '--test', '--test-reporter=spec', 'build/test/vm/rootless.vm.cjs'], {
    cwd: REPO, encoding: 'utf8', timeout: 590_000, env,
  });
  const output = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, output);
  assert.match(r.stdout, /pass 3\b/, output);
  assert.match(r.stdout, /fail 0\b/, output);
});

test('rootless --systemd-cgroup with the user\'s own systemd, beside runc 1.3 (in the cgroup2 VM)', { skip, timeout: 900_000 }, () => {
  const env = vmEnv();
  // Under TCG, starting the user's systemd and two runtimes' containers takes minutes.
  const r = spawnSync(VM, ['--timeout', '840', '--', process.execPath, '--test', '--test-reporter=spec', 'build/test/vm/systemd-user.vm.cjs'], {
    cwd: REPO, encoding: 'utf8', timeout: 880_000, env,
  });
  const output = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, output);
  assert.match(r.stdout, /pass 1\b/, output);
  assert.match(r.stdout, /fail 0\b/, output);
  assert.match(r.stdout, /skipped 0\b/, output);
});
