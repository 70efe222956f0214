// The cgroup v2 device filter generator, run through an eBPF interpreter against allow/deny
// tables and against a plain reference model of the rule semantics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateDeviceFilter, type DeviceFilter } from '../../runtime/cgroups/device-filter.js';
import { parseDeviceRuleV2, type DeviceRule } from '../../runtime/cgroups/devices.js';
import { DeviceEmulator } from '../../runtime/cgroups/device-emulator.js';
import { DEFAULT_DEVICE_RULES, deviceCgroupRules } from '../../runtime/plan/devices.js';
import type { LinuxDeviceCgroup } from '../../runtime/cgroups/types.js';
import type { Spec } from '../../runtime/spec/types.js';
import { disassemble, runEbpf } from '../helpers/ebpf-interpreter.js';

const ACC: Record<string, number> = { m: 1, r: 2, w: 4 };
const bits = (access: string) => [...access].reduce((a, ch) => a | ACC[ch]!, 0);

const rulesOf = (list: LinuxDeviceCgroup[]) => list.map(parseDeviceRuleV2);
const compile = (list: LinuxDeviceCgroup[]) => generateDeviceFilter(rulesOf(list));

/** "c 1:3 rw" -> the program's verdict (true = allowed). */
function allows(f: DeviceFilter, query: string): boolean {
  const [type, nums, access] = query.split(' ') as [string, string, string];
  const [major, minor] = nums.split(':').map(Number) as [number, number];
  let value: bigint;
  try {
    value = runEbpf(f.program, { type: type === 'b' ? 1 : 2, access: bits(access), major, minor }).value;
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${disassemble(f.program)}`);
  }
  assert.ok(value === 0n || value === 1n, `returns 0 or 1, not ${value}`);
  return value === 1n;
}

function check(f: DeviceFilter, allowed: string[], denied: string[]): void {
  for (const q of allowed) assert.equal(allows(f, q), true, `${q} should be allowed`);
  for (const q of denied) assert.equal(allows(f, q), false, `${q} should be denied`);
}

const spec = (devices?: LinuxDeviceCgroup[], nodes?: unknown[]) => ({ linux: { resources: devices ? { devices } : {}, devices: nodes } }) as unknown as Spec;

test('default rules (runc spec: deny all, then runc\'s defaults)', () => {
  const f = compile(deviceCgroupRules(spec([{ allow: false, access: 'rwm' }])) as LinuxDeviceCgroup[]);
  check(f, [
    'c 1:3 rwm', 'c 1:3 r', 'c 1:3 rw', 'c 1:5 rw', 'c 1:7 w', 'c 1:8 r', 'c 1:9 r', 'c 5:0 rw', 'c 5:2 rw', 'c 10:200 rw',
    'c 136:0 rw', 'c 136:4095 rw', 'c 8:0 m', 'b 8:0 m', 'b 259:1 m', 'c 4095:1048575 m',
  ], [
    'c 1:1 r', 'c 1:4 rw', 'c 5:1 rw', 'c 10:229 rw', 'c 137:0 r', 'b 8:0 r', 'b 8:0 w', 'b 8:0 rw',
    'b 1:3 r', 'c 4:0 w', 'b 7:0 rw', 'c 8:0 rm',
  ]);
  // The same without spec rules: runc's defaults alone start from "deny all" too.
  const bare = compile(DEFAULT_DEVICE_RULES as LinuxDeviceCgroup[]);
  assert.deepEqual(bare.program, f.program);
  // 6 loads, c/b *:* m (6 each: type, 3 for the access, return), 8 exact rwm char devices
  // (5 each: type, major, minor, return), c 136:* (4), the default return (2).
  assert.equal(f.insnCount, 6 + 2 * 6 + 8 * 5 + 4 + 2);
  assert.equal(f.allowsAll, false);
});

test('linux.devices add no rule: only linux.resources.devices grants access (as runc)', () => {
  const nodes = [{ path: '/dev/sda', type: 'b', major: 8, minor: 0 }, { path: '/dev/kmsg', type: 'c', major: 1, minor: 11 }];
  const f = compile(deviceCgroupRules(spec([{ allow: false, access: 'rwm' }], nodes)) as LinuxDeviceCgroup[]);
  check(f, ['b 8:0 m', 'c 1:3 rw'], ['b 8:0 r', 'c 1:11 w', 'c 1:11 r']);
  const granted = compile(deviceCgroupRules(spec([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 11, access: 'r' }], nodes)) as LinuxDeviceCgroup[]);
  check(granted, ['c 1:11 r'], ['c 1:11 w', 'b 8:0 r']);
});

test('Docker-like rule set: deny all, mknod everywhere, a few devices, a read-only device, a pts range', () => {
  const f = compile([
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', access: 'm' },
    { allow: true, type: 'b', access: 'm' },
    { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
    { allow: true, type: 'c', major: 136, access: 'rwm' },
    { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
    { allow: true, type: 'b', major: 7, minor: 0, access: 'r' }, // --device /dev/loop0:/dev/loop0:r
    { allow: true, type: 'c', major: 10, minor: 200, access: 'rw' },
  ]);
  check(f, ['c 1:3 rw', 'c 136:9 rw', 'c 5:1 w', 'b 7:0 r', 'b 7:0 m', 'c 10:200 rw', 'c 10:200 m', 'b 99:1 m'],
    ['b 7:0 w', 'b 7:0 rw', 'b 7:1 r', 'c 1:5 r', 'c 135:0 r', 'c 137:0 r', 'b 136:0 r', 'c 10:201 r']);
});

test('wildcard majors and minors, block vs char', () => {
  const f = compile([
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', minor: 7, access: 'r' }, // c *:7 r
    { allow: true, type: 'b', major: 8, access: 'rw' }, // b 8:* rw
    { allow: true, type: 'c', major: 0, minor: 0, access: 'w' }, // zero is a number, not a wildcard
  ]);
  check(f, ['c 1:7 r', 'c 4000:7 r', 'b 8:0 rw', 'b 8:4095 w', 'c 0:0 w'],
    ['c 1:7 w', 'b 1:7 r', 'c 1:8 r', 'b 8:0 m', 'c 8:0 r', 'b 9:0 r', 'c 0:0 r', 'c 0:1 w', 'c 1:0 w']);
});

test('access subsets: rw allowed but not m; partial coverage is not enough', () => {
  const f = compile([
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' },
    { allow: true, type: 'c', major: 1, minor: 5, access: 'r' },
    { allow: true, type: 'c', major: 1, minor: 5, access: 'w' }, // merged: c 1:5 rw
    { allow: true, type: 'c', major: 1, access: 'r' },
    { allow: true, type: 'c', minor: 9, access: 'w' },
  ]);
  check(f, ['c 1:3 r', 'c 1:3 w', 'c 1:3 rw', 'c 1:5 rw', 'c 1:9 r', 'c 1:9 w', 'c 2:9 w'],
    ['c 1:3 m', 'c 1:3 rm', 'c 1:5 m', 'c 1:9 rw', 'c 1:9 m', 'c 2:9 r']);
});

test('allow all and deny all', () => {
  const all = compile([{ allow: true, access: 'rwm' }]);
  assert.equal(all.allowsAll, true);
  assert.equal(all.insnCount, 8);
  check(all, ['c 1:3 rwm', 'b 8:0 rw', 'c 4095:1048575 m'], []);
  const none = compile([{ allow: false, access: 'rwm' }]);
  assert.equal(none.allowsAll, false);
  check(none, [], ['c 1:3 r', 'b 8:0 m', 'c 0:0 w']);
  const empty = compile([]);
  check(empty, [], ['c 1:3 r', 'b 8:0 m']);
  // An "a" rule resets whatever came before, and its access letters do not matter.
  check(compile([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, access: 'r' }]), ['b 8:0 rwm'], []);
});

test('black-list: allow all, then denies; a deny takes effect as soon as one requested access is in it', () => {
  const f = compile([
    { allow: true, access: 'rwm' },
    { allow: false, type: 'b', major: 8, access: 'rwm' },
    { allow: false, type: 'c', major: 1, minor: 3, access: 'w' },
  ]);
  assert.equal(f.allowsAll, false);
  check(f, ['c 1:3 r', 'c 1:3 m', 'c 1:5 rw', 'b 9:0 rw', 'c 8:0 rw'], ['b 8:0 r', 'b 8:3 m', 'c 1:3 w', 'c 1:3 rw', 'c 1:3 rwm']);
});

test('last rule wins on the same device; a deny after an allow removes exactly that access', () => {
  const f = compile([
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
    { allow: false, type: 'c', major: 1, minor: 3, access: 'w' },
    { allow: true, type: 'c', major: 1, minor: 5, access: 'r' },
    { allow: false, type: 'c', major: 1, minor: 5, access: 'r' },
    { allow: true, type: 'c', major: 1, minor: 5, access: 'rw' },
    { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
    { allow: false, type: 'c', major: 1, minor: 7, access: 'rwm' },
  ]);
  check(f, ['c 1:3 r', 'c 1:3 rm', 'c 1:5 rw'], ['c 1:3 w', 'c 1:3 rw', 'c 1:5 m', 'c 1:7 r', 'c 1:7 m']);
  assert.equal(f.insnCount, 6 + 8 + 8 + 2, 'c 1:7 leaves no block behind');
});

test('refused as runc refuses: holes in a wildcard exception, bad numbers, bad types and access', () => {
  assert.throws(() => compile([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'r' }]),
    /cannot punch hole in existing wildcard rule "c \*:\* rwm"/);
  assert.throws(() => compile([{ allow: true, access: 'rwm' }, { allow: false, type: 'c', major: 1, access: 'w' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }]),
    /unable to remove 'deny' exception.*cannot punch hole in existing wildcard rule "c 1:\* w"/);
  assert.throws(() => compile([{ allow: true, type: 'c', major: 2 ** 32, minor: 1, access: 'r' }]), /invalid device major 4294967296/);
  assert.throws(() => compile([{ allow: true, type: 'c', major: 1, minor: -2, access: 'r' }]), /invalid device minor -2/);
  assert.throws(() => compile([{ allow: true, type: 'p', access: 'r' }]), /invalid cgroup device type "p"/);
  // runc's v2 filter refuses a letter other than r, w, m (its v1 driver drops it), naming the rune's number.
  assert.throws(() => compile([{ allow: true, type: 'c', access: 'rx' }]), /^TsrunError: unknown device access 120$/);
  // Disjoint access is fine: the wildcard has m, the hole is in r.
  check(compile([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', access: 'm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }]),
    ['c 1:3 r', 'c 9:9 m'], ['c 1:3 w']);
});

test('numbers from 2^31 up are compared as unsigned 32-bit values', () => {
  const f = compile([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 0xffffffff, minor: 0x80000000, access: 'r' }]);
  check(f, ['c 4294967295:2147483648 r'], ['c 4294967295:0 r', 'c 2147483647:2147483648 r', 'c 4294967295:2147483647 r']);
});

// ---- a reference model and random rule lists ----

type Verdict = boolean | 'error';

/**
 * The rule semantics written as plainly as possible, query by query: the last "a" rule sets
 * the default; each exact (type, major, minor) entry collects the access its later rules add
 * (opposite of the default) or remove (same as the default). A white-list allows a request
 * when one matching entry covers all of it; a black-list denies it when any matching entry has
 * one of its bits. Removing access that a wider wildcard entry still holds is an error.
 */
function reference(rules: DeviceRule[], q: { type: 'b' | 'c'; major: bigint; minor: bigint; access: number }): Verdict {
  const segments: { mode: boolean; rules: DeviceRule[] }[] = [{ mode: false, rules: [] }];
  for (const r of rules) {
    if (r.type === 'a') segments.push({ mode: r.allow, rules: [] });
    else segments[segments.length - 1]!.rules.push(r);
  }
  const entry = (seg: { mode: boolean; rules: DeviceRule[] }, upto: number, t: string, major: bigint, minor: bigint) => {
    let perms = 0;
    for (const r of seg.rules.slice(0, upto)) {
      if (r.type !== t || r.major !== major || r.minor !== minor) continue;
      perms = r.allow !== seg.mode ? perms | bits(r.access) : perms & ~bits(r.access);
    }
    return perms;
  };
  for (const seg of segments) {
    for (const [i, r] of seg.rules.entries()) {
      if (r.allow !== seg.mode) continue;
      const wider: [bigint, bigint][] = [[-1n, r.minor], [r.major, -1n], [-1n, -1n]];
      for (const [ma, mi] of wider) {
        if (ma === r.major && mi === r.minor) continue;
        if (entry(seg, i, r.type, ma, mi) & bits(r.access)) return 'error';
      }
    }
  }
  const last = segments[segments.length - 1]!;
  const n = last.rules.length;
  const matching = [[q.major, q.minor], [-1n, q.minor], [q.major, -1n], [-1n, -1n]].map(([ma, mi]) => entry(last, n, q.type, ma!, mi!));
  if (!last.mode) return matching.some((p) => (q.access & ~p) === 0);
  return !matching.some((p) => (p & q.access) !== 0);
}

function rng(seed: number) {
  let s = seed >>> 0;
  return (k: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.floor((s / 2 ** 32) * k);
  };
}

test('random rule lists: the program agrees with the reference model on every request', () => {
  const rand = rng(20261122);
  const majors = [-1, -1, 0, 1, 5, 136, 0xffffffff];
  const minors = [-1, -1, 0, 3, 5, 0x80000000];
  let programs = 0, errors = 0, queries = 0;
  for (let round = 0; round < 300; round++) {
    const list: LinuxDeviceCgroup[] = [];
    const len = 1 + rand(10);
    for (let i = 0; i < len; i++) {
      const t = i > 0 && rand(8) === 0 ? 'a' : ['b', 'c', 'c'][rand(3)]!;
      if (i === 0 && rand(3) > 0) {
        list.push({ allow: rand(3) === 0, access: 'rwm' });
        continue;
      }
      list.push({ allow: rand(2) === 1, type: t, major: majors[rand(majors.length)], minor: minors[rand(minors.length)], access: ['r', 'w', 'm', 'rw', 'rm', 'wm', 'rwm'][rand(7)] });
    }
    const rules = rulesOf(list);
    const probe = { type: 'c' as const, major: 1n, minor: 3n, access: 2 };
    const expectError = reference(rules, probe) === 'error';
    let f: DeviceFilter;
    try {
      f = generateDeviceFilter(rules);
    } catch (err) {
      assert.equal(expectError, true, `${JSON.stringify(list)}: ${(err as Error).message}`);
      errors++;
      continue;
    }
    assert.equal(expectError, false, `${JSON.stringify(list)} should be refused`);
    programs++;
    for (let k = 0; k < 40; k++) {
      const pick = <T>(xs: T[]) => xs[rand(xs.length)]!;
      const num = (xs: number[]) => (rand(4) === 0 ? rand(0x100000) : pick(xs.filter((x) => x >= 0)));
      const q = { type: pick(['b', 'c'] as const), major: BigInt(num(majors)), minor: BigInt(num(minors)), access: 1 + rand(7) };
      const want = reference(rules, q);
      const got = runEbpf(f.program, { type: q.type === 'b' ? 1 : 2, access: q.access, major: Number(q.major), minor: Number(q.minor) }).value === 1n;
      assert.equal(got, want, `${JSON.stringify(list)} on ${q.type} ${q.major}:${q.minor} access ${q.access}\n${disassemble(f.program)}`);
      queries++;
    }
  }
  // The generator of cases must exercise both outcomes, or the test proves little.
  assert.ok(programs > 150 && errors > 10 && queries > 6000, `${programs} programs, ${errors} refusals, ${queries} queries`);
});

test('the emulator reads devices.list back and computes minimal transitions', () => {
  const list = 'c 1:3 rwm\nc 136:* rwm\nb *:* m\n';
  const cur = DeviceEmulator.fromList(list);
  assert.equal(cur.isBlacklist(), false);
  const target = DeviceEmulator.fromRules(rulesOf([
    { allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }, { allow: true, type: 'b', access: 'm' }, { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  ]));
  const text = (rs: DeviceRule[]) => rs.map((r) => `${r.allow ? 'allow' : 'deny'} ${r.type} ${r.major === -1n ? '*' : r.major}:${r.minor === -1n ? '*' : r.minor} ${r.access}`);
  assert.deepEqual(text(cur.transition(target)), ['deny c 1:3 m', 'deny c 136:* rwm', 'allow c 1:5 rwm']);
  assert.deepEqual(text(target.transition(target)), [], 'nothing to do');
  // From allow-all (what devices.list shows for a black-list), a reset is unavoidable.
  assert.deepEqual(text(DeviceEmulator.fromList('a *:* rwm\n').transition(target)).slice(0, 1), ['deny a *:* rwm']);
  // To allow-all: one "allow a", never a deny in between.
  assert.deepEqual(text(cur.transition(DeviceEmulator.fromRules(rulesOf([{ allow: true, access: 'rwm' }])))), ['allow a *:* rwm']);
  assert.throws(() => DeviceEmulator.fromList('x 1:3 rwm\n'), /unknown device type "x"/);
});
