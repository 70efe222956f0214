// The pre-dump case of checkpoint.test.ts for real: this host's kernel lacks soft-dirty page
// tracking (CONFIG_MEM_SOFT_DIRTY), the cgroup2 VM's Debian kernel has it. There, runc 1.3 and
// tsrun each pre-dump a counting loop, dump on top of it with --parent-path (fewer page bytes than
// the pre-dump) and restore it; the loop counts on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { REPO, needsRoot } from '../helpers/harness.js';
import { VM, vmSkip, vmEnv } from '../helpers/vm.js';
import { stackSkip } from '../helpers/stack.js';

const skip = needsRoot || stackSkip() || vmSkip('host is cgroup v2: run checkpoint.test.cjs with TSRUN_REQUIRE_MEM_TRACK=1 directly');

test('pre-dump, then a dump with --parent-path, then a restore, beside runc 1.3 (in the cgroup2 VM, soft-dirty tracking)', { skip, timeout: 900_000 }, () => {
  const env = vmEnv({ TSRUN_REQUIRE_MEM_TRACK: '1' });
  // No transparent huge pages in the VM: khugepaged collapsing the shell's 2 MB ballast between the
  // pre-dump and the dump makes the whole huge page new to the dump (seen once: 2,244,608 bytes on
  // top of a 4,407,296-byte pre-dump), whichever runtime it happens to.
  const noThp = 'echo never > /sys/kernel/mm/transparent_hugepage/enabled; exec "$@"';
  const r = spawnSync(VM, ['--timeout', '840', '--', '/bin/sh', '-c', noThp, 'sh', process.execPath, '--test', '--test-reporter=spec', '--test-name-pattern', 'pre-dump', 'build/test/integration/checkpoint.test.cjs'], {
    cwd: REPO, encoding: 'utf8', timeout: 880_000, env,
  });
  const output = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, output);
  assert.match(r.stdout, /pass 1\b/, output);
  assert.match(r.stdout, /fail 0\b/, output);
  // both runtimes really pre-dumped and dumped on top (the case prints the page bytes of each)
  assert.match(r.stdout, /runc: pre-dump wrote \d+ bytes of pages/, output);
  assert.match(r.stdout, /tsrun: pre-dump wrote \d+ bytes of pages/, output);
  console.log(r.stdout.split('\n').filter((l) => l.includes('bytes of pages')).join('\n'));
});
