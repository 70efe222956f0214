import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileSeccomp, AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, SECCOMP_RET } from '../../runtime/seccomp/compile.js';
import { syscallsX86_64, syscallsX32, syscallsI386 } from '../../runtime/seccomp/syscalls-x86_64.js';

const SYSCALLS_X86_64 = syscallsX86_64();
const SYSCALLS_X32 = syscallsX32();
const SYSCALLS_I386 = syscallsI386();
import type { LinuxSeccomp, LinuxSeccompArg } from '../../runtime/spec/types.js';
import { runBpf } from '../helpers/bpf-interpreter.js';

const REPO = join(__dirname, '..', '..', '..');
const NR = SYSCALLS_X86_64;
const ALLOW = SECCOMP_RET.ALLOW;
const errno = (e: number) => (SECCOMP_RET.ERRNO | e) >>> 0;

function run(p: LinuxSeccomp | Buffer, nr: number, args: bigint[] = [], arch = AUDIT_ARCH_X86_64): number {
  const program = Buffer.isBuffer(p) ? p : compileSeccomp(p).program;
  return runBpf(program, { nr, arch, args }).value;
}

function withArg(op: LinuxSeccompArg['op'], value: number, valueTwo?: number): LinuxSeccomp {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 22, args: [{ index: 2, op, value, ...(valueTwo !== undefined ? { valueTwo } : {}) }] }],
  };
}

test('the table is the kernel one', () => {
  assert.equal(NR.read, 0);
  assert.equal(NR.write, 1);
  assert.equal(NR.mkdirat, 258);
  assert.equal(NR.personality, 135);
  assert.equal(SYSCALLS_X32.read, 0x40000000);
  assert.equal(SYSCALLS_I386.personality, 136);
  assert.equal(Object.hasOwn(NR, 'constructor'), false);
});

test('actions have the kernel values', () => {
  const cases: [LinuxSeccomp['defaultAction'], number | undefined, number][] = [
    ['SCMP_ACT_KILL', undefined, 0], ['SCMP_ACT_KILL_THREAD', undefined, 0], ['SCMP_ACT_KILL_PROCESS', undefined, 0x80000000],
    ['SCMP_ACT_TRAP', undefined, 0x30000], ['SCMP_ACT_ERRNO', undefined, 0x50001], ['SCMP_ACT_ERRNO', 13, 0x5000d],
    ['SCMP_ACT_TRACE', undefined, 0x7ff00001], ['SCMP_ACT_TRACE', 7, 0x7ff00007], ['SCMP_ACT_ALLOW', undefined, 0x7fff0000],
    ['SCMP_ACT_LOG', undefined, 0x7ffc0000],
  ];
  for (const [action, e, want] of cases) {
    assert.equal(run({ defaultAction: action, defaultErrnoRet: e }, NR.read), want, `default ${action}`);
    const p: LinuxSeccomp = { defaultAction: action === 'SCMP_ACT_ALLOW' ? 'SCMP_ACT_KILL' : 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action, errnoRet: e }] };
    assert.equal(run(p, NR.read), want, `rule ${action}`);
    assert.equal(run(p, NR.write), action === 'SCMP_ACT_ALLOW' ? 0 : ALLOW);
  }
});

test('foreign arches get the bad-arch action (kill), x32 numbers too unless SCMP_ARCH_X32 is listed', () => {
  const p: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'personality'], action: 'SCMP_ACT_ALLOW' }] };
  assert.equal(run(p, NR.read), ALLOW);
  assert.equal(run(p, NR.write), errno(1));
  assert.equal(run(p, 0, [], AUDIT_ARCH_I386), 0);
  assert.equal(run(p, 0, [], 0xc00000b7 /* aarch64 */), 0);
  assert.equal(run(p, 0x40000000), 0);
  assert.equal(run(p, 0x40000000 + 135), 0);
  assert.equal(run(p, 0xffffffff), errno(1), 'nr -1 is not taken for x32');
  const multi: LinuxSeccomp = { ...p, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64'] };
  assert.equal(run(multi, SYSCALLS_X32.read!), ALLOW);
  assert.equal(run(multi, SYSCALLS_X32.write!), errno(1));
  assert.equal(run(multi, SYSCALLS_I386.read!, [], AUDIT_ARCH_I386), ALLOW);
  assert.equal(run(multi, SYSCALLS_I386.personality!, [], AUDIT_ARCH_I386), ALLOW);
  assert.equal(run(multi, NR.personality!, [], AUDIT_ARCH_I386), errno(1)); // 135 is sysfs on i386
  assert.equal(run(multi, 0, [], 0xc00000b7), 0);
});

