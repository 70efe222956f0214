// Compiles an OCI linux.seccomp profile into a classic BPF program for an x86_64 kernel.
//
// Layout (forward order): load arch; per supported arch a section that loads nr and dispatches
// with a balanced binary search over the sorted syscall numbers; per syscall its rules in order
// (conditions ANDed, rules ORed, the first matching rule's action wins), then the default action.
// The program is emitted backwards so that every jump target already has a known position; a
// conditional jump whose target is more than 255 instructions away goes through a BPF_JA
// trampoline, whose offset is 32 bits.
import { TsrunError } from '../errors.js';
import type { LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFlag, LinuxSyscall } from '../spec/types.js';
import { syscallTables } from './syscalls-x86_64.js';

export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_I386 = 0x40000003;
export const X32_SYSCALL_BIT = 0x40000000;
export const BPF_MAXINSNS = 4096;

export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

export const SECCOMP_FILTER_FLAGS: Record<LinuxSeccompFlag, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
};

/** Not settable in a profile: added when a rule notifies (as runc does), with TSYNC_ESRCH if TSYNC. */
export const SECCOMP_FILTER_FLAG_NEW_LISTENER = 8;
const SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 16;

export const SUPPORTED_ACTIONS: LinuxSeccompAction[] = [
  'SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY', 'SCMP_ACT_TRACE', 'SCMP_ACT_TRAP',
];
export const SUPPORTED_OPERATORS = ['SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_LE', 'SCMP_CMP_LT', 'SCMP_CMP_MASKED_EQ', 'SCMP_CMP_NE'];
export const SUPPORTED_ARCHES = ['SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'];

const EPERM = 1;

// struct sock_filter opcodes
const LD_W_ABS = 0x20;
const ALU_AND_K = 0x54;
const JMP_JA = 0x05;
const JEQ_K = 0x15;
const JGT_K = 0x25;
const JGE_K = 0x35;
const RET_K = 0x06;

const OFF_NR = 0;
const OFF_ARCH = 4;
const argLo = (i: number) => 16 + 8 * i;
const argHi = (i: number) => 20 + 8 * i;

export interface SeccompCompileOptions {
  /** Returned for a syscall made with an arch the filter does not cover (libseccomp's default: kill). */
  badArchAction?: number;
}

export interface CompiledSeccomp {
  program: Buffer;
  flags: number;
  warnings: string[];
}

function popcount(v: number): number {
  let n = 0;
  for (; v; v &= v - 1) n++;
  return n;
}

/** The kernel return value of an action. */
export function actionValue(action: LinuxSeccompAction, errnoRet: number | undefined): number {
  switch (action) {
    case 'SCMP_ACT_KILL': case 'SCMP_ACT_KILL_THREAD': return SECCOMP_RET.KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS': return SECCOMP_RET.KILL_PROCESS;
    case 'SCMP_ACT_TRAP': return SECCOMP_RET.TRAP;
    case 'SCMP_ACT_ERRNO': {
      const errno = errnoRet ?? EPERM;
      // libseccomp refuses errno values from 4095 (MAX_ERRNO) up, so runc fails such a profile.
      if (errno > 4094) throw TsrunError.invalid(`seccomp errnoRet ${errno} is out of range: errno values above 4094 are refused (as libseccomp does)`);
      return (SECCOMP_RET.ERRNO | errno) >>> 0;
    }
    case 'SCMP_ACT_TRACE': return (SECCOMP_RET.TRACE | ((errnoRet ?? EPERM) & 0xffff)) >>> 0;
    case 'SCMP_ACT_ALLOW': return SECCOMP_RET.ALLOW;
    case 'SCMP_ACT_LOG': return SECCOMP_RET.LOG;
    case 'SCMP_ACT_NOTIFY': return SECCOMP_RET.USER_NOTIF;
    default: throw TsrunError.invalid(`unknown seccomp action "${action as string}"`);
  }
}

function split64(v: number): [hi: number, lo: number] {
  if (!Number.isInteger(v)) throw TsrunError.invalid(`seccomp argument value ${v} is not an integer`);
  const b = BigInt.asUintN(64, BigInt(v));
  return [Number(b >> 32n), Number(b & 0xffffffffn)];
}

/** Builds the program backwards: index 0 is the last instruction. */
class Emitter {
  rev: number[][] = [];
  private retCache = new Map<number, number>();

