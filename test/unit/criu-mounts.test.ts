// The external mounts given to CRIU on dump and restore (runc's addCriuDumpMount, addMaskPaths,
// addCriuRestoreMount), and runc's option checks shared by checkpoint and restore.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dumpExtMounts, restoreExtMounts } from '../../runtime/container/criu-mounts.js';
import { cgroupsMode, criuConfigFile, emptyNsMask } from '../../runtime/container/checkpoint.js';
import { criu } from '../../proto/index.js';

const spec: any = {
  mounts: [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/data/', type: 'bind', source: '/srv/data', options: ['rbind'] },
    { destination: '/etc/hosts', type: 'none', source: '/tmp/hosts', options: ['bind', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup' },
  ],
  linux: {
    namespaces: [{ type: 'mount' }],
    maskedPaths: ['/proc/kcore', '/proc/acpi'],
    devices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }],
  },
};
const cgroupPaths = { memory: '/sys/fs/cgroup/memory/c1', cpu: '/sys/fs/cgroup/cpu,cpuacct/c1', cpuacct: '/sys/fs/cgroup/cpu,cpuacct/c1', '': '/sys/fs/cgroup/unified/c1' };

test('dump: bind mounts, v1 hierarchies and devices by their mount point; masked files under /dev/null', () => {
  const out = dumpExtMounts({ spec, cgroupPaths, cgroupVersion: 1 }, (p) => p === '/proc/kcore');
  assert.deepEqual(out, [
    { key: '/data', val: '/data' },
    { key: '/etc/hosts', val: '/etc/hosts' },
    { key: '/sys/fs/cgroup/memory', val: '/sys/fs/cgroup/memory' },
    { key: '/sys/fs/cgroup/cpu,cpuacct', val: '/sys/fs/cgroup/cpu,cpuacct' },
    ...['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/fuse'].map((d) => ({ key: d, val: d })),
    { key: '/proc/kcore', val: '/dev/null' },
  ]);
});

test('restore: each key maps to its host source from the (new) bundle and the new cgroup', () => {
  const out = restoreExtMounts({ spec, cgroupPaths, cgroupVersion: 1 });
  assert.deepEqual(out.slice(0, 4), [
    { key: '/data', val: '/srv/data' },
    { key: '/etc/hosts', val: '/tmp/hosts' },
    { key: '/sys/fs/cgroup/memory', val: '/sys/fs/cgroup/memory/c1' },
    { key: '/sys/fs/cgroup/cpu,cpuacct', val: '/sys/fs/cgroup/cpu,cpuacct/c1' },
  ]);
  assert.deepEqual(out.at(-1), { key: '/dev/null', val: '/dev/null' });
});

test('a cgroup namespace makes the cgroup mount a real one (not external)', () => {
  const withNs = { ...spec, linux: { ...spec.linux, namespaces: [{ type: 'mount' }, { type: 'cgroup' }] } };
  const keys = dumpExtMounts({ spec: withNs, cgroupPaths, cgroupVersion: 1 }, () => false).map((m) => m.key);
  assert.ok(!keys.some((k) => k.startsWith('/sys/fs/cgroup')));
});

test('runc\'s option values: cgroups mode, empty namespaces, criu config file', () => {
  assert.equal(cgroupsMode(''), criu.criu_cg_mode.DEFAULT);
  assert.equal(cgroupsMode('strict'), criu.criu_cg_mode.STRICT);
  assert.throws(() => cgroupsMode('bogus'), /invalid manage-cgroups-mode value/);
  assert.equal(emptyNsMask([]), 0x40000000);
  assert.equal(emptyNsMask(['network']), 0x40000000);
  assert.throws(() => emptyNsMask(['pid']), /namespace "pid" is not supported/);
  assert.equal(criuConfigFile(undefined), '/etc/criu/runc.conf');
  assert.equal(criuConfigFile({ 'org.criu.config': '' }), undefined);
  assert.equal(criuConfigFile({ 'org.criu.config': '/x.conf' }), '/x.conf');
});
