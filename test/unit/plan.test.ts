import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture } from '../helpers/fixture.js';
import { compileInitPlan, type InitPlanInput } from '../../runtime/plan/compile.js';
import { encodePlan } from '../../runtime/plan/encode.js';
import { parseMountOptions, MS, MOUNT_ATTR } from '../../runtime/plan/mount-options.js';
import { Tag, ChangeRoot, MountCreate, type PlanRecord } from '../../runtime/plan/records.js';
import { cpuListMask } from '../../runtime/plan/process.js';
import { containerHome } from '../../runtime/plan/rootfs-files.js';
import { resolveInRoot } from '../../runtime/plan/host.js';
import { memoryHost } from '../helpers/memory-host.js';
import { defaultSpec } from '../../runtime/spec/default-config.js';
import { realHostView } from '../../runtime/host-view.js';

const rootfs = mkdtempSync(join(tmpdir(), 'tsrun-plan-'));
mkdirSync(join(rootfs, 'etc'));
writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n');
process.on('exit', () => rmSync(rootfs, { recursive: true, force: true }));

function input(edit?: (spec: any) => void, extra: Partial<InitPlanInput> = {}): InitPlanInput {
  const spec: any = defaultSpec({ rootless: false });
  spec.process.terminal = false;
  edit?.(spec);
  return {
    host: realHostView, id: 'c1', spec, bundle: '/b', rootfs, execFifo: '/run/tsrun/c1/exec.fifo', cgroupProcs: ['/sys/fs/cgroup/memory/c1/cgroup.procs'],
    cgroups: { version: 1, paths: { memory: '/sys/fs/cgroup/memory/c1', cpu: '/sys/fs/cgroup/cpu/c1' } },
    noPivot: false, noNewKeyring: false, preserveFds: 0, foreground: false, hookBarrier: false, ...extra,
  };
}

const tags = (plan: PlanRecord[]) => plan.map((r) => r.tag);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const find = (plan: PlanRecord[], tag: number): any[] => plan.filter((r) => r.tag === tag);

test('default spec: namespaces cloned, cgroup joined, root pivoted, caps and rlimits compiled', () => {
  const plan = compileInitPlan(input());
  assert.equal(plan[0].tag, Tag.MODE);
  const clone = find(plan, Tag.NS_CLONE)[0];
  // pid, network, ipc, uts, mount
  assert.equal(clone.flags, 0x20000000 | 0x40000000 | 0x08000000 | 0x04000000 | 0x00020000);
  assert.deepEqual(find(plan, Tag.CGROUP_PROCS).map((r) => r.path), ['/sys/fs/cgroup/memory/c1/cgroup.procs']);
  assert.equal(find(plan, Tag.CHANGE_ROOT)[0].how, ChangeRoot.PivotRoot);
  const caps = find(plan, Tag.CAPS)[0];
  // runc's default: CAP_AUDIT_WRITE(29), CAP_KILL(5), CAP_NET_BIND_SERVICE(10)
  assert.equal(caps.bounding, (1n << 29n) | (1n << 5n) | (1n << 10n));
  assert.equal(caps.ambient, caps.bounding);
  const nofile = find(plan, Tag.RLIMIT)[0];
  assert.deepEqual([nofile.resource, nofile.soft, nofile.hard], [7, 1024n, 1024n]);
  assert.deepEqual(find(plan, Tag.ENV).map((r) => r.value).filter((v) => v.startsWith('HOME=')), ['HOME=/root']);
  assert.deepEqual(find(plan, Tag.ARG).map((r) => r.value), ['sh']);
  assert.ok(find(plan, Tag.MASK_PATH).some((r) => r.path === '/proc/kcore'));
  assert.ok(find(plan, Tag.READONLY_PATH).some((r) => r.path === '/proc/sys'));
  assert.equal(find(plan, Tag.ROOT_READONLY).length, 1);
  assert.equal(find(plan, Tag.SESSION_KEYRING)[0].name, 'c1');
  // Every mount comes before the root change; masking after it.
  const order = tags(plan);
  assert.ok(order.lastIndexOf(Tag.MOUNT) < order.indexOf(Tag.CHANGE_ROOT));
  assert.ok(order.indexOf(Tag.MASK_PATH) > order.indexOf(Tag.CHANGE_ROOT));
  assert.ok(encodePlan(plan).subarray(0, 8).equals(Buffer.from('TSRNPLAN')));
});