  get top(): number { return this.rev.length - 1; }
  /** Forward distance from an instruction pushed now to `target`. */
  private dist(target: number): number { return this.rev.length - target - 1; }

  ret(value: number): number {
    const at = this.retCache.get(value);
    if (at !== undefined && this.dist(at) <= 255) return at;
    this.rev.push([RET_K, 0, 0, value]);
    this.retCache.set(value, this.top);
    return this.top;
  }

  ja(target: number): number {
    if (target === this.top) return target;
    this.rev.push([JMP_JA, 0, 0, this.dist(target)]);
    return this.top;
  }

  /** An instruction that falls through to `next`. */
  linear(code: number, k: number, next: number): number {
    this.ja(next);
    this.rev.push([code, 0, 0, k >>> 0]);
    return this.top;
  }

  jump(code: number, k: number, t: number, f: number): number {
    if (t === f) return this.ja(t);
    while (this.dist(t) > 255 || this.dist(f) > 255) {
      if (this.dist(f) > 255) f = this.ja(f);
      else t = this.ja(t);
    }
    this.rev.push([code, this.dist(t), this.dist(f), k >>> 0]);
    return this.top;
  }

  program(): Buffer {
    const n = this.rev.length;
    // Two 32-bit words per struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}, in the host's
    // (x86_64: little-endian) order as the kernel reads it: a quarter of the stores of byte
    // writes, which matters when this runs once, interpreted.
    const words = new Uint32Array(n * 2);
    for (let i = 0, o = 0; i < n; i++, o += 2) {
      const ins = this.rev[n - 1 - i]!;
      words[o] = (ins[0]! | ins[1]! << 16 | ins[2]! << 24) >>> 0;
      words[o + 1] = ins[3]!;
    }
    return Buffer.from(words.buffer, words.byteOffset, words.byteLength);
  }
}

type Rule = { value: number; args: LinuxSeccompArg[] };

function checkArg(a: LinuxSeccompArg): void {
  if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5) throw TsrunError.invalid(`seccomp argument index ${a.index} is out of range 0..5`);
  if (!SUPPORTED_OPERATORS.includes(a.op)) throw TsrunError.invalid(`unknown seccomp operator "${a.op as string}"`);
  split64(a.value);
  if (a.valueTwo !== undefined) split64(a.valueTwo);
}

/**
 * Emits the test of one condition; returns its entry. For a 32-bit ABI (i386, x32) only the low
 * halves are compared, the value truncated to 32 bits, as libseccomp does.
 */
function condition(e: Emitter, a: LinuxSeccompArg, pass: number, fail: number, wide = true): number {
  if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5) throw TsrunError.invalid(`seccomp argument index ${a.index} is out of range 0..5`);
  const [vhi, vlo] = split64(a.value);
  const i = a.index;
  let lo: number;
  if (!wide) {
    const load = (next: number) => e.linear(LD_W_ABS, argLo(i), next);
    switch (a.op) {
      case 'SCMP_CMP_EQ': return load(e.jump(JEQ_K, vlo, pass, fail));
      case 'SCMP_CMP_NE': return load(e.jump(JEQ_K, vlo, fail, pass));
      case 'SCMP_CMP_GT': return load(e.jump(JGT_K, vlo, pass, fail));
      case 'SCMP_CMP_GE': return load(e.jump(JGE_K, vlo, pass, fail));
      case 'SCMP_CMP_LT': return load(e.jump(JGE_K, vlo, fail, pass));
      case 'SCMP_CMP_LE': return load(e.jump(JGT_K, vlo, fail, pass));
      case 'SCMP_CMP_MASKED_EQ': return load(e.linear(ALU_AND_K, vlo, e.jump(JEQ_K, (split64(a.valueTwo ?? 0)[1] & vlo) >>> 0, pass, fail)));
    }
  }
  switch (a.op) {
    case 'SCMP_CMP_EQ':
      lo = e.linear(LD_W_ABS, argLo(i), e.jump(JEQ_K, vlo, pass, fail));
      return e.linear(LD_W_ABS, argHi(i), e.jump(JEQ_K, vhi, lo, fail));
    case 'SCMP_CMP_NE':
      lo = e.linear(LD_W_ABS, argLo(i), e.jump(JEQ_K, vlo, fail, pass));
      return e.linear(LD_W_ABS, argHi(i), e.jump(JEQ_K, vhi, lo, pass));
    case 'SCMP_CMP_GT': case 'SCMP_CMP_GE': {
      lo = e.linear(LD_W_ABS, argLo(i), e.jump(a.op === 'SCMP_CMP_GT' ? JGT_K : JGE_K, vlo, pass, fail));
      const eq = e.jump(JEQ_K, vhi, lo, fail);
      return e.linear(LD_W_ABS, argHi(i), e.jump(JGT_K, vhi, pass, eq));
    }
    case 'SCMP_CMP_LT': case 'SCMP_CMP_LE': {
      lo = e.linear(LD_W_ABS, argLo(i), e.jump(a.op === 'SCMP_CMP_LT' ? JGE_K : JGT_K, vlo, fail, pass));
      const eq = e.jump(JEQ_K, vhi, lo, pass);
      return e.linear(LD_W_ABS, argHi(i), e.jump(JGT_K, vhi, fail, eq));
    }
    case 'SCMP_CMP_MASKED_EQ': {
      // As libseccomp: (arg & mask) == (datum & mask); datum bits outside the mask are ignored.
      let [dhi, dlo] = split64(a.valueTwo ?? 0);
      dhi = (dhi & vhi) >>> 0;
      dlo = (dlo & vlo) >>> 0;
      lo = e.linear(LD_W_ABS, argLo(i), e.linear(ALU_AND_K, vlo, e.jump(JEQ_K, dlo, pass, fail)));
      return e.linear(LD_W_ABS, argHi(i), e.linear(ALU_AND_K, vhi, e.jump(JEQ_K, dhi, lo, fail)));
    }
    default:
      throw TsrunError.invalid(`unknown seccomp operator "${a.op as string}"`);
  }
}

