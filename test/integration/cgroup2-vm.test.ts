import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { REPO, needsRoot } from '../helpers/harness.js';
import { VM, vmSkip, vmEnv } from '../helpers/vm.js';

const skip = needsRoot || vmSkip('host is already cgroup v2: the v2 tests run directly');

test('containers on pure cgroup v2, and under systemd (in the cgroup2 VM)', { skip, timeout: 900_000 }, () => {
  // A guard, not a measure: on a loaded machine TCG takes well over 9 min for these three files.
  const r = spawnSync(VM, ['--timeout', '840', '--', process.execPath, '--test', '--test-reporter=spec', 'build/test/vm/cgroup2.vm.cjs', 'build/test/vm/systemd.vm.cjs', 'build/test/integration/cgroups-v2.test.cjs'], {
    cwd: REPO, encoding: 'utf8', timeout: 880_000, env: vmEnv(),
  });
  const output = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, output);
  assert.match(r.stdout, /pass 10\b/, output);
  assert.match(r.stdout, /fail 0\b/, output);
  assert.match(r.stdout, /skipped 0\b/, output);
});