test('cgroup v1 mount becomes a tmpfs with one bind per hierarchy, read-only last', () => {
  const plan = compileInitPlan(input());
  const mounts = find(plan, Tag.MOUNT).filter((m) => m.target.startsWith('/sys/fs/cgroup'));
  assert.equal(mounts[0].fstype, 'tmpfs');
  assert.equal(mounts[0].flags & MS.RDONLY, 0n);
  assert.deepEqual(mounts.slice(1, 3).map((m) => [m.source, m.target]), [
    ['/sys/fs/cgroup/memory/c1', '/sys/fs/cgroup/memory'], ['/sys/fs/cgroup/cpu/c1', '/sys/fs/cgroup/cpu'],
  ]);
  const last = mounts[mounts.length - 1];
  assert.ok(last.flags & MS.REMOUNT && last.flags & MS.RDONLY);
});

test('cgroup v2 mount in a cgroup namespace is a fresh cgroup2 mount', () => {
  const plan = compileInitPlan(input((s) => { s.linux.namespaces.push({ type: 'cgroup' }); }, { cgroups: { version: 2, paths: { '': '/sys/fs/cgroup/c1' } } }));
  const m = find(plan, Tag.MOUNT).filter((r) => r.target === '/sys/fs/cgroup');
  assert.deepEqual(m.map((r) => r.fstype), ['cgroup2']);
  assert.equal(find(plan, Tag.NS_UNSHARE)[0].flags, 0x02000000);
});

test('user namespace: maps written by the executor, devices bound instead of made', () => {
  const plan = compileInitPlan(input((s) => {
    s.linux.namespaces.push({ type: 'user' });
    s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  }));
  assert.equal(find(plan, Tag.UID_MAP)[0].content, '0 100000 65536\n');
  assert.equal(find(plan, Tag.MKNOD).length, 0);
  assert.ok(find(plan, Tag.BIND_DEVICE).some((d) => d.path === '/dev/null'));
  // sysfs can't be mounted without owning the network namespace... but here netns is new, so it is a real sysfs
  assert.ok(find(plan, Tag.MOUNT).some((m) => m.fstype === 'sysfs'));
});

test('joined namespaces come first, user before mount', () => {
  const plan = compileInitPlan(input((s) => {
    s.linux.namespaces = [{ type: 'mount', path: '/proc/1/ns/mnt' }, { type: 'user', path: '/proc/1/ns/user' }, { type: 'pid' }];
    delete s.hostname;
  }));
  assert.deepEqual(find(plan, Tag.NS_JOIN).map((j) => j.path), ['/proc/1/ns/user', '/proc/1/ns/mnt']);
});

// The rules of a spec (hostname without UTS, mappings, sysctls, rlimit order, duplicated
// namespaces…) are checked once, by spec/semantic.ts (spec-semantic.test.ts); the compiler only
// refuses what it cannot make a plan of.
test('the compiler refuses what it cannot plan, with a clear error', () => {
  assert.throws(() => compileInitPlan(input((s) => { s.process.capabilities.bounding.push('CAP_BOGUS'); })), /unknown capability "CAP_BOGUS"/);
  assert.throws(() => compileInitPlan(input((s) => { s.process.rlimits.push({ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }); })), /unknown rlimit type "RLIMIT_BOGUS"/);
  assert.throws(() => compileInitPlan(input((s) => { s.linux.seccomp = { defaultAction: 'SCMP_ACT_NOTIFY', listenerPath: '/x' }; })), /SCMP_ACT_NOTIFY cannot be used as default action/);
  assert.throws(() => compileInitPlan(input((s) => { s.linux.namespaces.push({ type: 'bogus' }); })), /namespace type "bogus" is not supported/);
  assert.throws(() => compileInitPlan(input((s) => {
    s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'mount'); s.mounts = []; s.linux.maskedPaths = []; s.linux.readonlyPaths = []; s.linux.rootfsPropagation = 'private';
  })), /rootfsPropagation requires a mount namespace/);
});

test('a joined user namespace given with maps: the maps go to the executor, which checks them against the namespace', () => {
  const plan = compileInitPlan(input((s) => {
    s.linux.namespaces.push({ type: 'user', path: '/proc/1/ns/user' });
    s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
  }));
  assert.deepEqual(find(plan, Tag.NS_JOIN).filter((j) => j.path === '/proc/1/ns/user').length, 1);
  assert.deepEqual(find(plan, Tag.UID_MAP).map((r) => r.content), ['0 100000 65536\n']);
  assert.deepEqual(find(plan, Tag.GID_MAP).map((r) => r.content), ['0 200000 65536\n']);
  assert.equal(find(plan, Tag.NS_CLONE).some((r) => r.flags & 0x10000000), false);
});

