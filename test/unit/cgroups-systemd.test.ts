import { SharedSystemdBus } from '../../runtime/cgroups/systemd.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { cgroupManager, cgroupManagerFromState, serializeCgroupPaths, userSystemdManager } from '../../runtime/cgroups/index.js';
import { FakeCgroupTree, type FakeTreeOptions } from '../helpers/fake-cgroup-tree.js';
import { expandSlice, systemdUnitRef, systemdV1Paths, systemdV2Path } from '../../runtime/cgroups/systemd-unit.js';
import { annotationProperties, cpuListToBytes, deviceProperties, parseGVariantText, resourceProperties, startProperties, type UnitProperty } from '../../runtime/cgroups/systemd-properties.js';
import type { SystemdBus } from '../../runtime/cgroups/systemd.js';
import { DBusError } from '../../runtime/dbus/connection.js';
import { Variant, type DBusValue } from '../../runtime/dbus/marshal.js';
import { layoutFromMountinfo } from '../../runtime/cgroups/layout.js';

const U64_MAX = 0xffffffffffffffffn;

/** Properties as name -> plain value, for comparisons. */
function plain(props: UnitProperty[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, v] of props) {
    assert.ok(v instanceof Variant, name);
    out[name] = v.value;
  }
  return out;
}

function sigs(props: UnitProperty[]): Record<string, string> {
  return Object.fromEntries(props.map(([n, v]) => [n, v.signature]));
}

test('cgroupsPath slice:prefix:name -> slice and unit, with runc defaults and errors', () => {
  assert.deepEqual(systemdUnitRef('system.slice:docker:abc', 'id1'), { slice: 'system.slice', unit: 'docker-abc.scope', name: 'abc' });
  assert.deepEqual(systemdUnitRef('', 'id1'), { slice: 'system.slice', unit: 'runc-id1.scope', name: 'id1' });
  assert.deepEqual(systemdUnitRef(undefined, 'id1', true), { slice: 'user.slice', unit: 'runc-id1.scope', name: 'id1' });
  assert.deepEqual(systemdUnitRef(':libpod:x', 'id1'), { slice: 'system.slice', unit: 'libpod-x.scope', name: 'x' });
  assert.deepEqual(systemdUnitRef('machine.slice::pod-a.slice', 'id1'), { slice: 'machine.slice', unit: 'pod-a.slice', name: 'pod-a.slice' });
  assert.throws(() => systemdUnitRef('/sys/x', 'id1'), { message: 'expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups, got "/sys/x" instead' });
  assert.throws(() => systemdUnitRef('a:b:c:d', 'id1'), /expected cgroupsPath to be of format/);
  assert.throws(() => systemdUnitRef('system:docker:abc', 'id1'), { message: 'invalid slice name: system' });
  assert.throws(() => systemdUnitRef('system.slice:docker:', 'id1'), /the name part is empty/);
  assert.throws(() => systemdUnitRef('system.slice:dock er:x', 'id1'), /invalid systemd unit name "dock er-x.scope"/);
});

test('expandSlice: the cgroup path systemd gives a slice', () => {
  assert.equal(expandSlice('system.slice'), '/system.slice');
  assert.equal(expandSlice('kubepods-besteffort-pod12.slice'), '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice');
  assert.equal(expandSlice('-.slice'), '/');
  for (const bad of ['.slice', 'a--b.slice', '-a.slice', 'a-.slice', 'a/b.slice', 'a.scope', 'slice']) {
    assert.throws(() => expandSlice(bad), { message: `invalid slice name: ${bad}` }, bad);
  }
});

