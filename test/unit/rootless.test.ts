import { test } from 'node:test';
import assert from 'node:assert/strict';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture } from '../helpers/fixture.js';
import { bindSysfsWhereUnmountable, honorXdgRuntimeDir, idMapTools, parseRootlessFlag, rootlessCgroups, rootlessSpec, runningInUserNS, subordinateRanges } from '../../runtime/rootless.js';
import { defaultSpec } from '../../runtime/spec/default-config.js';

test('--rootless takes auto and Go\'s boolean spellings, with strconv\'s error otherwise', () => {
  assert.equal(parseRootlessFlag('auto'), null);
  assert.equal(parseRootlessFlag('AUTO'), null);
  assert.equal(parseRootlessFlag(''), null);
  assert.equal(parseRootlessFlag('true'), true);
  assert.equal(parseRootlessFlag('1'), true);
  assert.equal(parseRootlessFlag('F'), false);
  assert.throws(() => parseRootlessFlag('yes'), /^TsrunError: strconv.ParseBool: parsing "yes": invalid syntax$/);
  assert.equal(rootlessCgroups('auto', false, 1000), true);
  assert.equal(rootlessCgroups('false', false, 1000), false);
  assert.equal(rootlessCgroups('true', false, 0), true);
});

test('user namespace detection reads the uid map as runc does', () => {
  assert.equal(runningInUserNS('         0          0 4294967295\n'), false);
  assert.equal(runningInUserNS('         0       1000          1\n'), true);
  assert.equal(runningInUserNS('0 0 4294967295\n1 1 1\n'), true);
});

test('XDG_RUNTIME_DIR is honoured for a plain user only (root in the initial namespace keeps /run)', () => {
  assert.equal(honorXdgRuntimeDir({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000), true);
  assert.equal(honorXdgRuntimeDir({}, 1000), false);
});

const euid = process.geteuid!();
const egid = process.getegid!();

test('own-id maps are written directly, setgroups denied exactly for the egid-as-root gid map', () => {
  const t = idMapTools([{ containerID: 0, hostID: euid, size: 1 }], [{ containerID: 0, hostID: egid, size: 1 }], { path: '/nonexistent' });
  assert.deepEqual(t, { setgroupsDeny: true });
});

test('more than the own id needs the helpers and the user\'s subordinate ranges', (t) => {
  const f = fixture(t);
  const dir = f.dir('tsrun-rootless-unit-');
  for (const tool of ['newuidmap', 'newgidmap']) symlinkSync('/bin/true', join(dir, tool));
  writeFileSync(join(dir, 'subuid'), 'someone:100000:65536\n');
  writeFileSync(join(dir, 'subgid'), '');
  const uids = [{ containerID: 0, hostID: euid, size: 1 }, { containerID: 1, hostID: 100000, size: 65536 }];
  const gids = [{ containerID: 0, hostID: egid, size: 1 }];
  const opts = { user: 'someone', subuid: join(dir, 'subuid'), subgid: join(dir, 'subgid'), path: dir };
  assert.deepEqual(idMapTools(uids, gids, opts), { setgroupsDeny: true, newuidmap: join(dir, 'newuidmap') });
  assert.throws(() => idMapTools(uids, gids, { ...opts, path: '/nonexistent' }), /which takes newuidmap \(package uidmap\), and newuidmap is not in PATH/);
  assert.throws(() => idMapTools([{ containerID: 0, hostID: 200000, size: 2 }], gids, opts), /uid mapping 0:200000:2 is outside the user's own uid and someone's ranges in .*subuid \(100000-165535\)/);
  assert.throws(() => idMapTools(uids, [{ containerID: 0, hostID: 100000, size: 5 }], opts), /gid mapping 0:100000:5 needs a range of someone in .*subgid, and there is none/);
  assert.deepEqual(subordinateRanges(join(dir, 'subuid'), 'someone', 5), [{ start: 100000, count: 65536 }]);
});

test('runc\'s rootless checks, and devpts\'s unmapped gid= dropped', () => {
  const spec = defaultSpec({ rootless: true });
  assert.throws(() => rootlessSpec({ ...spec, linux: { ...spec.linux, namespaces: [] } }), /^TsrunError: rootless container requires user namespaces$/);
  assert.throws(() => rootlessSpec({ ...spec, linux: { ...spec.linux, uidMappings: [] } }), /requires at least one UID mapping/);
  assert.throws(() => rootlessSpec({ ...spec, process: { ...spec.process!, user: { uid: 0, gid: 0, additionalGids: [5] } } }), /cannot set any additional groups in a rootless container/);
  const withGid = { ...spec, mounts: spec.mounts!.map((m) => m.destination === '/dev/pts' ? { ...m, options: [...m.options!, 'gid=5'] } : m) };
  const out = rootlessSpec(withGid);
  assert.deepEqual(out.dropped, ['/dev/pts: gid=5']);
  assert.equal(out.spec.mounts!.find((m) => m.destination === '/dev/pts')!.options!.includes('gid=5'), false);
  const shm = { ...spec, mounts: spec.mounts!.map((m) => m.destination === '/dev/shm' ? { ...m, options: [...m.options!, 'uid=7'] } : m) };
  assert.throws(() => rootlessSpec(shm), /^TsrunError: cannot specify uid= mount options for unmapped uid in rootless containers$/);
});

test('sysfs is bound from the host where the container cannot mount it', () => {
  const spec = defaultSpec({ rootless: false });
  const sysOf = (s: typeof spec) => s.mounts!.find((m) => m.destination === '/sys');
  assert.equal(sysOf(bindSysfsWhereUnmountable(spec, false))!.type, 'sysfs');
  const noNet = { ...spec, linux: { ...spec.linux, namespaces: [...spec.linux!.namespaces!.filter((n) => n.type !== 'network'), { type: 'user' as const }] } };
  assert.deepEqual(sysOf(bindSysfsWhereUnmountable(noNet, false)), { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] });
  assert.equal(sysOf(bindSysfsWhereUnmountable(spec, true))!.type, 'sysfs');
});
