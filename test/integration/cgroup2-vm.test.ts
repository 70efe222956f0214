import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO, needsRoot } from '../helpers/harness.js';

/** ../shared/vm beside the checkout, or beside one of its parents (a git worktree may sit deeper). */
function findVm(): string {
  for (let dir = REPO; dirname(dir) !== dir; dir = dirname(dir)) {
    const candidate = join(dir, '..', 'shared', 'vm', 'run-in-cgroup2-vm');
    if (existsSync(candidate)) return candidate;
  }
  // Where this project's machines keep it, for a checkout made elsewhere.
  return '/work/shared/vm/run-in-cgroup2-vm';
}
const VM = findVm();
const hostIsV2 = /^0::\/\S*\n?$/.test(readFileSync('/proc/self/cgroup', 'utf8'));
const skip = needsRoot || (!existsSync(VM) ? `no ${VM}` : false) || (hostIsV2 ? 'host is already cgroup v2: the v2 tests run directly' : false);

/** The VM passes our environment on: drop what would make the inner node:test think it is nested. */
function vmEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

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