test('sysctl names: sysctl(8)\'s slashed spelling becomes the plan\'s dotted one', () => {
  const plan = compileInitPlan(input((s) => { s.linux.namespaces.push({ type: 'network' }); s.linux.sysctl = { 'net/ipv4/ip_forward': '1', 'net.core.somaxconn': '100' }; }));
  assert.deepEqual(find(plan, Tag.SYSCTL).map((r) => [r.key, r.value]), [['net.ipv4.ip_forward', '1'], ['net.core.somaxconn', '100']]);
  assert.throws(() => compileInitPlan(input((s) => { s.linux.namespaces.push({ type: 'network' }); s.linux.sysctl = { 'net/ipv4/conf/eth0.100/forwarding': '1' }; })), /slashed name with a dot/);
});

test('no-pivot and no-new-keyring', () => {
  const plan = compileInitPlan(input(undefined, { noPivot: true, noNewKeyring: true }));
  assert.equal(find(plan, Tag.CHANGE_ROOT)[0].how, ChangeRoot.MoveAndChroot);
  assert.equal(find(plan, Tag.SESSION_KEYRING).length, 0);
});

test('bind mounts: host source resolved against the bundle, read-only binds remounted', (t) => {
  const f = fixture(t);
  const bundle = f.dir('tsrun-plan-bundle-');
  writeFileSync(join(bundle, 'file'), 'x');
  const plan = compileInitPlan(input((s) => {
    s.mounts.push({ destination: '/data', type: 'bind', source: 'file', options: ['rbind', 'ro', 'rprivate'] });
  }, { bundle }));
  const m = find(plan, Tag.MOUNT).find((r) => r.target === '/data')!;
  assert.equal(m.source, join(bundle, 'file'));
  assert.equal(m.create, 2);
  assert.equal(m.options & 1, 1);
  assert.equal(m.options & 2, 2);
  assert.equal(m.propagation, MS.PRIVATE | MS.REC);
  assert.throws(() => compileInitPlan(input((s) => { s.mounts.push({ destination: '/x', type: 'bind', source: '/nonexistent-tsrun', options: ['bind'] }); })), /no such file or directory/);
});

test('mount options: flags, clears, propagation, recursive attributes, data', () => {
  const p = parseMountOptions(['nosuid', 'noexec', 'nodev', 'ro', 'rw', 'rshared', 'rro', 'rnoatime', 'mode=755', 'size=65536k']);
  assert.equal(p.flags, MS.NOSUID | MS.NOEXEC | MS.NODEV);
  assert.deepEqual(p.propagation, [MS.SHARED | MS.REC]);
  assert.equal(p.attrSet, MOUNT_ATTR.RDONLY | MOUNT_ATTR.NOATIME);
  assert.equal(p.attrClear, MOUNT_ATTR.ATIME_MASK);
  assert.deepEqual(p.data, ['mode=755', 'size=65536k']);
});

test('cpu lists become affinity masks', () => {
  const m = cpuListMask('0-2,9');
  assert.equal(m[0], 0b111);
  assert.equal(m[1], 0b10);
  assert.throws(() => cpuListMask('3-1'), /invalid CPU range/);
});

