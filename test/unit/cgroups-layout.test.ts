import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cleanPath, innerPath, layoutFromMountinfo, ownProcsFile, parseCgroupMounts, parseProcCgroup, v1Paths, v2Path,
} from '../../runtime/cgroups/layout.js';

// This machine's shape: v1 controllers, cgroup2 at /sys/fs/cgroup/unified (hybrid).
const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const HYBRID_SELF = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/83954b07e50df045f82ea9cd1d82cdaf
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`;

const V2 = `25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
37 32 0:31 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

// Classic systemd v1 host: cpu,cpuacct co-mounted behind a symlinked name, extra options.
const V1_COMOUNT = `24 18 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
27 24 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
30 24 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
31 24 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
32 24 0:29 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,devices
33 24 0:30 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,net_cls,net_prio
34 24 0:31 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,cpuset,clone_children
`;

test('hybrid mountinfo: v1 controllers plus the unified mount', () => {
  const l = layoutFromMountinfo(HYBRID);
  assert.equal(l.mode, 'hybrid');
  assert.equal(l.root, '/sys/fs/cgroup');
  assert.deepEqual(Object.keys(l.v1).sort(), ['blkio', 'cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'memory', 'name=systemd', 'pids']);
  assert.equal(l.v1.memory.mountpoint, '/sys/fs/cgroup/memory');
  assert.equal(l.unified?.mountpoint, '/sys/fs/cgroup/unified');
  assert.equal(l.v1.hugetlb, undefined);
});

test('pure v2 and plain v1 detection', () => {
  const v2 = layoutFromMountinfo(V2);
  assert.equal(v2.mode, 'v2');
  assert.equal(v2.unified?.mountpoint, '/sys/fs/cgroup');
  assert.deepEqual(v2.v1, {});
  const v1 = layoutFromMountinfo(V1_COMOUNT);
  assert.equal(v1.mode, 'v1');
  assert.equal(v1.unified, undefined);
  assert.equal(v1.v1.cpu.mountpoint, '/sys/fs/cgroup/cpu,cpuacct');
  assert.equal(v1.v1.cpuacct, v1.v1.cpu);
  assert.deepEqual(v1.v1.cpuset.controllers, ['cpuset']);
  assert.deepEqual(v1.v1['name=systemd'].controllers, ['name=systemd']);
  assert.throws(() => layoutFromMountinfo('25 1 8:1 / / rw - ext4 /dev/sda1 rw\n'), /no cgroup mount found/);
});

test('mountinfo escapes and mount roots', () => {
  const [m] = parseCgroupMounts('40 31 0:37 /docker/abc /my\\040cgroups/memory rw shared:3 master:1 - cgroup cgroup rw,memory\n');
  assert.equal(m.mountpoint, '/my cgroups/memory');
  assert.equal(m.root, '/docker/abc');
  assert.deepEqual(m.controllers, ['memory']);
});

test('a later mount at the same mountpoint hides the earlier one', () => {
  const text = `${V2}50 37 0:40 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n51 50 0:41 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n51 50 0:42 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n`;
  const l = layoutFromMountinfo(text);
  assert.equal(l.mode, 'v1');
  assert.deepEqual(Object.keys(l.v1).sort(), ['devices', 'memory']);
});

test('/proc/self/cgroup parsing', () => {
  const own = parseProcCgroup(HYBRID_SELF);
  assert.equal(own.memory, '/process_api/83954b07e50df045f82ea9cd1d82cdaf');
  assert.equal(own['name=systemd'], '/');
  assert.equal(own[''], '/');
  const co = parseProcCgroup('4:cpu,cpuacct:/user.slice\n0::/user.slice/session-1.scope\n');
  assert.equal(co.cpu, '/user.slice');
  assert.equal(co.cpuacct, '/user.slice');
  assert.equal(co[''], '/user.slice/session-1.scope');
  assert.throws(() => parseProcCgroup('bogus\n'), /at least two colons/);
});

test('cleanPath as runc: relative paths cannot climb out', () => {
  assert.equal(cleanPath(''), '');
  assert.equal(cleanPath('foo/bar/'), 'foo/bar');
  assert.equal(cleanPath('../../foo'), 'foo');
  assert.equal(cleanPath('a/../../b'), 'b');
  assert.equal(cleanPath('/docker//x/../y'), '/docker/y');
  assert.equal(cleanPath('/../x'), '/x');
  assert.equal(cleanPath('/'), '/');
  assert.equal(innerPath(undefined, 'ctr1'), 'ctr1');
  assert.equal(innerPath('', 'ctr1'), 'ctr1');
  assert.equal(innerPath('/docker/ctr1', 'ignored'), '/docker/ctr1');
});

test('v1 paths: absolute under each hierarchy root, relative under our own cgroup, unset = id', () => {
  const l = layoutFromMountinfo(HYBRID);
  const own = parseProcCgroup(HYBRID_SELF);
  const abs = v1Paths(l, '/docker/c1', own);
  assert.equal(abs.memory, '/sys/fs/cgroup/memory/docker/c1');
  assert.equal(abs.cpu, '/sys/fs/cgroup/cpu/docker/c1');
  assert.equal(abs['name=systemd'], '/sys/fs/cgroup/systemd/docker/c1');
  assert.equal(abs[''], '/sys/fs/cgroup/unified/docker/c1', 'hybrid: the unified dir is tracked as ""');

  const rel = v1Paths(l, 'foo/bar', own);
  assert.equal(rel.memory, '/sys/fs/cgroup/memory/process_api/83954b07e50df045f82ea9cd1d82cdaf/foo/bar');
  assert.equal(rel.pids, '/sys/fs/cgroup/pids/foo/bar');
  assert.equal(rel[''], '/sys/fs/cgroup/unified/foo/bar');

  const unset = v1Paths(l, innerPath(undefined, 'ctr'), own);
  assert.equal(unset.devices, '/sys/fs/cgroup/devices/ctr');
  assert.equal(unset.memory, '/sys/fs/cgroup/memory/process_api/83954b07e50df045f82ea9cd1d82cdaf/ctr');
  assert.deepEqual(Object.keys(unset), ['cpuset', 'devices', 'memory', 'cpu', 'cpuacct', 'pids', 'blkio', 'freezer', 'name=systemd', '']);
});

test('v1 co-mounted controllers share a dir; relative paths honour the mount root', () => {
  const l = layoutFromMountinfo(V1_COMOUNT);
  const own = parseProcCgroup('4:cpu,cpuacct:/user.slice\n3:memory:/user.slice\n2:devices:/user.slice\n1:name=systemd:/user.slice/s.scope\n5:cpuset:/\n6:net_cls,net_prio:/\n');
  const p = v1Paths(l, 'c', own);
  assert.equal(p.cpu, '/sys/fs/cgroup/cpu,cpuacct/user.slice/c');
  assert.equal(p.cpuacct, p.cpu);
  assert.equal(p.net_prio, '/sys/fs/cgroup/net_cls,net_prio/c');
  assert.equal(p['name=systemd'], '/sys/fs/cgroup/systemd/user.slice/s.scope/c');
  assert.equal(p[''], undefined);
  // Nested without a cgroup namespace: /proc/self/cgroup shows host paths, the mount shows /docker/x.
  const nested = layoutFromMountinfo('1 0 0:1 /docker/x /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n2 0 0:2 /docker/x /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n');
  const np = v1Paths(nested, 'c', parseProcCgroup('2:memory:/docker/x/sub\n1:devices:/docker/x\n'));
  assert.equal(np.memory, '/sys/fs/cgroup/memory/sub/c');
  assert.equal(np.devices, '/sys/fs/cgroup/devices/c');
});

test('v2 path: absolute under the mount, relative under the parent of our own cgroup', () => {
  const l = layoutFromMountinfo(V2);
  assert.equal(v2Path(l, '/machine/c1', { '': '/user.slice/session-1.scope' }), '/sys/fs/cgroup/machine/c1');
  assert.equal(v2Path(l, 'c1', { '': '/user.slice/session-1.scope' }), '/sys/fs/cgroup/user.slice/c1');
  assert.equal(v2Path(l, 'c1', { '': '/' }), '/sys/fs/cgroup/c1');
  assert.throws(() => v2Path(l, 'c1', {}), /cgroup path not found/);
});

test('own cgroup.procs for the migration head start: unified first, else pids or another v1 hierarchy, never memory', () => {
  const hybrid = layoutFromMountinfo(HYBRID, '/sys/fs/cgroup');
  assert.equal(ownProcsFile(hybrid, parseProcCgroup(HYBRID_SELF)), '/sys/fs/cgroup/unified/cgroup.procs');
  assert.equal(ownProcsFile(hybrid, parseProcCgroup('8:pids:/a/b\n4:memory:/m\n')), '/sys/fs/cgroup/pids/a/b/cgroup.procs');
  assert.equal(ownProcsFile(hybrid, parseProcCgroup('4:memory:/m\n2:cpuacct:/c\n')), '/sys/fs/cgroup/cpuacct/c/cgroup.procs');
  assert.equal(ownProcsFile(hybrid, parseProcCgroup('4:memory:/m\n')), undefined);
  const v2 = layoutFromMountinfo(V2, '/sys/fs/cgroup');
  assert.equal(ownProcsFile(v2, parseProcCgroup('0::/system.slice/containerd.service\n')), '/sys/fs/cgroup/system.slice/containerd.service/cgroup.procs');
});
