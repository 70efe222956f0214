// The cgroup v2 device filter: a BPF_PROG_TYPE_CGROUP_DEVICE program generated from the OCI
// device rules, with the code shape of runc 1.1's devicefilter. The rules first go through the
// v1 emulator, so both hierarchies give a rule list one meaning; what is left is a default
// (allow or deny) plus exceptions of the opposite kind, one block each:
//   if type != T goto next; [if access is not matched by A goto next;] [if major != M goto next;]
//   [if minor != m goto next;] return exception; next: ... ; return default
import { TsrunError } from '../errors.js';
import { DeviceEmulator } from './device-emulator.js';
import { deviceRuleString, type DeviceRule } from './devices.js';

/** The kernel accepts any license string for this program type; runc's is "Apache". */
export const DEVICE_FILTER_LICENSE = 'Apache';

export const BPF_DEVCG_DEV_BLOCK = 1;
export const BPF_DEVCG_DEV_CHAR = 2;
export const BPF_DEVCG_ACC_MKNOD = 1;
export const BPF_DEVCG_ACC_READ = 2;
export const BPF_DEVCG_ACC_WRITE = 4;

// eBPF opcodes (linux/bpf.h, linux/bpf_common.h).
export const OP = {
  LDX_MEM_W: 0x61, // BPF_LDX | BPF_MEM | BPF_W
  ALU32_AND_K: 0x54,
  ALU32_RSH_K: 0x74,
  ALU32_MOV_K: 0xb4,
  ALU32_MOV_X: 0xbc,
  JEQ_K: 0x15,
  JNE_K: 0x55, // BPF_JMP | BPF_JNE | BPF_K: 64-bit compare with the sign-extended imm
  JNE_X: 0x5d,
  EXIT: 0x95,
} as const;

const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5;

interface Insn { code: number; dst: number; src: number; off: number; imm: number }

export interface DeviceFilter {
  /** The instructions, 8 bytes each, little-endian struct bpf_insn. */
  program: Buffer;
  license: string;
  insnCount: number;
  /** true when nothing is denied (the program always returns 1). */
  allowsAll: boolean;
}

const ins = (code: number, dst: number, src: number, off: number, imm: number): Insn => ({ code, dst, src, off, imm });

function accessBits(access: string): number {
  let a = 0;
  if (access.includes('r')) a |= BPF_DEVCG_ACC_READ;
  if (access.includes('w')) a |= BPF_DEVCG_ACC_WRITE;
  if (access.includes('m')) a |= BPF_DEVCG_ACC_MKNOD;
  return a;
}

/**
 * Compares a register holding a zero-extended u32 with n. A JMP immediate is sign-extended to
 * 64 bits, so numbers from 2^31 up go through a MOV32 (which zero-extends) and a register
 * compare instead; runc compares the immediate directly and never matches those numbers.
 */
function jneNumber(reg: number, n: bigint): Insn[] {
  if (n <= 0x7fffffffn) return [ins(OP.JNE_K, reg, 0, 0, Number(n))];
  return [ins(OP.ALU32_MOV_K, R1, 0, 0, Number(BigInt.asIntN(32, n))), ins(OP.JNE_X, reg, R1, 0, 0)];
}

/** One exception; its jumps (offsets set by the caller) all go to the next block. */
function block(rule: DeviceRule): Insn[] {
  if (rule.type !== 'b' && rule.type !== 'c') throw new TsrunError(`[internal error] device filter rule of type "${rule.type}"`);
  const out: Insn[] = [ins(OP.JNE_K, R2, 0, 0, rule.type === 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK)];
  const acc = accessBits(rule.access);
  if (acc !== (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD)) {
    out.push(ins(OP.ALU32_MOV_X, R1, R3, 0, 0), ins(OP.ALU32_AND_K, R1, 0, 0, acc));
    // An allow exception must cover every requested bit (R3 & A == R3). A deny exception
    // applies as soon as one requested bit is in it, as in the v1 kernel: an O_RDWR open of
    // a device whose write is denied is refused. (runc 1.1 requires full coverage for denies
    // too, which lets that open through.)
    out.push(rule.allow ? ins(OP.JNE_X, R1, R3, 0, 0) : ins(OP.JEQ_K, R1, 0, 0, 0));
  }
  if (rule.major >= 0n) out.push(...jneNumber(R4, rule.major));
  if (rule.minor >= 0n) out.push(...jneNumber(R5, rule.minor));
  out.push(ins(OP.ALU32_MOV_K, R0, 0, 0, rule.allow ? 1 : 0), ins(OP.EXIT, 0, 0, 0, 0));
  return out;
}

function encode(list: Insn[]): Buffer {
  const b = Buffer.alloc(list.length * 8);
  list.forEach((i, n) => {
    b.writeUInt8(i.code, n * 8);
    b.writeUInt8((i.dst & 0xf) | ((i.src & 0xf) << 4), n * 8 + 1);
    b.writeInt16LE(i.off, n * 8 + 2);
    b.writeInt32LE(i.imm, n * 8 + 4);
  });
  return b;
}

/** The device filter for an OCI rule list (runc's defaults included by the caller), in order. */
export function generateDeviceFilter(rules: DeviceRule[]): DeviceFilter {
  const emu = DeviceEmulator.fromRules(rules);
  const defaultAllow = emu.isBlacklist();
  const insns: Insn[] = [
    // struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
    ins(OP.LDX_MEM_W, R2, R1, 0, 0), ins(OP.ALU32_AND_K, R2, 0, 0, 0xffff), // R2 = type
    ins(OP.LDX_MEM_W, R3, R1, 0, 0), ins(OP.ALU32_RSH_K, R3, 0, 0, 16), // R3 = access
    ins(OP.LDX_MEM_W, R4, R1, 4, 0), // R4 = major
    ins(OP.LDX_MEM_W, R5, R1, 8, 0), // R5 = minor
  ];
  let exceptions = 0;
  emu.reducedRules().forEach((rule, idx) => {
    if (rule.type === 'a') {
      // Only the leading mode switch of a black-list may be an "a" rule.
      if (idx !== 0 || rule.allow !== defaultAllow) throw new TsrunError(`[internal error] device rules reduced to a misplaced wildcard at ${idx} (${deviceRuleString(rule)})`);
      return;
    }
    if (rule.allow === defaultAllow) throw new TsrunError(`[internal error] device rules reduced to a no-op rule at ${idx} (${deviceRuleString(rule)})`);
    const b = block(rule);
    b.forEach((i, k) => {
      if (i.code === OP.JNE_K || i.code === OP.JNE_X || i.code === OP.JEQ_K) i.off = b.length - k - 1;
    });
    insns.push(...b);
    exceptions++;
  });
  insns.push(ins(OP.ALU32_MOV_K, R0, 0, 0, defaultAllow ? 1 : 0), ins(OP.EXIT, 0, 0, 0, 0));
  return { program: encode(insns), license: DEVICE_FILTER_LICENSE, insnCount: insns.length, allowsAll: defaultAllow && exceptions === 0 };
}
