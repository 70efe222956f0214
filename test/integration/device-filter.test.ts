// The v2 device filter in a real kernel: any cgroup2 hierarchy will do (the unified one of a
// hybrid host too), so this runs on the development machine and in the cgroup2 VM alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { applyDeviceRules } from '../../runtime/cgroups/v2.js';
import { detectCgroupLayout } from '../../runtime/cgroups/index.js';
import { DEFAULT_DEVICE_RULES } from '../../runtime/plan/devices.js';
import { bpf } from '../../runtime/sys/bpf.js';
import type { LinuxDeviceCgroup } from '../../runtime/cgroups/types.js';

function cgroup2Root(): string | undefined {
  try {
    return detectCgroupLayout().unified?.mountpoint;
  } catch {
    return undefined;
  }
}
const root = cgroup2Root();
const skip = process.getuid?.() !== 0 ? 'needs root' : !root ? 'no cgroup2 hierarchy' : false;

/** Runs a shell script inside the cgroup (it moves itself in first). */
function inCgroup(dir: string, script: string): { stdout: string; stderr: string } {
  const r = spawnSync('sh', ['-c', `echo $$ > ${dir}/cgroup.procs || exit 99\n${script}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

function attached(dir: string): number[] {
  const fd = bpf().openCgroup(dir);
  try {
    return bpf().attachedCgroupDevicePrograms(fd);
  } finally {
    bpf().close(fd);
  }
}

const PROBE = [
  // stderr stays the pipe: a redirection to /dev/null would itself be subject to the filter.
  'cat /dev/null && echo null-read=ok || echo null-read=denied',
  'echo x >/dev/null && echo null-write=ok || echo null-write=denied',
  '(exec 3<>/dev/null) && echo null-rdwr=ok || echo null-rdwr=denied',
  'head -c 1 /dev/zero | wc -c | grep -q 1 && echo zero-read=ok || echo zero-read=denied',
  'head -c 1 /dev/full | wc -c | grep -q 1 && echo full-read=ok || echo full-read=denied',
].join('\n');

function probe(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const r = inCgroup(dir, PROBE);
  if (r.stdout.includes('denied')) assert.match(r.stderr, /Operation not permitted/, 'EPERM from the device cgroup');
  for (const line of r.stdout.trim().split('\n')) {
    const [k, v] = line.split('=');
    out[k!] = v!;
  }
  return out;
}

test('device filter in the kernel: denies what the rules deny, replaces itself, goes with the cgroup', { skip }, async (t) => {
  const dir = `${root}/tsrun-devfilter-${process.pid}`;
  mkdirSync(dir);
  t.after(() => {
    if (existsSync(dir)) rmdirSync(dir);
  });
  const defaults = DEFAULT_DEVICE_RULES as LinuxDeviceCgroup[];
  // A white-list: runc's defaults with read taken away from c 1:3, and c 1:7 not allowed at all.
  applyDeviceRules(dir, [{ allow: false, access: 'rwm' }, ...defaults.filter((r) => !(r.major === 1 && r.minor === 7)), { allow: false, type: 'c', major: 1, minor: 3, access: 'r' }]);
  const first = attached(dir);
  assert.equal(first.length, 1);
  assert.deepEqual(probe(dir), { 'null-read': 'denied', 'null-write': 'ok', 'null-rdwr': 'denied', 'zero-read': 'ok', 'full-read': 'denied' });

  // A black-list, replacing the white-list: a deny of one access refuses an O_RDWR open too.
  applyDeviceRules(dir, [{ allow: true, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }, { allow: false, type: 'c', major: 1, minor: 5, access: 'rwm' }]);
  const second = attached(dir);
  assert.equal(second.length, 1, 'the old filter was detached');
  assert.notDeepEqual(second, first);
  assert.deepEqual(probe(dir), { 'null-read': 'ok', 'null-write': 'denied', 'null-rdwr': 'denied', 'zero-read': 'denied', 'full-read': 'ok' });

  // Numbers from 2^31 up pass the verifier, and allow-all really allows all.
  applyDeviceRules(dir, [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 0xffffffff, minor: 0x80000000, access: 'rw' }, { allow: true, type: 'c', major: 1, access: 'rwm' }]);
  assert.deepEqual(probe(dir), { 'null-read': 'ok', 'null-write': 'ok', 'null-rdwr': 'ok', 'zero-read': 'ok', 'full-read': 'ok' });
  applyDeviceRules(dir, [{ allow: true, access: 'rwm' }]);
  const last = attached(dir);
  assert.equal(last.length, 1);

  // The programs go with the cgroup (the kernel releases them asynchronously).
  rmdirSync(dir);
  for (let i = 0; i < 500; i++) {
    const fd = bpf().programFd(last[0]!);
    if (fd === undefined) break;
    bpf().close(fd);
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(bpf().programFd(last[0]!), undefined, `program ${last[0]} outlived its cgroup`);
  assert.equal(bpf().programFd(first[0]!), undefined);
  assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(dir));
});