test('unit dirs: v2 below the mount; v1 below pid 1 minus init.scope, in every hierarchy; hybrid adds unified', () => {
  const v2 = layoutFromMountinfo('30 20 0:30 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n');
  const ref = systemdUnitRef('kubepods-burstable.slice:cri-containerd:abc', 'x');
  assert.equal(systemdV2Path(v2, ref), '/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/cri-containerd-abc.scope');
  const hybrid = layoutFromMountinfo([
    '31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw', '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct',
    '35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory', '40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd',
    '41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw', '',
  ].join('\n'));
  const pid1 = '4:memory:/\n3:cpu,cpuacct:/\n2:name=systemd:/init.scope\n0::/init.scope\n';
  assert.deepEqual(systemdV1Paths(hybrid, systemdUnitRef('system.slice:docker:abc', 'x'), pid1), {
    cpu: '/sys/fs/cgroup/cpu,cpuacct/system.slice/docker-abc.scope',
    cpuacct: '/sys/fs/cgroup/cpu,cpuacct/system.slice/docker-abc.scope',
    memory: '/sys/fs/cgroup/memory/system.slice/docker-abc.scope',
    'name=systemd': '/sys/fs/cgroup/systemd/system.slice/docker-abc.scope',
    '': '/sys/fs/cgroup/unified/system.slice/docker-abc.scope',
  });
  // systemd in a container without a cgroup namespace: its own cgroup is the base.
  const nested = systemdV1Paths(hybrid, systemdUnitRef('', 'c'), '4:memory:/docker/x\n3:cpu,cpuacct:/docker/x\n2:name=systemd:/docker/x/init.scope\n0::/docker/x/init.scope\n');
  assert.equal(nested.memory, '/sys/fs/cgroup/memory/docker/x/system.slice/runc-c.scope');
  assert.equal(nested['name=systemd'], '/sys/fs/cgroup/systemd/docker/x/system.slice/runc-c.scope');
});

test('start properties: scope in its slice, delegated, the pid, accounting on, no default dependencies', () => {
  const ref = systemdUnitRef('system.slice:docker:abc', 'x');
  const w: string[] = [];
  const v2 = startProperties(ref, 4242, undefined, { version: 2, systemdVersion: 252 }, w);
  assert.deepEqual(v2.map(([n]) => n), ['Description', 'Slice', 'Delegate', 'PIDs', 'MemoryAccounting', 'CPUAccounting', 'IOAccounting', 'TasksAccounting', 'DefaultDependencies']);
  assert.deepEqual(plain(v2), {
    Description: 'libcontainer container abc', Slice: 'system.slice', Delegate: true, PIDs: [4242],
    MemoryAccounting: true, CPUAccounting: true, IOAccounting: true, TasksAccounting: true, DefaultDependencies: false,
  });
  assert.equal(sigs(v2).PIDs, 'au');
  const v1 = startProperties(ref, 1, undefined, { version: 1, systemdVersion: 247 }, w);
  assert.ok(v1.some(([n]) => n === 'BlockIOAccounting') && !v1.some(([n]) => n === 'IOAccounting'));
  const slice = startProperties(systemdUnitRef('machine.slice::pod.slice', 'x'), 7, undefined, { version: 2, systemdVersion: 252 }, w);
  assert.deepEqual(plain(slice).Wants, ['machine.slice']);
  assert.ok(!('Slice' in plain(slice)) && !('Delegate' in plain(slice)));
  assert.deepEqual(w, []);
});

test('resource properties: v2 names and conversions, -1 as infinity, quota rounded up to a whole percent', () => {
  const w: string[] = [];
  const ctx = { version: 2 as const, systemdVersion: 252 };
  const p = resourceProperties({
    memory: { limit: 256 * 1024 * 1024, reservation: 128 * 1024 * 1024, swap: 512 * 1024 * 1024 },
    cpu: { shares: 1024, quota: 12345, period: 100000, cpus: '0-1,3', mems: '0' },
    pids: { limit: -1 },
  }, ctx, w);
  assert.deepEqual(plain(p), {
    MemoryMax: 268435456n, MemoryLow: 134217728n, MemorySwapMax: 268435456n, CPUWeight: 39n,
    CPUQuotaPeriodUSec: 100000n, CPUQuotaPerSecUSec: 130000n, TasksMax: U64_MAX,
    AllowedCPUs: [0b1011], AllowedMemoryNodes: [1],
  });
  assert.equal(sigs(p).MemoryMax, 't');
  assert.equal(sigs(p).AllowedCPUs, 'ay');
  // An exact percent stays; quota -1 with a period is "no quota".
  assert.equal(plain(resourceProperties({ cpu: { quota: 50000 } }, ctx, w)).CPUQuotaPerSecUSec, 500000n);
  assert.equal(plain(resourceProperties({ cpu: { quota: -1, period: 50000 } }, ctx, w)).CPUQuotaPerSecUSec, U64_MAX);
  // Before systemd 242 there is no period property; before 244 no cpuset properties.
  const old = plain(resourceProperties({ cpu: { quota: 20000, period: 50000, cpus: '1' } }, { version: 2, systemdVersion: 241 }, w));
  assert.deepEqual(old, { CPUQuotaPerSecUSec: 400000n });
  // v1 names.
  assert.deepEqual(plain(resourceProperties({ memory: { limit: 1000 }, cpu: { shares: 512 }, blockIO: { weight: 300 }, pids: { limit: 10 } }, { version: 1, systemdVersion: 247 }, w)), {
    MemoryLimit: 1000n, CPUShares: 512n, BlockIOWeight: 300n, TasksMax: 10n,
  });
  assert.deepEqual(w, []);
});