test('each operator at 32- and 64-bit boundaries', () => {
  const M32 = 0xffffffff, B = 2 ** 32;
  const values = [0, 1, 5, M32 - 1, M32, B, B + 1, B + 5, 2 * B + 5, 2 ** 52, 2 ** 53 - 1];
  const probes = new Set<bigint>([0n, 1n, 2n, 0xffffffffn, 0x100000000n, 0xffffffffffffffffn, 0x8000000000000000n]);
  for (const v of values) for (const d of [-1n, 0n, 1n]) { const x = BigInt(v) + d; if (x >= 0n) probes.add(x); probes.add(BigInt(v) + (1n << 32n)); probes.add(BigInt(v) ^ (1n << 32n)); }
  const cmp: Record<string, (a: bigint, v: bigint) => boolean> = {
    SCMP_CMP_EQ: (a, v) => a === v, SCMP_CMP_NE: (a, v) => a !== v, SCMP_CMP_LT: (a, v) => a < v,
    SCMP_CMP_LE: (a, v) => a <= v, SCMP_CMP_GT: (a, v) => a > v, SCMP_CMP_GE: (a, v) => a >= v,
  };
  for (const [op, f] of Object.entries(cmp)) {
    for (const v of values) {
      const prog = compileSeccomp(withArg(op as LinuxSeccompArg['op'], v)).program;
      for (const a of probes) {
        const a64 = BigInt.asUintN(64, a);
        const got = runBpf(prog, { nr: NR.personality!, arch: AUDIT_ARCH_X86_64, args: [0n, 0n, a64] }).value;
        assert.equal(got, f(a64, BigInt(v)) ? errno(22) : ALLOW, `${op} ${a64} vs ${v}`);
      }
    }
  }
  for (const [mask, datum] of [[0xff, 0x12], [2114060288, 0], [0xffffffff, 0xffffffff], [B * 3 + 1, B + 1], [B, 0], [0xf0, 0x0f]] as const) {
    const prog = compileSeccomp(withArg('SCMP_CMP_MASKED_EQ', mask, datum)).program;
    for (const a of [...probes, 0x12n, 0x112n, 0x100000001n, 0x300000001n, 0x10000000n]) {
      const got = runBpf(prog, { nr: NR.personality!, arch: AUDIT_ARCH_X86_64, args: [0n, 0n, a] }).value;
      // datum bits outside the mask are ignored, as libseccomp does
      assert.equal(got, (a & BigInt(mask)) === (BigInt(datum) & BigInt(mask)) ? errno(22) : ALLOW, `masked ${a} & ${mask} == ${datum}`);
    }
  }
});

test('conditions are ANDed within a rule, rules are ORed, the first match wins', () => {
  const p: LinuxSeccomp = {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [
      { names: ['ioctl'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, op: 'SCMP_CMP_EQ', value: 1 }, { index: 1, op: 'SCMP_CMP_GT', value: 10 }] },
      { names: ['ioctl'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, op: 'SCMP_CMP_EQ', value: 7 }] },
      { names: ['ioctl'], action: 'SCMP_ACT_TRAP', args: [{ index: 1, op: 'SCMP_CMP_EQ', value: 3 }] },
    ],
  };
  assert.equal(run(p, NR.ioctl!, [1n, 11n]), ALLOW);
  assert.equal(run(p, NR.ioctl!, [1n, 10n]), errno(1));
  assert.equal(run(p, NR.ioctl!, [2n, 11n]), errno(1));
  assert.equal(run(p, NR.ioctl!, [7n, 0n]), ALLOW);
  assert.equal(run(p, NR.ioctl!, [7n, 3n]), ALLOW);
  assert.equal(run(p, NR.ioctl!, [8n, 3n]), SECCOMP_RET.TRAP);
  assert.equal(run(p, NR.read!), errno(1));
});

test('unknown names are skipped with a warning; rules with the default action are dropped', () => {
  const r = compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read', 'no_such_call'], action: 'SCMP_ACT_ALLOW' }, { names: ['write', 'also_bogus'], action: 'SCMP_ACT_KILL' }] });
  assert.deepEqual(r.warnings.map((w) => /"(\w+)"/.exec(w)![1]), ['also_bogus']);
  assert.equal(run(r.program, NR.write!), 0);
  assert.equal(run(r.program, NR.read!), ALLOW);
});

