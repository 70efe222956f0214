// Semantic checks of config.json (runtime/spec/semantic.ts). Messages that runc 1.1.5 also prints
// were taken from running runc 1.1.5 on the same configs; the others name the JSON path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsrunError } from '../../runtime/errors.js';
import { defaultSpec } from '../../runtime/spec/default-config.js';
import { loadBundleSpec, type LoadOptions } from '../../runtime/spec/load.js';
import { checkSpec } from '../../runtime/spec/semantic.js';
import { CAPABILITY_NUMBERS, RLIMIT_NUMBERS } from '../../runtime/spec/tables.js';

const tmp = mkdtempSync(join(tmpdir(), 'tsrun-spec-semantic-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
let bundles = 0;

function runcSpec(): any {
  const spec: any = defaultSpec({ rootless: false });
  spec.process.terminal = false;
  return spec;
}

/** Writes a bundle (rootfs/ + config.json from runc's default spec after `edit`) and loads it. */
function load(edit: (spec: any) => void = () => {}, opts: LoadOptions = {}) {
  const dir = join(tmp, `b${bundles++}`);
  mkdirSync(join(dir, 'rootfs'), { recursive: true });
  const spec = runcSpec();
  edit(spec);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
  return loadBundleSpec(dir, opts);
}

function rejects(edit: (spec: any) => void, message: string, opts: LoadOptions = {}): void {
  assert.throws(() => load(edit, opts), (err: unknown) => {
    assert.ok(err instanceof TsrunError, `expected TsrunError, got ${String(err)}`);
    assert.equal(err.exitCode, 1);
    assert.equal(err.message, message);
    return true;
  });
}

// ---------------------------------------------------------------- process (runc: validateProcessSpec)

test('process must be present for create, unless told otherwise', () => {
  rejects((s) => { delete s.process; }, 'process property must not be empty');
  assert.doesNotThrow(() => load((s) => { delete s.process; }, { requireProcess: false }));
});

test('cwd and args', () => {
  rejects((s) => { s.process.cwd = ''; }, 'Cwd property must not be empty');
  rejects((s) => { s.process.cwd = 'rel'; }, 'Cwd must be an absolute path');
  rejects((s) => { s.process.args = []; }, 'args must not be empty');
  rejects((s) => { delete s.process.args; }, 'args must not be empty');
});

test('environment entries need NAME=value', () => {
  rejects((s) => { s.process.env = ['NOEQUALS']; }, 'invalid environment variable: "NOEQUALS"');
  rejects((s) => { s.process.env = ['=x']; }, 'environment variable name can\'t be empty: "=x"');
  assert.doesNotThrow(() => load((s) => { s.process.env = ['EMPTY=', 'A=b=c']; }));
});

test('rlimits: known types only, no duplicates, soft <= hard', () => {
  rejects((s) => { s.process.rlimits.push({ type: 'RLIMIT_FOO', hard: 1, soft: 1 }); }, 'wrong rlimit value: RLIMIT_FOO');
  rejects((s) => { s.process.rlimits.push({ type: 'rlimit_core', hard: 1, soft: 1 }); }, 'wrong rlimit value: rlimit_core');
  rejects((s) => { s.process.rlimits.push({ type: 'RLIMIT_NOFILE', hard: 1, soft: 1 }); },
    'config.json: /process/rlimits/1/type: duplicate rlimit type "RLIMIT_NOFILE"');
  rejects((s) => { s.process.rlimits.push({ type: 'RLIMIT_CORE', hard: 1, soft: 2 }); },
    'config.json: /process/rlimits/1: RLIMIT_CORE: soft limit 2 is greater than hard limit 1');
  assert.doesNotThrow(() => load((s) => {
    s.process.rlimits = Object.keys(RLIMIT_NUMBERS).map((type) => ({ type, hard: 10, soft: 5 }));
  }));
});

test('capabilities: every CAP_* of kernel 6.x is known, others are rejected by name', () => {
  assert.doesNotThrow(() => load((s) => {
    s.process.capabilities.bounding = Object.keys(CAPABILITY_NUMBERS);
    s.process.capabilities.inheritable = ['CAP_BPF', 'CAP_PERFMON', 'CAP_CHECKPOINT_RESTORE'];
  }));
  rejects((s) => { s.process.capabilities.effective.push('CAP_FOO'); },
    'config.json: /process/capabilities/effective/3: unknown capability "CAP_FOO"');
  rejects((s) => { s.process.capabilities.ambient = ['cap_kill']; },
    'config.json: /process/capabilities/ambient/0: unknown capability "cap_kill"');
  rejects((s) => { s.process.capabilities.bounding.push('constructor'); },
    'config.json: /process/capabilities/bounding/3: unknown capability "constructor"');
});

test('capabilities: with unknownCapabilities "warn", unknown names are dropped with runc\'s warning', () => {
  const r = load((s) => {
    s.process.capabilities.bounding.push('CAP_FOO', 'KILL');
    s.process.capabilities.permitted.push('CAP_FOO');
  }, { unknownCapabilities: 'warn' });
  assert.deepEqual(r.warnings, ['ignoring unknown or unavailable capabilities: [CAP_FOO KILL]']);
  assert.deepEqual(r.spec.process?.capabilities?.bounding, ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']);
  assert.deepEqual(r.spec.process?.capabilities?.permitted, ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']);
});

// ---------------------------------------------------------------- root filesystem

test('root: required, resolved against the bundle, must be a directory and not a symlink', () => {
  rejects((s) => { delete s.root; }, 'root must be specified');
  const r = load((s) => { s.root.path = './rootfs/'; });
  assert.equal(r.rootfs, join(r.bundle, 'rootfs'));
  const dir = join(tmp, 'abs-rootfs');
  mkdirSync(dir);
  assert.equal(load((s) => { s.root.path = dir; }).rootfs, dir);

  assert.throws(() => load((s) => { s.root.path = 'nope'; }), (err: Error) => {
    assert.match(err.message, /^invalid rootfs: stat \/.*\/nope: no such file or directory$/);
    return true;
  });
  const file = join(tmp, 'rootfs-file');
  writeFileSync(file, '');
  rejects((s) => { s.root.path = file; }, `invalid rootfs: ${file}: not a directory`);
  const link = join(tmp, 'rootfs-link');
  symlinkSync(dir, link);
  rejects((s) => { s.root.path = link; }, 'invalid rootfs: not an absolute path, or a symlink');
});

// ---------------------------------------------------------------- namespaces and id mappings

test('namespaces: no duplicates (runc\'s message), paths absolute, all 8 types', () => {
  rejects((s) => { s.linux.namespaces.push({ type: 'pid' }); }, 'malformed spec file: duplicated ns {"pid" ""}');
  rejects((s) => { s.linux.namespaces.push({ type: 'ipc', path: '/proc/1/ns/ipc' }); }, 'malformed spec file: duplicated ns {"ipc" "/proc/1/ns/ipc"}');
  rejects((s) => { s.linux.namespaces[0].path = 'proc/1/ns/pid'; }, 'config.json: /linux/namespaces/0/path: namespace path "proc/1/ns/pid" must be absolute');
  assert.doesNotThrow(() => load((s) => {
    s.linux.namespaces.push({ type: 'cgroup' }, { type: 'time' }, { type: 'user' });
    s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  }));
});

test('user namespace and id mappings go together', () => {
  rejects((s) => { s.linux.namespaces.push({ type: 'user' }); }, 'User namespaces enabled, but no uid mappings found.');
  rejects((s) => {
    s.linux.namespaces.push({ type: 'user', path: '/proc/1/ns/user' });
  }, 'User namespaces enabled, but no uid mappings found.');
  rejects((s) => {
    s.linux.namespaces.push({ type: 'user' });
    s.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 10 }];
  }, 'User namespaces enabled, but no gid mappings found.');
  rejects((s) => { s.linux.gidMappings = [{ containerID: 0, hostID: 1000, size: 10 }]; },
    "User namespace mappings specified, but USER namespace isn't enabled in the config");
  assert.doesNotThrow(() => {
    const dir = join(tmp, 'rootless');
    mkdirSync(join(dir, 'rootfs'), { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(defaultSpec({ rootless: true })));
    loadBundleSpec(dir);
  });
});

test('time offsets need a new time namespace and real clocks', () => {
  const withTime = (s: any) => { s.linux.namespaces.push({ type: 'time' }); };
  assert.doesNotThrow(() => load((s) => {
    withTime(s);
    s.linux.timeOffsets = { monotonic: { secs: 172800, nanosecs: 0 }, boottime: { secs: -5 } };
  }));
  rejects((s) => { s.linux.timeOffsets = { monotonic: { secs: 1 } }; },
    "time namespace offsets specified, but time namespace isn't enabled in the config");
  rejects((s) => {
    s.linux.namespaces.push({ type: 'time', path: '/proc/1/ns/time' });
    s.linux.timeOffsets = { boottime: { secs: 1 } };
  }, 'time namespace offsets cannot be set when joining an existing time namespace');
  rejects((s) => { withTime(s); s.linux.timeOffsets = { realtime: { secs: 1 } }; },
    'config.json: /linux/timeOffsets/realtime: unknown clock "realtime": time namespaces offset "monotonic" and "boottime" only');
  rejects((s) => { withTime(s); s.linux.timeOffsets = { monotonic: { nanosecs: 1000000000 } }; },
    'config.json: /linux/timeOffsets/monotonic/nanosecs: must be less than 1000000000, got 1000000000');
});

// ---------------------------------------------------------------- hostname, masked paths

test('hostname and domainname need a UTS namespace', () => {
  const noUts = (s: any) => { s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'uts'); };
  rejects(noUts, 'unable to set hostname without a private UTS namespace');
  rejects((s) => { noUts(s); delete s.hostname; s.domainname = 'example.org'; }, 'unable to set domainname without a private UTS namespace');
  assert.doesNotThrow(() => load((s) => { noUts(s); delete s.hostname; }));
  rejects((s) => { delete s.linux; }, 'unable to set hostname without a private UTS namespace');
});

test('masked and read-only paths need a mount namespace', () => {
  rejects((s) => { s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'mount'); },
    'unable to restrict sys entries without a private MNT namespace');
});

// ---------------------------------------------------------------- sysctl (runc's rules)

test('sysctl: only namespaced ones, in namespaces of the container\'s own', () => {
  const ok = (sysctl: Record<string, string>, edit: (s: any) => void = () => {}) =>
    assert.doesNotThrow(() => load((s) => { s.linux.sysctl = sysctl; edit(s); }), JSON.stringify(sysctl));
  const no = (sysctl: Record<string, string>, message: string, edit: (s: any) => void = () => {}) =>
    rejects((s) => { s.linux.sysctl = sysctl; edit(s); }, message);
  const without = (type: string) => (s: any) => { s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== type); };

  ok({ 'net.ipv4.ip_forward': '1', 'net.ipv4.ping_group_range': '0 2147483647', 'net/ipv4/conf/eth0.100/forwarding': '1' });
  ok({ 'kernel.msgmax': '1', 'kernel.shm_rmid_forced': '1', 'fs.mqueue.msg_max': '10' });
  ok({ 'kernel.domainname': 'example.org' });
  no({ 'kernel.foo': '1' }, 'sysctl "kernel.foo" is not in a separate kernel namespace');
  no({ 'fs.file-max': '1' }, 'sysctl "fs.file-max" is not in a separate kernel namespace');
  no({ bogus: '1' }, 'sysctl "bogus" is not in a separate kernel namespace');
  no({ 'kernel.hostname': 'x' }, 'sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field');
  no({ 'net.ipv4.ip_forward': '1' }, 'sysctl "net.ipv4.ip_forward" not allowed in host network namespace', without('network'));
  no({ 'net.ipv4.ip_forward': '1' }, 'sysctl "net.ipv4.ip_forward" not allowed in host network namespace',
    (s) => { s.linux.namespaces.find((n: any) => n.type === 'network').path = '/proc/self/ns/net'; });
  no({ 'kernel.msgmax': '1' }, 'sysctl "kernel.msgmax" is not allowed in the hosts ipc namespace', without('ipc'));
  no({ 'fs.mqueue.msg_max': '1' }, 'sysctl "fs.mqueue.msg_max" is not allowed in the hosts ipc namespace', without('ipc'));
  no({ 'net..ipv4': '1' }, 'config.json: /linux/sysctl/net..ipv4: sysctl "net..ipv4" is not a valid name');
  no({ 'net/../../etc/x': '1' }, 'config.json: /linux/sysctl/net~1..~1..~1etc~1x: sysctl "net/../../etc/x" is not a valid name');
});