test('unified keys that systemd has properties for', () => {
  const w: string[] = [];
  const p = plain(resourceProperties({ unified: { 'memory.high': '1048576', 'memory.max': 'max', 'pids.max': '20', 'cpu.max': '25000 100000', 'cpu.weight': '50', 'io.weight': '100' } }, { version: 2, systemdVersion: 252 }, w));
  assert.deepEqual(p, { MemoryHigh: 1048576n, MemoryMax: U64_MAX, TasksMax: 20n, CPUQuotaPeriodUSec: 100000n, CPUQuotaPerSecUSec: 250000n, CPUWeight: 50n });
  assert.throws(() => resourceProperties({ unified: { 'memory.high': 'lots' } }, { version: 2, systemdVersion: 252 }, w), /value conversion error/);
});

test('cpu lists as systemd CPU set bytes', () => {
  assert.deepEqual(cpuListToBytes('0'), [1]);
  assert.deepEqual(cpuListToBytes('0-7'), [255]);
  assert.deepEqual(cpuListToBytes('8'), [0, 1]);
  assert.deepEqual(cpuListToBytes('1,3-4, 9'), [0b11010, 0b10]);
  assert.deepEqual(cpuListToBytes(''), []);
  assert.throws(() => cpuListToBytes('3-1'), /invalid cpuset range/);
  assert.throws(() => cpuListToBytes('x'), /invalid cpuset range/);
});

const PROC_DEVICES = 'Character devices:\n  1 mem\n  5 /dev/tty\n136 pts\n\nBlock devices:\n  8 sd\n';

test('device rules as DevicePolicy/DeviceAllow', () => {
  const w: string[] = [];
  const ctx = { version: 2 as const, systemdVersion: 252, procDevices: PROC_DEVICES, sysDevMissing: (p: string) => (p.endsWith('10:200') ? `stat ${p}: no such file or directory` : undefined) };
  const p = deviceProperties([
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
    { allow: true, type: 'c', major: 136, access: 'rw' },
    { allow: true, type: 'b', major: 8, minor: 0, access: 'r' },
    { allow: true, type: 'c', access: 'm' },
    { allow: true, type: 'c', major: 99, access: 'r' },
  ], ctx, w);
  assert.deepEqual(plain(p), {
    DevicePolicy: 'strict',
    DeviceAllow: [['char-*', 'm'], ['/dev/char/1:3', 'rwm'], ['/dev/block/8:0', 'r'], ['char-pts', 'rw']],
  });
  assert.equal(sigs(p).DeviceAllow, 'a(ss)');
  assert.deepEqual(w, [
    'skipping device /dev/char/10:200 for systemd: stat /sys/dev/char/10:200: no such file or directory',
    "could not find device group for 'c 99:*' in /proc/devices: rule skipped for systemd",
  ]);
  // Allow-all is systemd's "auto"; another deny-list is a deny-all until the files are written.
  assert.deepEqual(plain(deviceProperties([{ allow: true, access: 'rwm' }], ctx, w)), { DevicePolicy: 'auto', DeviceAllow: [] });
  const w2: string[] = [];
  assert.deepEqual(plain(deviceProperties([{ allow: true, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }], ctx, w2)), { DevicePolicy: 'strict', DeviceAllow: [] });
  assert.match(w2[0]!, /blacklist/);
});

// ---- the driver against a fake cgroup tree and a fake systemd ----

interface FakeCall { member: string; body: DBusValue[] }