test('paths in the rootfs never resolve outside it (a host described in memory)', () => {
  const host = memoryHost({
    '/r': { dir: true }, '/r/etc': { dir: true },
    '/r/etc/passwd': { file: 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n' },
    '/r/escape': { link: '/etc' }, '/r/etc/dotdot': { link: '../../../../etc/passwd' },
    '/etc': { dir: true }, '/etc/passwd': { file: 'host:x:4242:0::/host-home:/bin/sh\n' },
  });
  assert.equal(resolveInRoot(host, '/r', '/escape/passwd'), '/etc/passwd');
  assert.equal(resolveInRoot(host, '/r', '/etc/dotdot'), '/etc/passwd');
  assert.equal(resolveInRoot(host, '/r', '/missing/../etc/x'), '/etc/x');
  assert.equal(containerHome(host, '/r', 1000), '/home/alice');
  // The host's passwd names 4242: it must not be what the rootfs's symlinks lead to.
  assert.equal(containerHome(host, '/r', 4242), '/');
  const looped = memoryHost({ '/r': { dir: true }, '/r/etc': { link: '/etc' }, '/r/a': { link: '/b' }, '/r/b': { link: '/a' } });
  assert.throws(() => resolveInRoot(looped, '/r', '/a/x'), /too many levels of symbolic links/);
  assert.equal(containerHome(looped, '/r', 0), '/');
});

test('the compiler asks the host view, not the disk: a bind source\'s kind, /proc/kcore, the LSMs', () => {
  const host = memoryHost({ '/src-dir': { dir: true }, '/src-file': { file: 'x' }, '/proc/kcore': { file: '' }, '/sys/fs/selinux/enforce': { file: '1' } });
  const plan = compileInitPlan({
    ...input((spec) => {
      spec.mounts.push({ destination: '/d', type: 'bind', source: '/src-dir', options: ['bind'] }, { destination: '/f', type: 'bind', source: '/src-file', options: ['bind'] });
      spec.process.selinuxLabel = 'system_u:system_r:container_t:s0';
    }),
    host, rootfs: '/nonexistent-rootfs',
  });
  const binds = plan.filter((r): r is Extract<PlanRecord, { tag: typeof Tag.MOUNT }> => r.tag === Tag.MOUNT && (r.source === '/src-dir' || r.source === '/src-file'));
  assert.deepEqual(binds.map((r) => [r.source, r.create]), [['/src-dir', MountCreate.Directory], ['/src-file', MountCreate.File]]);
  assert.ok(plan.some((r) => r.tag === Tag.SYMLINK && r.path === '/dev/core'), '/proc/kcore exists on this host');
  assert.ok(!compileInitPlan({ ...input(), host: memoryHost({}), rootfs: '/x' }).some((r) => r.tag === Tag.SYMLINK && r.path === '/dev/core'));
  assert.throws(() => compileInitPlan({ ...input((spec) => { spec.mounts.push({ destination: '/d', type: 'bind', source: '/gone', options: ['bind'] }); }), host, rootfs: '/x' }), /stat \/gone: no such file or directory/);
  assert.throws(() => compileInitPlan({ ...input((spec) => { spec.process.apparmorProfile = 'p'; }), host, rootfs: '/x' }), /apparmor is not enabled on this host/);
});

test('createContainer hooks come right before the root change, startContainer hooks last, with runc\'s state', () => {
  const plan = compileInitPlan(input((s) => {
    s.annotations = { a: 'b' };
    s.hooks = {
      createContainer: [{ path: '/h/cc', args: ['cc', '-x'], env: ['K=V'], timeout: 3 }, { path: '/h/cc2' }],
      startContainer: [{ path: '/h/sc' }],
    };
  }, { hookBarrier: true }));
  const t = tags(plan);
  const change = t.indexOf(Tag.CHANGE_ROOT);
  assert.deepEqual(t.slice(change - 3, change), [Tag.HOOK_BARRIER, Tag.HOOK_CREATE_CONTAINER, Tag.HOOK_CREATE_CONTAINER]);
  assert.equal(t[t.length - 1], Tag.HOOK_START_CONTAINER);
  const [cc, cc2] = find(plan, Tag.HOOK_CREATE_CONTAINER);
  assert.deepEqual({ ...cc, stateHead: undefined, stateTail: undefined }, { tag: Tag.HOOK_CREATE_CONTAINER, index: 0, timeout: 3, path: '/h/cc', args: ['cc', '-x'], env: ['K=V'], stateHead: undefined, stateTail: undefined });
  // Go's exec.Cmd with no args runs the path as argv[0]; no env means the container's.
  assert.deepEqual([cc2.index, cc2.args, cc2.env, cc2.timeout], [1, ['/h/cc2'], undefined, 0]);
  assert.deepEqual(JSON.parse(cc.stateHead + '42' + cc.stateTail), { ociVersion: '1.0.2-dev', id: 'c1', status: 'creating', pid: 42, bundle: '/b', annotations: { a: 'b' } });
  const sc = find(plan, Tag.HOOK_START_CONTAINER)[0];
  assert.equal(sc.stateHead + '1' + sc.stateTail, '{"ociVersion":"1.0.2-dev","id":"c1","status":"created","pid":1,"bundle":"/b","annotations":{"a":"b"}}');
  encodePlan(plan);
});

test('cgroup v1 binds follow the host\'s mount order, leave out the unified hierarchy and link co-mounted names', () => {
  const plan = compileInitPlan(input(undefined, {
    cgroups: {
      version: 1,
      paths: { cpu: '/sys/fs/cgroup/cpu,cpuacct/c1', cpuacct: '/sys/fs/cgroup/cpu,cpuacct/c1', memory: '/sys/fs/cgroup/memory/c1', pids: '/sys/fs/cgroup/pids/c1', '': '/sys/fs/cgroup/unified/c1' },
      mountOrder: ['pids', 'cpu,cpuacct', 'memory'],
    },
  }));
  const binds = find(plan, Tag.MOUNT).filter((m) => m.target.startsWith('/sys/fs/cgroup/')).map((m) => m.target);
  assert.deepEqual(binds.filter((t, i) => binds.indexOf(t) === i), ['/sys/fs/cgroup/pids', '/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/memory']);
  assert.deepEqual(find(plan, Tag.SYMLINK).filter((r) => r.path.startsWith('/sys/fs/cgroup/')).map((r) => [r.target, r.path]),
    [['cpu,cpuacct', '/sys/fs/cgroup/cpu'], ['cpu,cpuacct', '/sys/fs/cgroup/cpuacct']]);
});