/** One syscall's rules, first match wins, then `fallback`. */
function syscallBody(e: Emitter, rules: Rule[], fallback: number, wide: boolean): number {
  let next = e.ret(fallback);
  for (let r = rules.length - 1; r >= 0; r--) {
    const rule = rules[r]!;
    let pass = e.ret(rule.value);
    for (let c = rule.args.length - 1; c >= 0; c--) pass = condition(e, rule.args[c]!, pass, next, wide);
    next = pass;
  }
  return next;
}

/**
 * One arch's syscalls, in typed arrays indexed by number - base (x32's numbers have bit 30 set):
 * no object per syscall, since this runs once per process, mostly interpreted.
 */
interface Section {
  base: number;
  wide: boolean;
  /** the highest number the profile names for this arch (runc's ENOSYS stub) */
  highest: number;
  /** 1 + the highest index that has rules; 0 leaves every syscall to the default */
  top: number;
  /** 1: a rule other than the default's names it */
  named: Uint8Array;
  /** its action when none of its conditioned rules matches */
  fallback: Uint32Array;
  /** its conditioned rules, first match wins */
  rules: (Rule[] | undefined)[];
  /** x86_64: 1 when x32 lacks the syscall (libseccomp gives it a negative number there) */
  pseudoX32: Uint8Array;
  /** the entries of the rule chains bodies() emitted */
  entries: Int32Array;
}

/** Every number of the three tables, less x32's bit 30, is below this. */
const SECTION_SIZE = 1024;

function newSection(base: number, wide: boolean): Section {
  return {
    base, wide, highest: 0, top: 0, named: new Uint8Array(SECTION_SIZE), fallback: new Uint32Array(SECTION_SIZE),
    rules: [], pseudoX32: new Uint8Array(SECTION_SIZE), entries: new Int32Array(SECTION_SIZE),
  };
}

/** Where a run of syscall numbers goes: a return value, or a syscall's rule chain. */
type Target = { value: number; body?: undefined } | { body: number; value?: undefined };
type Segment = { start: number; target: Target };

/** Cuts [0, 2^32) into runs of consecutive numbers that share a target. */
class Segments {
  list: Segment[] = [];
  private next = 0;

  add(start: number, target: Target): void {
    if (start !== this.next) throw new Error(`seccomp: segment at ${start}, expected ${this.next}`);
    const last = this.list[this.list.length - 1];
    if (!(last && last.target.value !== undefined && last.target.value === target.value)) this.list.push({ start, target });
    this.next = start + 1;
  }

  /** [start, end) all to `target`. */
  range(start: number, end: number, target: Target): void {
    if (end <= start) return;
    this.add(start, target);
    this.next = end;
  }