/** Enough of systemd's manager to start and stop scopes in a FakeCgroupTree. */
class FakeSystemd {
  calls: FakeCall[] = [];
  units = new Map<string, string>();
  failStart?: string;
  jobResult = 'done';
  signalBeforeReply = false;
  private handlers = new Set<(s: { interface?: string; member?: string; body: DBusValue[] }) => void>();
  private jobs = 0;
  closed = 0;

  constructor(private readonly tree: FakeCgroupTree, private readonly unitDir: (unit: string, slice: string) => string[]) {}

  connects = 0;
  bus = async (): Promise<SystemdBus> => {
    this.connects++;
    const conn = {
      call: async (m: { member: string; body?: DBusValue[]; interface?: string }) => this.call(m.member, m.body ?? []),
      onSignal: (h: (s: { interface?: string; member?: string; body: DBusValue[] }) => void) => { this.handlers.add(h); return () => this.handlers.delete(h); },
      addMatch: async () => undefined,
      close: () => { this.closed++; },
    };
    return { conn: conn as unknown as SystemdBus['conn'], direct: true, release: () => conn.close() };
  };

  private emitJob(job: string, unit: string, result: string): void {
    for (const h of this.handlers) h({ interface: 'org.freedesktop.systemd1.Manager', member: 'JobRemoved', body: [1, job, unit, result] });
  }

  private async call(member: string, body: DBusValue[]): Promise<DBusValue[]> {
    this.calls.push({ member, body });
    if (member === 'Get') return [new Variant('s', '252.22-1~deb12u1')];
    const job = `/org/freedesktop/systemd1/job/${++this.jobs}`;
    if (member === 'StartTransientUnit') {
      const [unit, , props] = body as [string, string, Array<[string, Variant]>];
      if (this.failStart) throw Object.assign(new DBusError(this.failStart, `Unit ${unit} already exists.`), {});
      const slice = props.find(([n]) => n === 'Slice')![1].value as string;
      const pids = props.find(([n]) => n === 'PIDs')![1].value as number[];
      for (const dir of this.unitDir(unit, slice)) {
        const parts = dir.split('/');
        for (let i = 1; i <= parts.length; i++) {
          const level = parts.slice(0, i).join('/');
          if (level.length <= this.tree.root.length || existsSync(level)) continue;
          // systemd (accounting on) enables the controllers for a unit's dir before making it.
          if (this.tree.opts.mode === 'v2') writeFileSync(posix.join(posix.dirname(level), 'cgroup.subtree_control'), 'cpuset cpu io memory pids\n');
          mkdirSync(level);
          this.tree.onMkdir(level);
        }
        this.tree.addProcs(dir, pids);
      }
      this.units.set(unit, slice);
      if (this.signalBeforeReply) this.emitJob(job, unit, this.jobResult);
      else setImmediate(() => this.emitJob(job, unit, this.jobResult));
      return [job];
    }
    if (member === 'StopUnit') {
      const [unit] = body as [string];
      const slice = this.units.get(unit);
      if (slice === undefined) throw new DBusError('org.freedesktop.systemd1.NoSuchUnit', `Unit ${unit} not loaded.`);
      for (const dir of this.unitDir(unit, slice)) if (existsSync(dir)) this.tree.rmdir(dir);
      this.units.delete(unit);
      setImmediate(() => this.emitJob(job, unit, 'done'));
      return [job];
    }
    if (member === 'ResetFailedUnit' || member === 'SetUnitProperties' || member === 'Subscribe') return [];
    throw new DBusError('org.freedesktop.DBus.Error.UnknownMethod', member);
  }
}

function systemdSetup(mode: FakeTreeOptions['mode']) {
  const tree = new FakeCgroupTree({ mode });
  // systemd on v1 makes the unit's dirs in the hierarchies it manages only.
  const managed = mode === 'v2' ? [''] : ['cpu', 'cpuacct', 'memory', 'devices', 'pids', 'blkio', 'name=systemd', ...(mode === 'hybrid' ? [''] : [])];
  const sd = new FakeSystemd(tree, (unit, slice) => managed.map((k) => {
    const mp = k === '' ? (mode === 'v2' ? tree.root : posix.join(tree.root, 'unified')) : tree.layout.v1[k]!.mountpoint;
    return posix.join(mp, expandSlice(slice), unit);
  }));
  const host = tree.host({ systemdRunning: true, systemdBus: sd.bus, pid1Cgroup: '' });
  return { tree, sd, host };
}

