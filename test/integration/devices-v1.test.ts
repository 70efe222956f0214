// v1 device rule updates on a real devices cgroup: after every single write the kernel's
// devices.list still grants what both the old and the new rules grant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { cgroupManager, detectCgroupLayout, type LinuxDeviceCgroup } from '../../runtime/cgroups/index.js';
import { DEFAULT_DEVICE_RULES } from '../../runtime/plan/devices.js';
import { runContainer } from '../helpers/harness.js';

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root';
  try {
    return detectCgroupLayout().v1.devices ? false : 'no v1 devices hierarchy';
  } catch (err) {
    return `no cgroups: ${(err as Error).message}`;
  }
}
const skip = skipReason();

/** devices.list of a white-list as a set of "c 1:3 r"-style single grants (enough to compare). */
function grants(list: string): Set<string> {
  const out = new Set<string>();
  for (const line of list.trim().split('\n').filter(Boolean)) {
    const [type, nums, access] = line.split(' ') as [string, string, string];
    for (const ch of access) out.add(`${type} ${nums} ${ch}`);
  }
  return out;
}

test('v1 devices: an update writes only the difference and never drops a grant both rule sets have', { skip }, async (t) => {
  let devicesDir = '';
  const lists: string[] = [];
  const m = cgroupManager({ id: `tsrun-test-${process.pid}-dev`, cgroupsPath: `/tsrun-test-${process.pid}-dev`, systemd: false }, {
    onWrite: (file) => {
      if (/devices\.(allow|deny)$/.test(file)) lists.push(readFileSync(posix.join(posix.dirname(file), 'devices.list'), 'utf8'));
    },
  });
  t.after(() => m.destroy());
  m.create();
  devicesDir = m.paths.devices!;
  const deny: LinuxDeviceCgroup = { allow: false, access: 'rwm' };
  const defaults = DEFAULT_DEVICE_RULES as LinuxDeviceCgroup[];
  m.apply({ devices: [deny, ...defaults, { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' }] });
  const before = grants(readFileSync(`${devicesDir}/devices.list`, 'utf8'));
  assert.ok(before.has('c 10:229 r') && before.has('c 1:3 w'));

  lists.length = 0;
  m.apply({ devices: [deny, ...defaults, { allow: true, type: 'b', major: 7, access: 'r' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }] });
  const after = grants(readFileSync(`${devicesDir}/devices.list`, 'utf8'));
  assert.deepEqual(lists.length, 3, 'three writes: drop c 1:3 w, drop c 10:229, add b 7:* r');
  assert.ok(after.has('b 7:* r') && !after.has('c 10:229 r') && !after.has('c 1:3 w') && after.has('c 1:3 r'));
  for (const [i, list] of lists.entries()) {
    assert.ok(!list.includes('a *:* rwm'), `write ${i}: never allow-all`);
    const now = grants(list);
    for (const g of before) if (after.has(g)) assert.ok(now.has(g), `write ${i}: ${g} was taken away meanwhile`);
  }

  // To allow-all and back to the defaults.
  m.apply({ devices: [{ allow: true, access: 'rwm' }] });
  assert.equal(readFileSync(`${devicesDir}/devices.list`, 'utf8').trim(), 'a *:* rwm');
  m.apply({ devices: [deny, ...defaults] });
  assert.ok(grants(readFileSync(`${devicesDir}/devices.list`, 'utf8')).has('c 136:* w'));
  await m.destroy();
  assert.equal(existsSync(devicesDir), false);
});

test('v1 devices: a container is denied what its rules deny (the host\'s /dev/kmsg, write only)', { skip }, () => {
  // The same container as the cgroup2 VM's BPF filter test: c 1:11 is not one of runc's default
  // devices, so only the spec's rule (write, not read) decides.
  const r = runContainer((c) => {
    c.mounts.push({ destination: '/dev/kmsg', type: 'bind', source: '/dev/kmsg', options: ['bind'] });
    c.linux.resources = { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 11, access: 'w' }] };
    c.process.args = ['sh', '-c', [
      'dd if=/dev/kmsg of=/dev/null count=0; echo kmsg-read=$?',
      'echo tsrun-device-test > /dev/kmsg; echo kmsg-write=$?',
      'echo zero-read=$(head -c 3 /dev/zero | wc -c)',
    ].join('\n')];
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /kmsg-read=1/);
  assert.match(r.stderr, /\/dev\/kmsg.*Operation not permitted/);
  assert.match(r.stdout, /kmsg-write=0/);
  assert.match(r.stdout, /zero-read=3/);
});
