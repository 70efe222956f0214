// `update`: runc 1.1.5's flag parsing, --resources decoding, the merge with the saved
// resources, and what the drivers then write (on fake v1 and v2 trees).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cgroupManager } from '../../runtime/cgroups/index.js';
import { FakeCgroupTree } from '../helpers/fake-cgroup-tree.js';
import { emptyUpdate, planUpdate, ramInBytes, updateFromFlags, updateFromJson } from '../../runtime/cgroups/update.js';
import type { LinuxResources } from '../../runtime/cgroups/types.js';
import { parseGoDuration } from '../../runtime/cli/events.js';

const MiB = 1024 * 1024;

test('sizes as go-units RAMInBytes reads them (binary units, optional i/b, fractions truncated)', () => {
  assert.equal(ramInBytes('100M'), 100n * 1048576n);
  assert.equal(ramInBytes('100m'), 100n * 1048576n);
  assert.equal(ramInBytes('64KiB'), 65536n);
  assert.equal(ramInBytes('512 mb'), 512n * 1048576n);
  assert.equal(ramInBytes('1.5g'), 1610612736n);
  assert.equal(ramInBytes('4096'), 4096n);
  assert.equal(ramInBytes('1.0000001k'), 1024n);
  assert.throws(() => ramInBytes('abc'), /^Error: invalid size: 'abc'$/);
  assert.throws(() => ramInBytes('-5'), /invalid size: '-5'/);
  assert.throws(() => ramInBytes('10X'), /invalid size: '10X'/);
  assert.throws(() => ramInBytes('1.2.3'), /strconv.ParseFloat: parsing "1.2.3": invalid syntax/);
});

test('flags: sizes, -1, signed and unsigned numbers, and runc\'s error wording', () => {
  const r = updateFromFlags({
    memory: '100M', 'memory-swap': '-1', 'memory-reservation': '50m', 'cpu-quota': '-1', 'cpu-period': '100000',
    'cpu-share': '512', 'cpu-rt-runtime': '-5', 'cpuset-cpus': '0-1', 'pids-limit': 20, 'blkio-weight': 500,
  });
  assert.deepEqual(r, {
    ...emptyUpdate(), memory: 100n * 1048576n, memorySwap: -1n, memoryReservation: 50n * 1048576n, cpuQuota: -1n,
    cpuPeriod: 100000n, cpuShares: 512n, cpuRtRuntime: -5n, cpusetCpus: '0-1', pidsLimit: 20n, blkioWeight: 500n,
  });
  assert.deepEqual(updateFromFlags({}), emptyUpdate());
  assert.throws(() => updateFromFlags({ 'cpu-share': '-5' }), { message: 'invalid value for cpu-share: strconv.ParseUint: parsing "-5": invalid syntax' });
  assert.throws(() => updateFromFlags({ 'cpu-quota': '1.5' }), { message: 'invalid value for cpu-quota: strconv.ParseInt: parsing "1.5": invalid syntax' });
  assert.throws(() => updateFromFlags({ memory: 'lots' }), { message: "invalid value for memory: invalid size: 'lots'" });
  assert.throws(() => updateFromFlags({ 'memory-swap': '-2' }), { message: "invalid value for memory-swap: invalid size: '-2'" });
});

test('--resources: Docker\'s payload, zeros left as zeros, Go\'s decoding errors', () => {
  const r = updateFromJson('{"memory":{"limit":67108864,"reservation":0,"swap":134217728,"kernel":0},"cpu":{"shares":0,"quota":50000,"period":100000},"blockIO":{"weight":0}}');
  assert.deepEqual(r, { ...emptyUpdate(), memory: 67108864n, memorySwap: 134217728n, cpuQuota: 50000n, cpuPeriod: 100000n });
  assert.deepEqual(updateFromJson('{"pids":{"limit":-1},"unified":{"memory.high":"max"}}'), { ...emptyUpdate(), pidsLimit: -1n, unified: { 'memory.high': 'max' } });
  assert.deepEqual(updateFromJson('null'), emptyUpdate());
  assert.throws(() => updateFromJson('{"memory":{"limit":"x"}}'), { message: 'json: cannot unmarshal string into Go struct field LinuxMemory.memory.limit of type int64' });
  assert.throws(() => updateFromJson('{"memory":{"limit":1.5}}'), { message: 'json: cannot unmarshal number 1.5 into Go struct field LinuxMemory.memory.limit of type int64' });
  assert.throws(() => updateFromJson('{"cpu":{"shares":-1}}'), { message: 'json: cannot unmarshal number -1 into Go struct field LinuxCPU.cpu.shares of type uint64' });
  assert.throws(() => updateFromJson('{"blockIO":{"weight":70000}}'), { message: 'json: cannot unmarshal number 70000 into Go struct field LinuxBlockIO.blockIO.weight of type uint16' });
  assert.throws(() => updateFromJson(''), { message: 'EOF' });
  assert.throws(() => updateFromJson('xx'), { message: "invalid character 'x' looking for beginning of value" });
  assert.throws(() => updateFromJson('nope'), { message: "invalid character 'o' in literal null (expecting 'u')" });
  assert.throws(() => updateFromJson('{"memory":'), { message: 'unexpected EOF' });
});

const SAVED: LinuxResources = {
  devices: [{ allow: false, access: 'rwm' }],
  memory: { limit: 64 * MiB, swap: 128 * MiB, swappiness: 10 },
  cpu: { shares: 1024, quota: 50000, period: 100000, cpus: '0' },
  pids: { limit: 20 },
  unified: { 'memory.high': '1000000' },
};