test('flags, NOTIFY and bad input', () => {
  const all: LinuxSeccomp['flags'] = ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'];
  // WAIT_KILLABLE_RECV only with a listener (the kernel refuses it alone)
  assert.equal(compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: all }).flags, 1 | 2 | 4);
  assert.equal(compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW' }).flags, 0);
  // a NOTIFY rule: NEW_LISTENER, and TSYNC_ESRCH with TSYNC
  const notify = { defaultAction: 'SCMP_ACT_ALLOW' as const, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' as const }] };
  assert.equal(compileSeccomp(notify).flags, 8);
  assert.equal(compileSeccomp({ ...notify, flags: all }).flags, 1 | 2 | 4 | 8 | 16 | 32);
  assert.equal(run(compileSeccomp(notify).program, NR.mkdir!), SECCOMP_RET.USER_NOTIF);
  assert.equal(run(compileSeccomp(notify).program, NR.read!), ALLOW);
  assert.throws(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_NOTIFY' }] }), /SCMP_ACT_NOTIFY cannot be used for the write syscall/);
  assert.throws(() => compileSeccomp({ defaultAction: 'SCMP_ACT_NOTIFY' }), /SCMP_ACT_NOTIFY cannot be used as default action/);
  assert.throws(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['BOGUS' as any] }), /unknown flag "BOGUS"/);
  assert.throws(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_KILL', args: [{ index: 6, op: 'SCMP_CMP_EQ', value: 1 }] }] }), /index 6/);
  assert.throws(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_KILL', args: [{ index: 0, op: 'SCMP_CMP_BOGUS' as any, value: 1 }] }] }), /unknown seccomp operator/);
});

test('long jumps: hundreds of conditioned rules stay correct', () => {
  const names = Object.keys(NR).slice(0, 300);
  const p: LinuxSeccomp = {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: names.map((n, i) => ({ names: [n], action: 'SCMP_ACT_ALLOW' as const, args: [{ index: i % 6, op: 'SCMP_CMP_EQ' as const, value: i }] })),
  };
  const { program } = compileSeccomp(p);
  assert.ok(program.length / 8 > 1000, `length ${program.length / 8}`);
  let far = 0;
  for (let i = 0; i < program.length; i += 8) if (program.readUInt16LE(i) === 0x05 && program.readUInt32LE(i + 4) > 255) far++;
  assert.ok(far > 0, 'some jumps are long');
  names.forEach((n, i) => {
    const args = [0n, 0n, 0n, 0n, 0n, 0n]; args[i % 6] = BigInt(i);
    assert.equal(run(program, NR[n]!, args), ALLOW, n);
    args[i % 6] = BigInt(i) + (1n << 32n);
    assert.equal(run(program, NR[n]!, args), errno(1), n);
  });
});

test('programs over 4096 instructions are refused', () => {
  const names = Object.keys(NR);
  const p: LinuxSeccomp = {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: names.map((n) => ({ names: [n], action: 'SCMP_ACT_ALLOW' as const, args: [0, 1, 2].map((index) => ({ index, op: 'SCMP_CMP_GE' as const, value: 1 })) })),
  };
  assert.throws(() => compileSeccomp(p), /too large: \d+ BPF instructions, the kernel accepts at most 4096/);
});

test("Docker's default profile: size, speed, dispatch cost", () => {
  const docker = JSON.parse(readFileSync(join(REPO, 'test/fixtures/docker-default-seccomp.json'), 'utf8')) as LinuxSeccomp;
  compileSeccomp(docker);
  const t0 = process.hrtime.bigint();
  const N = 50;
  let r;
  for (let i = 0; i < N; i++) r = compileSeccomp(docker);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / N;
  const steps = (nr: number, args: bigint[] = []) => runBpf(r!.program, { nr, arch: AUDIT_ARCH_X86_64, args }).steps;
  console.log(`docker default: ${r!.program.length / 8} instructions, ${ms.toFixed(3)} ms/compile, steps read=${steps(NR.read!)} write=${steps(NR.write!)} futex=${steps(NR.futex!)} clone=${steps(NR.clone!, [0x11n])}; ${r!.warnings.length} unknown names`);
  assert.equal(run(r!.program, NR.read!), ALLOW);
  assert.equal(run(r!.program, NR.mount!), errno(1));
  assert.equal(run(r!.program, NR.clone3!), errno(38));
  assert.equal(run(r!.program, NR.clone!, [0x10000000n]), errno(1));
  assert.equal(run(r!.program, NR.clone!, [0x11n]), ALLOW);
  assert.equal(run(r!.program, NR.personality!, [0xffffffffn]), ALLOW);
  assert.equal(run(r!.program, NR.personality!, [0x1n]), errno(1));
  assert.equal(run(r!.program, NR.socket!, [40n]), errno(1));
  assert.equal(run(r!.program, SYSCALLS_I386.socketcall!, [], AUDIT_ARCH_I386), ALLOW);
  assert.equal(run(r!.program, SYSCALLS_X32.read!), ALLOW);
});

test("runc's ENOSYS stub: syscalls above the profile's highest, per listed arch, unless the default lets through", () => {
  const ENOSYS = errno(38);
  const base: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'openat', 'getppid'], action: 'SCMP_ACT_ALLOW' }] };
  // No architectures listed: no stub.
  assert.equal(run(base, NR.openat! + 1), errno(1));
  const listed: LinuxSeccomp = { ...base, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] };
  assert.equal(run(listed, NR.openat!), ALLOW);
  assert.equal(run(listed, NR.openat! - 1), errno(1));
  assert.equal(run(listed, NR.openat! + 1), ENOSYS);
  assert.equal(run(listed, 0x3fffffff), ENOSYS);
  assert.equal(run(listed, 0x80000000), ENOSYS);
  assert.equal(run(listed, SYSCALLS_X32.openat!), ALLOW);
  assert.equal(run(listed, SYSCALLS_X32.openat! + 1), ENOSYS);
  assert.equal(run(listed, 0xffffffff), ENOSYS);
  assert.equal(run(listed, SYSCALLS_I386.openat!, [], AUDIT_ARCH_I386), ALLOW);
  assert.equal(run(listed, SYSCALLS_I386.openat! + 1, [], AUDIT_ARCH_I386), ENOSYS);
  // The highest number counts every rule, even one dropped for having the default action.
  const withDefault: LinuxSeccomp = { ...listed, syscalls: [...listed.syscalls!, { names: ['pidfd_open'], action: 'SCMP_ACT_ERRNO' }] };
  assert.equal(run(withDefault, NR.openat! + 1), errno(1));
  assert.equal(run(withDefault, NR.pidfd_open!), errno(1));
  assert.equal(run(withDefault, NR.pidfd_open! + 1), ENOSYS);
  for (const d of ['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE'] as const) {
    const p: LinuxSeccomp = { defaultAction: d, architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['read'], action: 'SCMP_ACT_KILL' }] };
    assert.notEqual(run(p, 400), ENOSYS, d);
  }
  assert.equal(run({ defaultAction: 'SCMP_ACT_KILL_PROCESS', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['write'], action: 'SCMP_ACT_ALLOW' }] }, 400), ENOSYS);
  // as runc: a highest number of 0 (only read) means no stub
  assert.equal(run({ defaultAction: 'SCMP_ACT_KILL_PROCESS', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] }, 400), 0x80000000);
});

