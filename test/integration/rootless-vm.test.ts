// Rootless limits on pure cgroup v2 need a delegated subtree, which this (hybrid) host cannot
// give: test/vm/rootless.vm.ts runs inside ../shared/vm/run-in-cgroup2-vm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO } from '../helpers/harness.js';
import { needsRootlessSetup } from '../helpers/rootless-user.js';

function findVm(): string {
  for (let dir = REPO; dirname(dir) !== dir; dir = dirname(dir)) {
    const candidate = join(dir, '..', 'shared', 'vm', 'run-in-cgroup2-vm');
    if (existsSync(candidate)) return candidate;
  }
  return '/work/shared/vm/run-in-cgroup2-vm';
}
const VM = findVm();
const hostIsV2 = /^0::\/\S*\n?$/.test(readFileSync('/proc/self/cgroup', 'utf8'));
const skip = needsRootlessSetup || (!existsSync(VM) ? `no ${VM}` : false) || (hostIsV2 ? 'host is cgroup v2: run build/test/vm/rootless.vm.cjs directly' : false);

test('rootless limits in a delegated cgroup v2 subtree (in the cgroup2 VM)', { skip, timeout: 600_000 }, () => {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_EXTRA_CA_CERTS;
  const r = spawnSync(VM, ['--timeout', '540', '--', process.execPath, '--test', '--test-reporter=spec', 'build/test/vm/rootless.vm.cjs'], {
    cwd: REPO, encoding: 'utf8', timeout: 590_000, env,
  });
  const output = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, output);
  assert.match(r.stdout, /pass 3\b/, output);
  assert.match(r.stdout, /fail 0\b/, output);
});

test('rootless --systemd-cgroup with the user\'s own systemd, beside runc 1.3 (in the cgroup2 VM)', { skip, timeout: 900_000 }, () => {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_EXTRA_CA_CERTS;
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