test('merge: zeros leave a setting unchanged; the state keeps the saved values, devices and unified', () => {
  const { apply, save, warnings } = planUpdate(SAVED, { ...emptyUpdate(), pidsLimit: 30n });
  assert.deepEqual(warnings, []);
  assert.deepEqual(apply.pids, { limit: 30 });
  assert.equal(apply.memory?.limit, 0);
  assert.equal(apply.memory?.swap, 0);
  assert.equal(apply.memory?.swappiness, 10, 'settings update has no flag for are applied again, as runc\'s Set does');
  assert.equal(apply.cpu?.quota, 0);
  assert.equal(apply.cpu?.period, 0);
  assert.equal(apply.devices, undefined, 'runc 1.1.5 sets SkipDevices in update');
  assert.equal(apply.unified, undefined, 'the saved unified map is not written again over the new values');
  assert.deepEqual(save, { ...SAVED, pids: { limit: 30 } });
});

test('merge: quota or period alone keeps the other at its saved value; kernel memory only warns', () => {
  const q = planUpdate(SAVED, { ...emptyUpdate(), cpuQuota: 20000n, kernelMemory: 1n });
  assert.deepEqual([q.apply.cpu?.quota, q.apply.cpu?.period], [20000, 100000]);
  assert.deepEqual(q.warnings, ['Kernel memory settings are ignored and will be removed']);
  assert.equal(q.apply.memory?.kernel, undefined);
  const p = planUpdate(SAVED, { ...emptyUpdate(), cpuPeriod: 200000n });
  assert.deepEqual([p.apply.cpu?.quota, p.apply.cpu?.period], [50000, 200000]);
  assert.deepEqual([p.save.cpu?.quota, p.save.cpu?.period], [50000, 200000]);
  const none = planUpdate(undefined, { ...emptyUpdate(), cpuQuota: 20000n });
  assert.deepEqual([none.apply.cpu?.quota, none.apply.cpu?.period], [20000, 0]);
  assert.deepEqual(none.save, { cpu: { quota: 20000 } });
  const u = planUpdate(SAVED, { ...emptyUpdate(), unified: { 'pids.max': '5' } });
  assert.deepEqual(u.apply.unified, { 'pids.max': '5' });
  assert.deepEqual(u.save.unified, { 'memory.high': '1000000', 'pids.max': '5' });
});

test('v1 driver: an update of pids alone writes pids.max and leaves memory and cpu files alone', (t) => {
  const tree = new FakeCgroupTree({ mode: 'v1' });
  t.after(() => tree.cleanup());
  const m = cgroupManager({ id: 'c1', systemd: false, cgroupsPath: '/c1' }, tree.host());
  m.create();
  tree.clearWrites();
  m.apply(planUpdate({ ...SAVED, memory: { limit: 64 * MiB } }, { ...emptyUpdate(), pidsLimit: 30n }).apply);
  // cpus are not given: runc's config gets "" and cpuset is left alone.
  assert.deepEqual(tree.relWrites(), [['pids/c1/pids.max', '30']]);
  tree.clearWrites();
  m.apply(planUpdate(SAVED, updateFromFlags({ memory: '256M', 'memory-swap': '512M', 'cpu-quota': '20000' })).apply);
  assert.deepEqual(tree.relWrites(), [
    // The current limit is unlimited (above the new memsw): memory first keeps memsw >= memory.
    ['memory/c1/memory.limit_in_bytes', String(256 * MiB)],
    ['memory/c1/memory.memsw.limit_in_bytes', String(512 * MiB)],
    ['memory/c1/memory.swappiness', '10'],
    // No cpu.shares write (not given), the period kept from the saved resources.
    ['cpu/c1/cpu.cfs_period_us', '100000'],
    ['cpu/c1/cpu.cfs_quota_us', '20000'],
  ]);
});

test('v2 driver: shares -> cpu.weight, blkio weight -> io.weight, memory+swap -> memory.swap.max', (t) => {
  const tree = new FakeCgroupTree({ mode: 'v2' });
  t.after(() => tree.cleanup());
  const m = cgroupManager({ id: 'c1', systemd: false, cgroupsPath: '/c1' }, tree.host());
  m.create();
  tree.clearWrites();
  m.apply(planUpdate({}, updateFromFlags({ memory: '100M', 'memory-swap': '300M', 'cpu-share': '512', 'blkio-weight': 500, 'pids-limit': 7, 'cpu-quota': '20000', 'cpu-period': '50000' })).apply);
  assert.deepEqual(tree.relWrites(), [
    ['c1/pids.max', '7'],
    ['c1/memory.swap.max', String(200 * MiB)],
    ['c1/memory.max', String(100 * MiB)],
    ['c1/io.weight', '4950'],
    ['c1/cpu.weight', '20'],
    ['c1/cpu.max', '20000 50000'],
  ]);
  tree.clearWrites();
  // Swap without a memory limit cannot be expressed on v2 (runc refuses it the same way).
  assert.throws(() => m.apply(planUpdate({}, updateFromFlags({ 'memory-swap': '300M' })).apply), /unable to set swap limit without memory limit/);
});

test('--interval: Go durations', () => {
  assert.equal(parseGoDuration('5s'), 5000);
  assert.equal(parseGoDuration('1m30s'), 90000);
  assert.equal(parseGoDuration('250ms'), 250);
  assert.equal(parseGoDuration('1.5h'), 5400000);
  assert.equal(parseGoDuration('0'), 0);
  assert.equal(parseGoDuration('-1s'), -1000);
  assert.throws(() => parseGoDuration('5'), { message: 'invalid value "5" for flag -interval: parse error' });
  assert.throws(() => parseGoDuration('s'), /parse error/);
  assert.throws(() => parseGoDuration(''), /parse error/);
});