  /**
   * [s.base, end) dispatched over a section's syscalls; numbers without rules get the default,
   * those above `enosysAbove` ENOSYS (runc's stub for syscalls newer than the profile).
   */
  section(s: Section, end: number, defaultValue: number, enosysAbove?: number): void {
    if (this.next !== s.base) throw new Error(`seccomp: section at ${s.base}, expected ${this.next}`);
    const list = this.list;
    const last = list[list.length - 1];
    // One inlined pass, no call per syscall: -1 = the last segment is not a return value.
    let lastValue = last && last.target.value !== undefined ? last.target.value : -1;
    for (let k = 0; k < s.top; k++) {
      if (s.named[k] && s.rules[k]) {
        list.push({ start: s.base + k, target: { body: s.entries[k]! } });
        lastValue = -1;
        continue;
      }
      const v = s.named[k] ? s.fallback[k]! : defaultValue;
      if (v !== lastValue) {
        list.push({ start: s.base + k, target: { value: v } });
        lastValue = v;
      }
    }
    this.next = s.base + s.top;
    // Every number with rules is at most `highest`: the stub starts after them.
    if (enosysAbove !== undefined && enosysAbove + 1 >= this.next && enosysAbove + 1 < end) {
      this.range(this.next, enosysAbove + 1, { value: defaultValue });
      this.range(this.next, end, { value: ENOSYS_RET });
    } else this.range(this.next, end, { value: defaultValue });
  }
}

const ENOSYS_RET = (SECCOMP_RET.ERRNO | 38) >>> 0;

/** Emits the rule chains of a section's syscalls that have conditions. */
function bodies(e: Emitter, s: Section): void {
  for (let k = s.top - 1; k >= 0; k--) {
    const rules = s.rules[k];
    if (s.named[k] && rules) s.entries[k] = syscallBody(e, rules, s.fallback[k]!, s.wide);
  }
}

/**
 * A balanced binary search over the segment starts (nr loaded by the caller): ceil(log2(n))
 * compares. Runs of unconditionally allowed syscalls are common, so there are few segments.
 */
function dispatch(e: Emitter, segs: Segment[]): number {
  const target = (t: Target): number => t.body !== undefined ? t.body : e.ret(t.value);
  const tree = (lo: number, hi: number): number => {
    if (hi - lo === 1) return target(segs[lo]!.target);
    const mid = (lo + hi) >> 1;
    const right = tree(mid, hi);
    const left = tree(lo, mid);
    return e.jump(JGE_K, segs[mid]!.start, right, left);
  };
  return e.linear(LD_W_ABS, OFF_NR, tree(0, segs.length));
}

/**
 * libseccomp's count of argument-comparison nodes for one syscall (_db_rule_gen_64/_32):
 * 64-bit ABIs use 2 nodes for EQ/NE/MASKED_EQ and 3 for the orderings, 32-bit ABIs 1; a
 * MASKED_EQ whose mask (its low half on 32-bit) is 0 is a tautology without a node, and a rule
 * left without nodes is unconditional, which makes the syscall's count 0. The nodes that several
 * rules of one syscall share in libseccomp's tree are counted once per rule here: that matters
 * only to profiles the differential test has not produced.
 */
function nodeCount(s: Section, k: number, defaultValue: number, wide: boolean): number {
  const rules = s.rules[k];
  if (s.fallback[k] !== defaultValue || !rules) return 0;
  let total = 0;
  for (const r of rules) {
    let n = 0;
    for (const a of r.args) {
      if (a.op === 'SCMP_CMP_MASKED_EQ') {
        const [hi, lo] = split64(a.value);
        if (wide ? hi === 0 && lo === 0 : lo === 0) continue;
        n += wide ? 2 : 1;
      } else n += !wide ? 1 : a.op === 'SCMP_CMP_EQ' || a.op === 'SCMP_CMP_NE' ? 2 : 3;
    }
    if (n === 0) return 0;
    total += n;
  }
  return total;
}

/**
 * With SCMP_ARCH_X32, libseccomp 2.5.4 emits x86_64's and x32's syscalls as one list sorted by
 * priority (fewer nodes first; ties: x86_64's, then x32's, each in the order of their numbers as
 * unsigned ints, so x32's negative pseudo-syscalls come last), and only the list's head loads the
 * syscall number (_gen_bpf_syscalls, acc_reset). Pseudo-syscalls are left out of the program
 * (_skip_syscall): when the head is one, nothing loads the number and every check compares the
 * arch value instead, so every x86_64 and x32 syscall gets the default action. That happens when
 * a syscall x32 lacks has fewer x32 nodes than every other syscall of both lists has:
 * typically a profile whose rules all have conditions (an unconditional rule has 0 nodes and
 * comes first, which is why Docker's profile is not affected).
 */
