// The cgroup v2 VM (../shared/vm/run-in-cgroup2-vm) that runs the tests a pure cgroup v2 host needs.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO } from './harness.js';

/** ../shared/vm beside the checkout, or beside one of its parents (a git worktree may sit deeper). */
function findVm(): string {
  for (let dir = REPO; dirname(dir) !== dir; dir = dirname(dir)) {
    const candidate = join(dir, '..', 'shared', 'vm', 'run-in-cgroup2-vm');
    if (existsSync(candidate)) return candidate;
  }
  // Where this project's machines keep it, for a checkout made elsewhere.
  return '/work/shared/vm/run-in-cgroup2-vm';
}

export const VM = findVm();
/** This host is pure cgroup v2 already: the VM's tests run directly. */
export const hostIsV2 = /^0::\/\S*\n?$/.test(readFileSync('/proc/self/cgroup', 'utf8'));
/** Why the VM cannot be used here (`whenV2` is the reason on a v2 host), or false. */
export const vmSkip = (whenV2: string): string | false => (!existsSync(VM) ? `no ${VM}` : false) || (hostIsV2 ? whenV2 : false);

/** The VM passes our environment on: without what would make the inner node:test think it is nested. */
export function vmEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}
