import { test } from 'node:test';
import assert from 'node:assert/strict';
import { big, convertBlkioWeightToIoWeight, convertCpuSharesToWeight, convertMemorySwapToV2, numToStr } from '../../runtime/cgroups/convert.js';
import { deviceRuleString, parseDeviceRule } from '../../runtime/cgroups/devices.js';

test('cpu.shares -> cpu.weight (runc 1.1 formula)', () => {
  assert.equal(convertCpuSharesToWeight(0n), 0n);
  assert.equal(convertCpuSharesToWeight(2n), 1n);
  assert.equal(convertCpuSharesToWeight(1024n), 39n);
  assert.equal(convertCpuSharesToWeight(512n), 20n);
  assert.equal(convertCpuSharesToWeight(262144n), 10000n);
});

test('blkio weight -> io.weight', () => {
  assert.equal(convertBlkioWeightToIoWeight(0n), 0n);
  assert.equal(convertBlkioWeightToIoWeight(10n), 1n);
  assert.equal(convertBlkioWeightToIoWeight(500n), 4950n);
  assert.equal(convertBlkioWeightToIoWeight(1000n), 10000n);
});

test('memory swap (memory+swap) -> memory.swap.max', () => {
  const M = 1n << 20n;
  assert.equal(convertMemorySwapToV2(0n, 0n), 0n);
  assert.equal(convertMemorySwapToV2(0n, -1n), -1n, 'memory unlimited, swap unset: both unlimited');
  assert.equal(convertMemorySwapToV2(-1n, 100n * M), -1n);
  assert.equal(convertMemorySwapToV2(0n, 100n * M), 0n);
  assert.equal(convertMemorySwapToV2(300n * M, 100n * M), 200n * M);
  assert.equal(convertMemorySwapToV2(100n * M, 100n * M), 0n);
  assert.throws(() => convertMemorySwapToV2(100n * M, 0n), /unable to set swap limit without memory limit/);
  assert.throws(() => convertMemorySwapToV2(100n * M, -1n), /unable to set swap limit without memory limit/);
  assert.throws(() => convertMemorySwapToV2(50n * M, 100n * M), /memory\+swap limit should be >= memory limit/);
  assert.throws(() => convertMemorySwapToV2(50n * M, -5n), /invalid memory value: -5/);
});

test('numToStr and integer parsing', () => {
  assert.equal(numToStr(0n), '');
  assert.equal(numToStr(-1n), 'max');
  assert.equal(numToStr(42n), '42');
  assert.equal(big(undefined, 'x'), undefined);
  assert.equal(big(null, 'x'), undefined);
  assert.equal(big(9223372036854775807n, 'x'), 9223372036854775807n);
  assert.equal(big(5, 'x'), 5n);
  assert.throws(() => big(1.5, 'memory.limit'), /invalid value for memory.limit: 1.5/);
});

test('device rules: parsing, v1 text', () => {
  assert.equal(deviceRuleString(parseDeviceRule({ allow: false, access: 'rwm' }, 0)), 'a *:* rwm');
  assert.equal(deviceRuleString(parseDeviceRule({ allow: true, type: 'c', major: 136, access: 'rwm' }, 0)), 'c 136:* rwm');
  assert.equal(deviceRuleString(parseDeviceRule({ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, 0)), 'c 1:3 rwm');
  assert.equal(deviceRuleString(parseDeviceRule({ allow: true, type: 'b', major: 8, minor: 0, access: 'mr' }, 0)), 'b 8:0 rm');
  assert.throws(() => parseDeviceRule({ allow: true, type: 'u', access: 'r' }, 0), /invalid cgroup device type "u"/);
  assert.throws(() => parseDeviceRule({ allow: true, type: 'c', access: '' }, 3), /device access at 3 field cannot be empty/);
  // runc 1.1 drops letters it does not know on v1 ("rx" is "r"); nothing known at all, or a non-letter, is refused.
  assert.equal(deviceRuleString(parseDeviceRule({ allow: true, type: 'c', major: 1, minor: 3, access: 'rx' }, 0)), 'c 1:3 r');
  assert.throws(() => parseDeviceRule({ allow: true, type: 'c', access: 'x' }, 0), /invalid device access "x"/);
  assert.throws(() => parseDeviceRule({ allow: true, type: 'c', access: 'r-' }, 0), /invalid device access "r-"/);
});
