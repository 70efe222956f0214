// bench/seccomp: Docker's default profile compiled by tsrun against the program libseccomp
// (Debian's python3-seccomp) builds for it: program length, BPF instructions executed per
// syscall (counted by the test interpreter), and tsrun's compile time.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileSeccomp, AUDIT_ARCH_X86_64 } from '../runtime/seccomp/compile.js';
import { syscallsX86_64 } from '../runtime/seccomp/syscalls-x86_64.js';
import { runBpf, fromHex } from '../test/helpers/bpf-interpreter.js';
import type { LinuxSeccomp } from '../runtime/spec/types.js';

const repo = join(__dirname, '..', '..');
const profile = JSON.parse(readFileSync(join(repo, 'test/fixtures/docker-default-seccomp.json'), 'utf8')) as LinuxSeccomp;

const t0 = performance.now();
const first = compileSeccomp(profile);
const firstMs = performance.now() - t0;
// A child only measures its first call: the parent reports the median over fresh processes,
// one process alone being at the mercy of whatever else the machine runs.
if (process.env.TSRUN_BENCH_FIRST_CALL) {
  process.stdout.write(`${firstMs}\n`);
  process.exit(0);
}
const firsts = Array.from({ length: 15 }, () => Number(spawnSync(process.execPath, [__filename], { env: { ...process.env, TSRUN_BENCH_FIRST_CALL: '1' }, encoding: 'utf8' }).stdout))
  .sort((a, b) => a - b);
const warm: number[] = [];
for (let i = 0; i < 200; i++) {
  const t = performance.now();
  compileSeccomp(profile);
  warm.push(performance.now() - t);
}
warm.sort((a, b) => a - b);

const py = spawnSync('/usr/bin/python3', [join(repo, 'test/helpers/libseccomp-bpf.py')], { input: JSON.stringify([profile]), encoding: 'utf8' });
const lib = py.status === 0 ? fromHex(py.stdout.trim().split('\n')[0]) : undefined;

const table = syscallsX86_64();
const common = ['read', 'write', 'futex', 'epoll_wait', 'epoll_pwait', 'openat', 'close', 'mmap', 'fstat', 'recvfrom', 'sendto', 'clock_gettime', 'getpid', 'ioctl'];
const steps = (program: Buffer, nr: number) => runBpf(program, { nr, arch: AUDIT_ARCH_X86_64, args: [0n, 0n, 0n, 0n, 0n, 0n] }).steps;

console.log(`bench/seccomp: Docker's default profile (${profile.syscalls?.reduce((n, s) => n + s.names.length, 0)} names, ${profile.architectures?.join(',')})`);
console.log(`compile: first call in a fresh process ${firsts[7]!.toFixed(2)} ms (median of 15; min ${firsts[0]!.toFixed(2)}, max ${firsts[14]!.toFixed(2)}), warm median ${warm[100]!.toFixed(3)} ms`);
console.log(`program length: tsrun ${first.program.length / 8} instructions` + (lib ? `, libseccomp ${lib.length / 8}` : ', libseccomp: python3-seccomp missing'));
console.log('syscall'.padEnd(16) + 'tsrun'.padStart(8) + 'libseccomp'.padStart(12));
for (const name of common) {
  const nr = table[name];
  if (nr === undefined) continue;
  console.log(name.padEnd(16) + String(steps(first.program, nr)).padStart(8) + (lib ? String(steps(lib, nr)).padStart(12) : ''));
}
const allowed = [...new Set(profile.syscalls!.flatMap((s) => s.names).map((n) => table[n]).filter((n): n is number => n !== undefined))];
const avg = (program: Buffer) => allowed.reduce((sum, nr) => sum + steps(program, nr), 0) / allowed.length;
console.log(`average over the ${allowed.length} named syscalls: tsrun ${avg(first.program).toFixed(1)}` + (lib ? `, libseccomp ${avg(lib).toFixed(1)}` : ''));