test('systemd driver (v2): scope started with the pid and the limits, files written, stopped and gone on destroy', async (t) => {
  const { tree, sd, host } = systemdSetup('v2');
  t.after(() => tree.cleanup());
  const m = cgroupManager({ id: 'c1', cgroupsPath: 'system.slice:tsrun:c1', systemd: true }, host);
  const dir = `${tree.root}/system.slice/tsrun-c1.scope`;
  assert.deepEqual(m.paths, { '': dir });
  m.create();
  assert.deepEqual(m.procsFiles(), [], 'the executor joins nothing: systemd moves the init');
  assert.deepEqual(m.apply({ memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 50 } }), []);
  assert.equal(existsSync(dir), false, 'nothing is made before the pid is known');
  assert.equal(typeof m.attach, 'function');
  assert.deepEqual(await m.attach!(4321), []);
  const start = sd.calls.find((c) => c.member === 'StartTransientUnit')!;
  assert.equal(start.body[0], 'tsrun-c1.scope');
  assert.equal(start.body[1], 'replace');
  const props = plain(start.body[2] as UnitProperty[]);
  assert.deepEqual(props.PIDs, [4321]);
  assert.equal(props.MemoryMax, 67108864n);
  assert.equal(props.TasksMax, 50n);
  assert.equal(tree.read(`${dir}/memory.max`).trim(), '67108864');
  assert.equal(tree.read(`${dir}/pids.max`).trim(), '50');
  assert.deepEqual(tree.read(`${dir}/cgroup.procs`).trim().split('\n'), ['4321']);
  assert.deepEqual(m.procsFiles(), [`${dir}/cgroup.procs`], 'exec joins the scope');
  // What the state keeps brings back the same driver.
  const saved = JSON.parse(JSON.stringify(serializeCgroupPaths(m)));
  assert.deepEqual(saved.systemd, { slice: 'system.slice', unit: 'tsrun-c1.scope', name: 'c1' });
  const again = cgroupManagerFromState(saved, host);
  assert.deepEqual(again.paths, m.paths);
  // update: systemd hears of the new limits too.
  assert.deepEqual(await again.applyUnitProperties!({ pids: { limit: 60 } }), []);
  const set = sd.calls.find((c) => c.member === 'SetUnitProperties')!;
  assert.deepEqual([set.body[0], set.body[1], plain(set.body[2] as UnitProperty[])], ['tsrun-c1.scope', true, { TasksMax: 60n }]);
  // The init is gone (killed): destroy stops the unit and nothing is left.
  tree.kill(4321, 'SIGKILL');
  await again.destroy();
  assert.ok(sd.calls.some((c) => c.member === 'StopUnit' && c.body[0] === 'tsrun-c1.scope'));
  assert.equal(sd.units.size, 0);
  assert.equal(existsSync(dir), false);
  assert.equal(existsSync(`${tree.root}/system.slice`), true, 'the slice is systemd\'s, not ours');
  assert.equal(sd.closed, sd.connects, 'every connection closed');
});

test('systemd driver (v1): systemd makes its hierarchies, tsrun the others (cpuset first), the pid is in all', async (t) => {
  const { tree, sd, host } = systemdSetup('v1');
  t.after(() => tree.cleanup());
  const m = cgroupManager({ id: 'c2', cgroupsPath: 'machine-x.slice:libpod:c2', systemd: true, resources: { cpu: { cpus: '0' } } }, host);
  m.create();
  m.apply({ cpu: { cpus: '0' }, memory: { limit: 1 << 24 } });
  sd.signalBeforeReply = true; // a job may end before the reply arrives
  await m.attach!(99);
  const rel = '/machine.slice/machine-x.slice/libpod-c2.scope';
  for (const [key, dir] of Object.entries(m.paths)) {
    assert.equal(dir, posix.join(tree.layout.v1[key]!.mountpoint, rel), key);
    assert.deepEqual(tree.read(`${dir}/cgroup.procs`).trim().split('\n'), ['99'], key);
  }
  assert.equal(tree.read(`${m.paths.cpuset}/cpuset.cpus`).trim(), '0');
  assert.equal(tree.read(`${m.paths.memory}/memory.limit_in_bytes`).trim(), String(1 << 24));
  const props = plain(sd.calls.find((c) => c.member === 'StartTransientUnit')!.body[2] as UnitProperty[]);
  assert.equal(props.MemoryLimit, 16777216n);
  assert.deepEqual(props.AllowedCPUs, [1]);
  tree.kill(99, 'SIGKILL');
  await m.destroy();
  for (const dir of Object.values(m.paths)) assert.equal(existsSync(dir), false, dir);
  // The slice dirs tsrun made in hierarchies systemd does not manage are gone too; systemd's stay.
  assert.equal(existsSync(posix.join(tree.layout.v1.cpuset!.mountpoint, 'machine.slice')), false);
  assert.equal(existsSync(posix.join(tree.layout.v1.memory!.mountpoint, 'machine.slice')), true);
});

