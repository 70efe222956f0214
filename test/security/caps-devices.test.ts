// CVE-2022-29162 (inheritable capabilities), device nodes (mknod, /dev/mem), and writes to
// /proc/sys and sysfs. Each probe is shown to succeed against a weakened config first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot, runContainer } from '../helpers/harness.js';

function capMask(out: string, field: string): bigint {
  const m = new RegExp(`^${field}:\\s*([0-9a-f]+)`, 'm').exec(out);
  assert.ok(m, out);
  return BigInt('0x' + m[1]);
}

const CAPS = ['sh', '-c', 'grep -E "^Cap(Inh|Amb)" /proc/self/status'];

test('CVE-2022-29162: no inheritable or ambient capabilities unless the config asks (probe shown to see them)', { skip: needsRoot }, () => {
  const weak = runContainer((c) => { c.process.capabilities.inheritable = ['CAP_KILL']; c.process.args = CAPS; });
  assert.notEqual(capMask(weak.stdout, 'CapInh'), 0n, 'the probe sees inheritable capabilities');
  const r = runContainer((c) => {
    delete c.process.capabilities.inheritable;
    delete c.process.capabilities.ambient;
    for (const set of ['bounding', 'effective', 'permitted']) c.process.capabilities[set].push('CAP_SYS_ADMIN');
    c.process.args = CAPS;
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(capMask(r.stdout, 'CapInh'), 0n);
  assert.equal(capMask(r.stdout, 'CapAmb'), 0n);
});

// Each probe exits 0 when the attack worked. The values written are the ones read (no change).
const PROBES: Record<string, string> = {
  // This kernel has no /dev/mem driver (ENXIO even when allowed): /dev/kmsg stands in for it.
  'mknod and open a host char device (/dev/kmsg)': 'mknod /tmp/kmsg c 1 11 && exec 3>/tmp/kmsg',
  'mknod and read a block device': 'mknod /tmp/blk b 7 0 && head -c 1 /tmp/blk >/dev/null',
  'write /proc/sys': 'v=$(cat /proc/sys/vm/overcommit_ratio) && echo "$v" > /proc/sys/vm/overcommit_ratio',
  'open a sysfs file for writing': 'exec 3>>/sys/kernel/profiling',
};

function probeConfig(weak: boolean) {
  return (c: any) => {
    c.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['size=64k'] });
    // /dev/mem wants CAP_SYS_RAWIO too: only the device rules differ between weak and default.
    for (const set of ['bounding', 'effective', 'permitted']) c.process.capabilities[set].push('CAP_MKNOD', 'CAP_SYS_RAWIO');
    if (weak) {
      c.linux.resources.devices = [{ allow: true, access: 'rwm' }];
      c.linux.readonlyPaths = [];
      c.linux.maskedPaths = [];
      const sys = c.mounts.find((m: any) => m.destination === '/sys');
      sys.options = sys.options.filter((o: string) => o !== 'ro');
    }
  };
}

for (const [name, script] of Object.entries(PROBES)) {
  test(`${name}: works against a weakened config, refused by the default one (even with CAP_MKNOD)`, { skip: needsRoot }, () => {
    const weak = runContainer((c) => { probeConfig(true)(c); c.process.args = ['sh', '-c', script]; });
    assert.equal(weak.status, 0, `the probe must work when weakened: ${weak.stderr}`);
    const r = runContainer((c) => { probeConfig(false)(c); c.process.args = ['sh', '-c', script]; });
    assert.notEqual(r.status, 0, `${name} succeeded in a default container`);
  });
}

test('/dev/mem and block devices are not in the default /dev', { skip: needsRoot }, () => {
  const r = runContainer((c) => { c.process.args = ['sh', '-c', 'ls /dev; test ! -e /dev/mem && test ! -e /dev/kmem && test ! -e /dev/sda && test ! -e /dev/port'] });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