function x32LosesSyscallLoad(native: Section, x32: Section, defaultValue: number): boolean {
  let x86_64 = Infinity, pseudo = Infinity;
  for (let k = 0; k < native.top; k++) {
    if (!native.named[k]) continue;
    const n = nodeCount(native, k, defaultValue, true);
    if (n === 0) return false; // the usual case: an unconditional rule
    if (n < x86_64) x86_64 = n;
    if (native.pseudoX32[k]) pseudo = Math.min(pseudo, nodeCount(native, k, defaultValue, false));
  }
  if (!(pseudo < x86_64)) return false;
  for (let k = 0; k < x32.top; k++) if (x32.named[k] && nodeCount(x32, k, defaultValue, false) <= pseudo) return false;
  return true;
}

/** Compiles a seccomp profile for an x86_64 kernel. */
export function compileSeccomp(seccomp: LinuxSeccomp, opts: SeccompCompileOptions = {}): CompiledSeccomp {
  const warnings: string[] = [];
  const badArch = opts.badArchAction ?? SECCOMP_RET.KILL_THREAD;
  // runc's checks: C reports the listener fd with write(2), which must not wait for the agent.
  if (seccomp.defaultAction === 'SCMP_ACT_NOTIFY') throw TsrunError.invalid('SCMP_ACT_NOTIFY cannot be used as default action');
  const defaultValue = actionValue(seccomp.defaultAction, seccomp.defaultErrnoRet);

  let flags = 0;
  for (const f of seccomp.flags ?? []) {
    const v = SECCOMP_FILTER_FLAGS[f];
    if (v === undefined) throw TsrunError.invalid(`seccomp flags: unknown flag "${f as string}"`);
    flags |= v;
  }

  let notify = false;
  const archs = new Set(seccomp.architectures ?? []);
  const { index, x86_64: nrs64, x32: nrsX32, i386: nrs386 } = syscallTables();
  const tables: { numbers: readonly number[]; section: Section }[] = [];
  const mk = (numbers: readonly number[], wide: boolean, base: number) => {
    const t = { numbers, section: newSection(base, wide) };
    tables.push(t);
    return t;
  };
  const native = mk(nrs64, true, 0);
  const x32 = archs.has('SCMP_ARCH_X32') ? mk(nrsX32, false, X32_SYSCALL_BIT) : undefined;
  const i386 = archs.has('SCMP_ARCH_X86') ? mk(nrs386, false, 0) : undefined;

  // runc prepends a stub that returns ENOSYS for syscalls numbered above the highest one its
  // profile names (in any rule), per listed arch, unless the default action lets syscalls through.
  const stub = !['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE'].includes(seccomp.defaultAction);
  const calls = (seccomp.syscalls ?? []) as LinuxSyscall[];
  // Indexed loops: this runs once per process, interpreted, where for-of iterators cost.
  for (let c = 0; c < calls.length; c++) {
    const call = calls[c]!;
    if (call.action === 'SCMP_ACT_NOTIFY') {
      if (call.names.includes('write')) throw TsrunError.invalid('SCMP_ACT_NOTIFY cannot be used for the write syscall');
      notify = true;
    }
    const value = actionValue(call.action, call.errnoRet);
    const args = call.args?.length ? call.args : undefined;
    // As runc: conditions that share an argument become separate rules (ORed, not ANDed).
    let rules: Rule[] | undefined;
    if (args) {
      let seen = 0;
      for (let k = 0; k < args.length; k++) { checkArg(args[k]!); seen |= 1 << args[k]!.index; }
      rules = popcount(seen) === args.length ? [{ value, args }] : args.map((a) => ({ value, args: [a] }));
    }
    // runc skips a rule whose action is the default one (libseccomp refuses it).
    const skip = value === defaultValue;
    for (let n = 0; n < call.names.length; n++) {
      const name = call.names[n]!;
      const i = index.get(name);
      let known = false;
      if (i !== undefined) {
        for (let t = 0; t < tables.length; t++) {
          const { numbers, section: s } = tables[t]!;
          const k = numbers[i]!;
          if (k < 0) continue;
          if (k >= SECTION_SIZE) throw new Error(`seccomp: syscall number ${k} beyond the table size`);
          known = true;
          if (k + s.base > s.highest) s.highest = k + s.base;
          if (skip) continue;
          if (!s.named[k]) {
            s.named[k] = 1;
            s.fallback[k] = defaultValue;
            if (k >= s.top) s.top = k + 1;
          }
          if (x32 && t === 0 && nrsX32[i]! < 0) s.pseudoX32[k] = 1;
          if (s.fallback[k] !== defaultValue) continue; // an unconditional rule came first and wins
          if (!rules) s.fallback[k] = value;
          else {
            const list = s.rules[k] ??= [];
            for (let r = 0; r < rules.length; r++) list.push(rules[r]!);
          }
        }
      }
      // runc logs this at debug level and goes on.
      if (!known && !skip) warnings.push(`unknown seccomp syscall "${name}" ignored`);
    }
  }
  if (notify) {
    // The kernel refuses TSYNC with a listener unless TSYNC_ESRCH says how to fail (libseccomp adds it too).
    flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER | (flags & SECCOMP_FILTER_FLAGS.SECCOMP_FILTER_FLAG_TSYNC ? SECCOMP_FILTER_FLAG_TSYNC_ESRCH : 0);
  } else {
    // Only meaningful for notifications, and the kernel refuses it without a listener: libseccomp drops it then.
    flags &= ~SECCOMP_FILTER_FLAGS.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
  }

  const max = (arch: string, section: Section | undefined): number | undefined =>
    stub && section && section.highest > 0 && archs.has(arch as never) ? section.highest : undefined;
  const max64 = max('SCMP_ARCH_X86_64', native.section);
  const maxX32 = max('SCMP_ARCH_X32', x32?.section);
  const maxI386 = max('SCMP_ARCH_X86', i386?.section);

  // libseccomp 2.5.4 quirk, see x32LosesSyscallLoad(): its x86_64/x32 code then compares the
  // arch value instead of the syscall number, so only runc's ENOSYS stub and the default remain.
  if (x32 && x32LosesSyscallLoad(native.section, x32.section, defaultValue)) {
    native.section.top = 0;
    x32.section.top = 0;
  }

  const e = new Emitter();
  const badArchTarget: Target = { value: badArch };
  const def: Target = { value: defaultValue };
  const enosys: Target = { value: ENOSYS_RET };

  let i386Entry: number | undefined;
  if (i386) {
    const segs = new Segments();
    bodies(e, i386.section);
    segs.section(i386.section, 2 ** 32, defaultValue, maxI386);
    i386Entry = dispatch(e, segs.list);
  }

  // x86_64: numbers with bit 30 set are x32 syscalls. As libseccomp: without SCMP_ARCH_X32 they are
  // a bad arch, except -1 (a tracer skipping the syscall); with it, unknown ones get the default.
  const segs = new Segments();
  if (x32) bodies(e, x32.section);
  bodies(e, native.section);
  segs.section(native.section, X32_SYSCALL_BIT, defaultValue, max64);
  if (x32) segs.section(x32.section, 0x80000000, defaultValue, maxX32);
  else segs.range(X32_SYSCALL_BIT, 0x80000000, badArchTarget);
  segs.range(0x80000000, 0xc0000000, max64 !== undefined ? enosys : x32 ? def : badArchTarget);
  if (x32) segs.range(0xc0000000, 2 ** 32, maxX32 !== undefined ? enosys : def);
  else {
    segs.range(0xc0000000, 0xffffffff, badArchTarget);
    segs.add(0xffffffff, def);
  }
  const nativeEntry = dispatch(e, segs.list);

  let archFail = e.ret(badArch);
  if (i386Entry !== undefined) archFail = e.jump(JEQ_K, AUDIT_ARCH_I386, i386Entry, archFail);
  const entry = e.jump(JEQ_K, AUDIT_ARCH_X86_64, nativeEntry, archFail);
  e.linear(LD_W_ABS, OFF_ARCH, entry);

  if (e.rev.length > BPF_MAXINSNS) {
    throw TsrunError.invalid(`seccomp filter is too large: ${e.rev.length} BPF instructions, the kernel accepts at most ${BPF_MAXINSNS}`);
  }
  return { program: e.program(), flags, warnings };
}