test('systemd driver: a failed leftover unit is reset once; a failed job is an error and leaves nothing', async (t) => {
  const { tree, sd, host } = systemdSetup('v2');
  t.after(() => tree.cleanup());
  sd.failStart = 'org.freedesktop.systemd1.UnitExists';
  const m = cgroupManager({ id: 'c3', systemd: true }, host);
  await assert.rejects(m.attach!(5), { message: 'unable to start unit "runc-c3.scope": Unit runc-c3.scope already exists.' });
  assert.deepEqual(sd.calls.map((c) => c.member).filter((n) => n !== 'Get' && n !== 'Subscribe'), ['StartTransientUnit', 'ResetFailedUnit', 'StartTransientUnit']);
  // The unit of that name is somebody else's: destroy leaves it (and its processes) alone.
  const before = sd.calls.length;
  await m.destroy();
  assert.equal(sd.calls.length, before, 'no StopUnit for a unit we did not start');
  sd.failStart = undefined;
  sd.jobResult = 'failed';
  const m2 = cgroupManager({ id: 'c4', systemd: true }, host);
  await assert.rejects(m2.attach!(6), { message: 'error creating systemd unit `runc-c4.scope`: got `failed`' });
  tree.kill(6, 'SIGKILL');
  await m2.destroy();
  assert.equal(sd.units.size, 0);
  assert.equal(existsSync(`${tree.root}/system.slice/runc-c4.scope`), false);
});

test('systemd driver: refused without systemd, and bad cgroupsPath refused before anything', () => {
  const { tree, host } = systemdSetup('v2');
  try {
    assert.throws(() => cgroupManager({ id: 'c', systemd: true }, { ...host, systemdRunning: false }), { message: 'systemd not running on this host, cannot use systemd cgroups manager' });
    assert.throws(() => cgroupManager({ id: 'c', cgroupsPath: '/abs/path', systemd: true }, host), /expected cgroupsPath to be of format "slice:prefix:name"/);
  } finally {
    tree.cleanup();
  }
});

test('systemd driver, rootless: the user manager\'s cgroup is asked first; the unit goes below it (user.slice by default); saved and found again; v1 refused', async (t) => {
  const { tree, sd, host } = systemdSetup('v2');
  t.after(() => tree.cleanup());
  const manager = '/user.slice/user-1001.slice/user@1001.service';
  const original = sd.bus;
  let asked = 0;
  const bus = async () => {
    const b = await original();
    const call = b.conn.call.bind(b.conn);
    // The fake answers Properties.Get for the manager's ControlGroup as a user manager would.
    b.conn.call = (async (m: { member: string; body?: DBusValue[] }, timeout?: number) => {
      if (m.member === 'Get' && m.body?.[1] === 'ControlGroup') { asked++; return [new Variant('s', manager)]; }
      return call(m as never, timeout);
    }) as typeof b.conn.call;
    return b;
  };
  const userHost = { ...host, systemdBus: bus };
  assert.equal(await userSystemdManager({ systemd: true, rootless: false }, userHost), undefined);
  const userManager = await userSystemdManager({ systemd: true, rootless: true }, userHost);
  assert.equal(userManager, manager);
  assert.equal(asked, 1);
  const m = cgroupManager({ id: 'c5', systemd: true, rootless: true, userManager }, userHost);
  assert.deepEqual(m.paths, { '': `${tree.root}${manager}/user.slice/runc-c5.scope` });
  const again = cgroupManagerFromState(JSON.parse(JSON.stringify(serializeCgroupPaths(m))), userHost);
  assert.deepEqual(again.paths, m.paths);
  const v1 = systemdSetup('hybrid');
  try {
    assert.equal(await userSystemdManager({ systemd: true, rootless: true }, v1.host), undefined, 'cgroupManager refuses it first');
    assert.throws(() => cgroupManager({ id: 'c', systemd: true, rootless: true }, v1.host), { message: 'cannot use rootless systemd cgroups manager on cgroup v1' });
  } finally {
    v1.tree.cleanup();
  }
});