// ---------------------------------------------------------------- mounts, devices, paths

test('relative mount destinations are made absolute with runc\'s warning', () => {
  const r = load((s) => { s.mounts.push({ destination: 'data', type: 'tmpfs', source: 'tmpfs' }); });
  assert.equal(r.spec.mounts?.at(-1)?.destination, '/data');
  assert.deepEqual(r.warnings, ['mount destination data is not absolute. Support for non-absolute mount destinations will be removed in a future release.']);
});

test('relative device, masked and read-only paths are made absolute with a warning', () => {
  const r = load((s) => {
    s.linux.devices = [{ path: 'dev/fuse', type: 'c', major: 10, minor: 229 }];
    s.linux.maskedPaths.push('proc/foo');
  });
  assert.equal(r.spec.linux?.devices?.[0].path, '/dev/fuse');
  assert.equal(r.spec.linux?.maskedPaths?.at(-1), '/proc/foo');
  assert.deepEqual(r.warnings, ['device path dev/fuse is not absolute; using /dev/fuse', 'maskedPaths entry proc/foo is not absolute; using /proc/foo']);
});

test('id-mapped mounts', () => {
  const map = [{ containerID: 0, hostID: 1000, size: 1 }];
  assert.doesNotThrow(() => load((s) => {
    s.mounts.push({ destination: '/data', type: 'bind', source: '/tmp', options: ['rbind', 'idmap'], uidMappings: map, gidMappings: map });
  }));
  rejects((s) => { s.mounts.push({ destination: '/data', type: 'bind', source: '/tmp', options: ['rbind'], uidMappings: map }); },
    'config.json: /mounts/7: uidMappings and gidMappings must be given together');
  rejects((s) => { s.mounts.push({ destination: '/data', type: 'bind', source: '/tmp', options: ['rbind', 'ridmap'] }); },
    'config.json: /mounts/7: option ridmap needs uidMappings and gidMappings on the mount, or a user namespace');
});

