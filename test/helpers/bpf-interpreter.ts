// A classic-BPF interpreter for seccomp programs, enough for what tsrun and libseccomp emit.

export interface SeccompData {
  nr: number;
  arch: number;
  ip?: bigint;
  args?: bigint[];
}

export interface BpfResult {
  value: number;
  /** instructions executed */
  steps: number;
}

function seccompData(d: SeccompData): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32LE(d.nr >>> 0, 0);
  b.writeUInt32LE(d.arch >>> 0, 4);
  b.writeBigUInt64LE(d.ip ?? 0n, 8);
  for (let i = 0; i < 6; i++) b.writeBigUInt64LE(BigInt.asUintN(64, d.args?.[i] ?? 0n), 16 + 8 * i);
  return b;
}

export function runBpf(program: Buffer, input: SeccompData): BpfResult {
  if (program.length % 8 !== 0 || program.length === 0) throw new Error('bad program length');
  const n = program.length / 8;
  const data = seccompData(input);
  const mem = new Uint32Array(16);
  let A = 0, X = 0, pc = 0, steps = 0;
  for (;;) {
    if (pc < 0 || pc >= n) throw new Error(`pc ${pc} out of the program (${n} instructions)`);
    const o = pc * 8;
    const code = program.readUInt16LE(o), jt = program[o + 2]!, jf = program[o + 3]!, k = program.readUInt32LE(o + 4);
    steps++;
    pc++;
    switch (code) {
      case 0x20: // LD W ABS
        if (k % 4 !== 0 || k + 4 > 64) throw new Error(`bad load offset ${k}`);
        A = data.readUInt32LE(k); break;
      case 0x00: A = k; break; // LD IMM
      case 0x60: A = mem[k]!; break; // LD MEM
      case 0x01: X = k; break; // LDX IMM
      case 0x61: X = mem[k]!; break; // LDX MEM
      case 0x02: mem[k] = A; break; // ST
      case 0x03: mem[k] = X; break; // STX
      case 0x54: A = (A & k) >>> 0; break; // ALU AND K
      case 0x44: A = (A | k) >>> 0; break; // ALU OR K
      case 0x87: A = X; break; // TXA
      case 0x07: X = A; break; // TAX
      case 0x05: pc += k; break; // JA
      case 0x15: pc += A === k ? jt : jf; break;
      case 0x25: pc += A > k ? jt : jf; break;
      case 0x35: pc += A >= k ? jt : jf; break;
      case 0x45: pc += (A & k) !== 0 ? jt : jf; break;
      case 0x1d: pc += A === X ? jt : jf; break;
      case 0x2d: pc += A > X ? jt : jf; break;
      case 0x3d: pc += A >= X ? jt : jf; break;
      case 0x06: return { value: k >>> 0, steps };
      case 0x16: return { value: A >>> 0, steps };
      default: throw new Error(`unsupported BPF opcode 0x${code.toString(16)} at ${pc - 1}`);
    }
  }
}

/** Decodes a hex dump of struct sock_filter[] as printed by libseccomp-bpf.py. */
export function fromHex(hex: string): Buffer { return Buffer.from(hex.trim(), 'hex'); }
