// Issue 15, security and correctness: each case run under runc 1.1.5 and tsrun side by side.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot } from '../helpers/harness.js';
import { errorTail, runBoth, runc13, skipRunc } from '../helpers/beside.js';

const skip = needsRoot || skipRunc;

for (const [dir, fs] of [['proc', 'proc'], ['sys', 'sysfs']] as const) {
  test(`a rootfs whose /${dir} is a symlink is refused, as runc does (${fs} is never mounted through it)`, { skip }, () => {
    const r = runBoth((c) => { c.process.args = ['cat', '/tmp/self/status']; }, {
      before: (bundle) => {
        const rootfs = join(bundle, 'rootfs');
        rmSync(join(rootfs, dir), { recursive: true, force: true });
        mkdirSync(join(rootfs, 'tmp'), { recursive: true });
        symlinkSync('/tmp', join(rootfs, dir));
      },
    });
    const want = `error mounting "${fs}" to rootfs at "/${dir}": filesystem "${fs}" must be mounted on ordinary directory`;
    assert.equal(r.runc.status, 1);
    assert.ok(errorTail(r.runc.stderr).includes(want), r.runc.stderr);
    assert.equal(r.tsrun.status, 1, r.tsrun.stdout);
    assert.ok(errorTail(r.tsrun.stderr).includes(want), r.tsrun.stderr);
    assert.equal(r.tsrun.stdout, '');
  });
}

test('a device in linux.devices gains no cgroup access that linux.resources.devices does not grant (devices.list as runc\'s)', { skip: skip || (existsSync('/sys/fs/cgroup/devices') ? false : 'no v1 devices hierarchy') }, () => {
  const r = runBoth((c) => {
    c.process.args = ['sh', '-c', 'echo tsrun-parity-kmsg-test 2>/dev/null >/dev/kmsg; echo write=$?; cat /sys/fs/cgroup/devices/devices.list'];
    c.linux.resources = { devices: [{ allow: false, access: 'rwm' }] };
    c.linux.devices = [{ path: '/dev/kmsg', type: 'c', major: 1, minor: 11, fileMode: 0o644, uid: 0, gid: 0 }];
  });
  assert.equal(r.runc.status, 0, r.runc.stderr);
  assert.match(r.runc.stdout, /^write=1\n/);
  assert.equal(r.tsrun.status, 0, r.tsrun.stderr);
  assert.equal(r.tsrun.stdout, r.runc.stdout);
});

test('a read-only /dev is filled first and made read-only last, as by runc', { skip }, () => {
  const r = runBoth((c) => {
    c.process.args = ['sh', '-c', 'grep " /dev " /proc/self/mountinfo | cut -d" " -f6; ls /dev | tr "\\n" " "; echo; touch /dev/x 2>/dev/null; echo touch=$?'];
    c.mounts.find((m: any) => m.destination === '/dev').options.push('ro');
  });
  assert.equal(r.runc.status, 0, r.runc.stderr);
  assert.match(r.runc.stdout, /^ro,nosuid\n/m);
  assert.match(r.runc.stdout, /touch=1/);
  assert.equal(r.tsrun.status, 0, r.tsrun.stderr);
  assert.equal(r.tsrun.stdout, r.runc.stdout);
});

test('a masked directory is a read-only tmpfs of 4k and one inode, as under runc 1.3 (runc 1.1.5: unlimited)', { skip }, () => {
  const r = runBoth((c) => {
    c.linux.maskedPaths = ['/proc/acpi', '/sys/firmware', '/proc/kcore'];
    c.process.args = ['sh', '-c', 'grep " /sys/firmware " /proc/self/mountinfo | sed "s/.* - //"'];
  });
  assert.equal(r.runc.status, 0, r.runc.stderr);
  assert.match(r.runc.stdout, /^tmpfs tmpfs ro/);
  assert.equal(r.tsrun.status, 0, r.tsrun.stderr);
  assert.match(r.tsrun.stdout, /^tmpfs tmpfs ro,.*size=4k,nr_inodes=1/);
});

test('ambient capabilities that are not inheritable (the default spec\'s) give runc 1.3\'s warning each (runc 1.1.5 drops them silently)', { skip }, () => {
  const r = runBoth((c) => {
    c.process.capabilities.ambient = ['CAP_KILL', 'CAP_NET_BIND_SERVICE'];
    delete c.process.capabilities.inheritable;
    c.process.args = ['grep', 'CapAmb', '/proc/self/status'];
  });
  assert.equal(r.runc.status, 0, r.runc.stderr);
  assert.equal(r.tsrun.status, 0, r.tsrun.stderr);
  assert.equal(r.tsrun.stdout, r.runc.stdout);
  const warnings = r.tsrun.stderr.trim().split('\n').map((l) => /level=warning msg="(.*)"$/.exec(l)?.[1]);
  assert.deepEqual(warnings, [
    'can\'t raise ambient capability CAP_KILL: operation not permitted',
    'can\'t raise ambient capability CAP_NET_BIND_SERVICE: operation not permitted',
  ]);
});

test('runc 1.3 beside tsrun: masked directories, ambient warnings (same set; runc 1.3 lists them in the spec\'s order, tsrun by number), /dev/mqueue in a user namespace', { skip }, (t) => {
  const r3 = runc13();
  if (!r3.bin) { t.skip(r3.skip); return; }
  const r = runBoth((c) => {
    delete c.process.capabilities.inheritable;
    c.process.args = ['sh', '-c', 'grep " /sys/firmware " /proc/self/mountinfo | sed "s/.* - //"; grep CapAmb /proc/self/status'];
  }, { runcBin: r3.bin });
  assert.equal(r.runc.status, 0, r.runc.stderr);
  assert.equal(r.tsrun.status, 0, r.tsrun.stderr);
  assert.equal(r.tsrun.stdout, r.runc.stdout);
  const warnings = (s: string) => s.trim().split('\n').filter((l) => l.includes('level=warning')).map((l) => l.replace(/^time="[^"]*" /, '')).sort();
  assert.deepEqual(warnings(r.tsrun.stderr), warnings(r.runc.stderr));
  assert.equal(warnings(r.runc.stderr).length, 3);
  const u = runBoth((c) => {
    c.linux.namespaces.push({ type: 'user' });
    c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    c.process.capabilities.inheritable = [...c.process.capabilities.ambient];
    c.process.args = ['stat', '-c', '%u %g', '/dev/mqueue'];
  }, { runcBin: r3.bin });
  assert.equal(u.runc.status, 0, u.runc.stderr);
  assert.equal(u.tsrun.status, 0, u.tsrun.stderr);
  assert.equal(u.tsrun.stdout, u.runc.stdout);
});