test('hook paths must be absolute', () => {
  rejects((s) => { s.hooks = { prestart: [{ path: '/bin/true' }, { path: 'true' }] }; },
    'config.json: /hooks/prestart/1/path: hook path "true" must be absolute');
  assert.doesNotThrow(() => load((s) => {
    s.hooks = { createRuntime: [{ path: '/bin/true', args: ['true'], env: ['A=1'], timeout: 5 }], poststop: [{ path: '/bin/false' }] };
  }));
});

// ---------------------------------------------------------------- seccomp

test('seccomp: errno only with SCMP_ACT_ERRNO/TRACE; notify rules as runc', () => {
  const seccomp = (sc: any) => (s: any) => { s.linux.seccomp = sc; };
  assert.doesNotThrow(() => load(seccomp({
    defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, flags: ['SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
    listenerPath: '/run/agent.sock', listenerMetadata: 'x',
    syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }, { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }],
  })));
  rejects(seccomp({ defaultAction: 'SCMP_ACT_ALLOW', defaultErrnoRet: 1 }),
    'config.json: /linux/seccomp/defaultErrnoRet: an errno return code needs SCMP_ACT_ERRNO or SCMP_ACT_TRACE, but defaultAction is SCMP_ACT_ALLOW');
  rejects(seccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_KILL', errnoRet: 3 }] }),
    'config.json: /linux/seccomp/syscalls/0/errnoRet: an errno return code needs SCMP_ACT_ERRNO or SCMP_ACT_TRACE, but action is SCMP_ACT_KILL');
  rejects(seccomp({ defaultAction: 'SCMP_ACT_NOTIFY', listenerPath: '/x' }), 'SCMP_ACT_NOTIFY cannot be used as default action');
  rejects(seccomp({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/x', syscalls: [{ names: ['write'], action: 'SCMP_ACT_NOTIFY' }] }),
    'SCMP_ACT_NOTIFY cannot be used for the write syscall');
  rejects(seccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] }),
    'config.json: /linux/seccomp: SCMP_ACT_NOTIFY is used but listenerPath is not set');
  rejects(seccomp({ defaultAction: 'SCMP_ACT_ALLOW', listenerMetadata: 'x' }),
    'config.json: /linux/seccomp/listenerMetadata: must not be set without listenerPath');
});