test('as runc, conditions that share an argument are ORed as separate rules', () => {
  const p: LinuxSeccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['ioctl'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, op: 'SCMP_CMP_GT', value: 10 }, { index: 1, op: 'SCMP_CMP_LT', value: 5 }] }],
  };
  assert.equal(run(p, NR.ioctl!, [0n, 11n]), errno(1));
  assert.equal(run(p, NR.ioctl!, [0n, 4n]), errno(1));
  assert.equal(run(p, NR.ioctl!, [0n, 7n]), ALLOW);
});

test('errno values libseccomp refuses (4095 and up) are refused, for rules and the default', () => {
  assert.throws(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['lseek'], action: 'SCMP_ACT_ERRNO', errnoRet: 4095 }] }), /errnoRet 4095 is out of range/);
  assert.throws(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 5000 }), /errnoRet 5000 is out of range/);
  assert.doesNotThrow(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['lseek'], action: 'SCMP_ACT_ERRNO', errnoRet: 4094 }] }));
  assert.doesNotThrow(() => compileSeccomp({ defaultAction: 'SCMP_ACT_TRACE', defaultErrnoRet: 65535 }));
});

test("libseccomp 2.5.4's x32 quirk: a conditioned syscall x32 lacks, fewest nodes, leaves every x86_64 syscall to the default", () => {
  const nfs = { names: ['nfsservctl'], action: 'SCMP_ACT_ALLOW' as const, args: [{ index: 0, op: 'SCMP_CMP_EQ' as const, value: 1 }] };
  const p: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'], syscalls: [nfs] };
  assert.equal(run(p, NR.nfsservctl!, [1n]), errno(1));
  // runc's stub, in front of libseccomp's program, still answers ENOSYS above nfsservctl
  assert.equal(run(p, NR.nfsservctl! + 1), errno(38));
  assert.equal(run(p, NR.read!), errno(1));
  // without x32, or with a rule of fewer nodes (an unconditional one), the rule works
  assert.equal(run({ ...p, architectures: ['SCMP_ARCH_X86_64'] }, NR.nfsservctl!, [1n]), ALLOW);
  const other = { ...p, syscalls: [nfs, { names: ['read'], action: 'SCMP_ACT_ALLOW' as const }] };
  assert.equal(run(other, NR.nfsservctl!, [1n]), ALLOW);
  assert.equal(run(other, NR.read!), ALLOW);
  // an x32 syscall with as few nodes sorts before the pseudo-syscall: no quirk
  const tie = { ...p, syscalls: [nfs, { names: ['read'], action: 'SCMP_ACT_ALLOW' as const, args: [{ index: 0, op: 'SCMP_CMP_GT' as const, value: 1 }] }] };
  assert.equal(run(tie, NR.nfsservctl!, [1n]), ALLOW);
});
