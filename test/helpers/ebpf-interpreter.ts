// An eBPF interpreter for BPF_PROG_TYPE_CGROUP_DEVICE programs: the instructions tsrun's device
// filter generator emits and a few neighbours, with the checks the kernel verifier would make
// on them (no read of an unset register, loads only from the context, forward jumps inside the
// program, R0 set at exit) so that a program it accepts has a fair chance with the kernel.

export interface DeviceAccess {
  /** 1 = block, 2 = char (BPF_DEVCG_DEV_*). */
  type: number;
  /** BPF_DEVCG_ACC_* bits: 1 mknod, 2 read, 4 write. */
  access: number;
  major: number;
  minor: number;
}

export interface EbpfResult { value: bigint; steps: number }

const MASK64 = (1n << 64n) - 1n;
const u32 = (v: bigint) => v & 0xffffffffn;
const sext32 = (imm: number) => BigInt.asUintN(64, BigInt(imm)); // imm is an s32: sign-extend

export function runEbpf(program: Buffer, input: DeviceAccess): EbpfResult {
  if (program.length === 0 || program.length % 8 !== 0) throw new Error(`bad program length ${program.length}`);
  const n = program.length / 8;
  if (n > 4096) throw new Error('program too long');
  const ctx = Buffer.alloc(12);
  ctx.writeUInt32LE(((input.access & 0xffff) << 16 | (input.type & 0xffff)) >>> 0, 0);
  ctx.writeUInt32LE(input.major >>> 0, 4);
  ctx.writeUInt32LE(input.minor >>> 0, 8);
  const reg: (bigint | undefined)[] = new Array(11).fill(undefined);
  let ctxReg = 1; // the register that still holds the context pointer (-1 once overwritten)
  reg[1] = 0n;
  const get = (r: number, pc: number) => {
    const v = reg[r];
    if (v === undefined || r === ctxReg) throw new Error(`pc ${pc}: R${r} ${v === undefined ? '!read_ok' : 'is the context pointer'}`);
    return v;
  };
  const set = (r: number, v: bigint, pc: number) => {
    if (r > 9) throw new Error(`pc ${pc}: write to R${r}`);
    if (r === ctxReg) ctxReg = -1;
    reg[r] = v & MASK64;
  };
  let pc = 0, steps = 0;
  for (;;) {
    if (pc < 0 || pc >= n) throw new Error(`pc ${pc} out of the program (${n} instructions)`);
    const o = pc * 8;
    const code = program[o]!, dst = program[o + 1]! & 0xf, src = program[o + 1]! >> 4;
    const off = program.readInt16LE(o + 2), imm = program.readInt32LE(o + 4);
    steps++;
    const cls = code & 0x07;
    if (cls === 0x01) { // LDX
      if (code !== 0x61) throw new Error(`pc ${pc}: unsupported load 0x${code.toString(16)}`);
      if (src !== ctxReg) throw new Error(`pc ${pc}: load from R${src}, not the context`);
      if (off < 0 || off % 4 !== 0 || off + 4 > 12) throw new Error(`pc ${pc}: invalid bpf_context access off=${off} size=4`);
      set(dst, BigInt(ctx.readUInt32LE(off)), pc);
      pc++;
      continue;
    }
    if (cls === 0x04 || cls === 0x07) { // ALU32 / ALU64
      const is64 = cls === 0x07;
      const op = code & 0xf0;
      const operand = code & 0x08 ? get(src, pc) : is64 ? sext32(imm) : BigInt(imm >>> 0);
      const a = op === 0xb0 ? 0n : get(dst, pc);
      let r: bigint;
      const x = is64 ? a : u32(a), y = is64 ? operand : u32(operand);
      switch (op) {
        case 0x00: r = x + y; break;
        case 0x10: r = x - y; break;
        case 0x40: r = x | y; break;
        case 0x50: r = x & y; break;
        case 0x60: r = x << (y & (is64 ? 63n : 31n)); break;
        case 0x70: r = x >> (y & (is64 ? 63n : 31n)); break;
        case 0xa0: r = x ^ y; break;
        case 0xb0: r = y; break;
        default: throw new Error(`pc ${pc}: unsupported ALU op 0x${code.toString(16)}`);
      }
      set(dst, is64 ? r : u32(r), pc); // ALU32 results are zero-extended
      pc++;
      continue;
    }
    if (cls === 0x05) { // JMP
      if (code === 0x95) {
        if (reg[0] === undefined) throw new Error(`pc ${pc}: R0 !read_ok at exit`);
        return { value: reg[0], steps };
      }
      const op = code & 0xf0;
      const a = get(dst, pc);
      const b = code & 0x08 ? get(src, pc) : sext32(imm);
      let taken: boolean;
      switch (op) {
        case 0x00: taken = true; break; // JA
        case 0x10: taken = a === b; break;
        case 0x20: taken = a > b; break;
        case 0x30: taken = a >= b; break;
        case 0x40: taken = (a & b) !== 0n; break;
        case 0x50: taken = a !== b; break;
        case 0xa0: taken = a < b; break;
        case 0xb0: taken = a <= b; break;
        default: throw new Error(`pc ${pc}: unsupported jump 0x${code.toString(16)}`);
      }
      if (off < 0) throw new Error(`pc ${pc}: back-edge`);
      if (pc + 1 + off >= n) throw new Error(`pc ${pc}: jump out of range`);
      pc += taken ? 1 + off : 1;
      continue;
    }
    throw new Error(`pc ${pc}: unsupported instruction class 0x${code.toString(16)}`);
  }
}

/** Human-readable listing (for failure messages). */
export function disassemble(program: Buffer): string {
  const lines: string[] = [];
  for (let o = 0; o < program.length; o += 8) {
    lines.push(`${o / 8}: code=0x${program[o]!.toString(16)} dst=r${program[o + 1]! & 0xf} src=r${program[o + 1]! >> 4} off=${program.readInt16LE(o + 2)} imm=${program.readInt32LE(o + 4)}`);
  }
  return lines.join('\n');
}