// ---------------------------------------------------------------- resources, personality

test('resources: weightDevice and rdma entries need at least one value', () => {
  rejects((s) => { s.linux.resources.blockIO = { weightDevice: [{ major: 8, minor: 0 }] }; },
    'config.json: /linux/resources/blockIO/weightDevice/0: must have weight or leafWeight (or both)');
  rejects((s) => { s.linux.resources.rdma = { mlx5_1: {} }; }, 'config.json: /linux/resources/rdma/mlx5_1: must have hcaHandles or hcaObjects (or both)');
  assert.doesNotThrow(() => load((s) => {
    s.linux.resources.blockIO = { weightDevice: [{ major: 8, minor: 0, leafWeight: 10 }] };
    s.linux.resources.rdma = { mlx5_1: { hcaObjects: 10 } };
  }));
});

test('resources: memory swappiness 0..100, or uint64(-1) for "unset"', () => {
  rejects((s) => { s.linux.resources.memory = { swappiness: 101 }; },
    'config.json: /linux/resources/memory/swappiness: invalid value:101. valid memory swappiness range is 0-100');
  assert.doesNotThrow(() => load((s) => { s.linux.resources.memory = { swappiness: 100 }; }));
  const dir = join(tmp, 'swappiness');
  mkdirSync(join(dir, 'rootfs'), { recursive: true });
  const spec = runcSpec();
  spec.linux.resources.memory = { swappiness: 'MAX' };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec).replace('"MAX"', '18446744073709551615'));
  assert.equal(loadBundleSpec(dir).spec.linux?.resources?.memory?.swappiness, 2 ** 64);
});

test('personality: domain only, no flags', () => {
  assert.doesNotThrow(() => load((s) => { s.linux.personality = { domain: 'LINUX32' }; }));
  rejects((s) => { s.linux.personality = { domain: 'LINUX', flags: ['X'] }; }, 'config.json: /linux/personality/flags: personality flags are not supported: X');
});

// ---------------------------------------------------------------- direct use

test('checkSpec can be used on a spec object', () => {
  const dir = join(tmp, 'direct');
  mkdirSync(join(dir, 'rootfs'), { recursive: true });
  const r = checkSpec(runcSpec(), { bundle: dir });
  assert.deepEqual(r, { rootfs: join(dir, 'rootfs'), warnings: [] });
});