test('GVariant text values, as systemd-run -p and org.systemd.property annotations take them', () => {
  const v = (t: string) => { const x = parseGVariantText(t); return [x.signature, x.value]; };
  assert.deepEqual(v('true'), ['b', true]);
  assert.deepEqual(v(' false '), ['b', false]);
  assert.deepEqual(v('42'), ['i', 42]);
  assert.deepEqual(v('-7'), ['i', -7]);
  assert.deepEqual(v('1.5'), ['d', 1.5]);
  assert.deepEqual(v('uint64 18446744073709551615'), ['t', U64_MAX]);
  assert.deepEqual(v('@t 5'), ['t', 5n]);
  assert.deepEqual(v('uint32 7'), ['u', 7]);
  assert.deepEqual(v("'inactive-or-failed'"), ['s', 'inactive-or-failed']);
  assert.deepEqual(v('"a \\"q\\" b"'), ['s', 'a "q" b']);
  assert.deepEqual(v("['a', 'b']"), ['as', ['a', 'b']]);
  assert.deepEqual(v('[uint32 1, uint32 2]'), ['au', [1, 2]]);
  assert.deepEqual(v("objectpath '/x/y'"), ['o', '/x/y']);
  for (const bad of ['', 'yes', '2147483648', 'byte 256', 'uint64 -1', "'open", '[1, true]', '[]', '1 2', 'int32 1.5']) {
    assert.throws(() => parseGVariantText(bad), Error, bad);
  }
});

test('org.systemd.property annotations: names checked, ...Sec in seconds sent as ...USec, sorted', () => {
  assert.deepEqual(plain(annotationProperties({
    'org.systemd.property.TimeoutStopSec': '90', 'org.systemd.property.CollectMode': "'inactive-or-failed'",
    'org.systemd.property.RuntimeMaxSec': 'uint64 2', 'org.systemd.property.CPUQuotaPerSecUSec': 'uint64 500000',
    'org.systemd.property.MemoryHigh': 'uint64 1048576', 'com.example.other': 'x',
  })), {
    CPUQuotaPerSecUSec: 500000n, CollectMode: 'inactive-or-failed', MemoryHigh: 1048576n, RuntimeMaxUSec: 2000000n, TimeoutStopUSec: 90000000n,
  });
  assert.deepEqual(annotationProperties(undefined), []);
  assert.throws(() => annotationProperties({ 'org.systemd.property.lower': 'true' }), /invalid systemd property name "lower"/);
  assert.throws(() => annotationProperties({ 'org.systemd.property.TimeoutStopSec': "'soon'" }), { message: "annotation org.systemd.property.TimeoutStopSec='soon' value parse error: value soon is not a non-negative number of seconds" });
  assert.throws(() => annotationProperties({ 'org.systemd.property.X': 'nope' }), /annotation org.systemd.property.X=nope value parse error: number expected/);
});

test('a Runtime\'s shared systemd connection: made once, made again when it closed, closed with the Runtime', async () => {
  let made = 0;
  const conns: { closed: boolean; close(): void }[] = [];
  const shared = new SharedSystemdBus(async () => {
    made++;
    const conn = { closed: false, close() { this.closed = true; } };
    conns.push(conn);
    return { conn: conn as unknown as SystemdBus['conn'], direct: true, release: () => conn.close() };
  });
  const a = await shared.get();
  const b = await shared.get();
  assert.equal(made, 1);
  assert.equal(a.conn, b.conn);
  a.release();
  assert.equal(conns[0].closed, false, 'an operation\'s release keeps the shared connection');
  conns[0].close();
  const c = await shared.get();
  assert.equal(made, 2, 'a connection systemd closed is made again');
  assert.notEqual(c.conn, a.conn);
  shared.close();
  await new Promise((r) => setImmediate(r));
  assert.equal(conns[1].closed, true);
});
