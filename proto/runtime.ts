// The protobuf wire format, for the code scripts/gen-proto.mjs generates into proto/generated/.
// Everything decoded here may come from another process (containerd, a shim, criu), so every read
// is bounds-checked and every failure is a ProtoError: a caller catches one class, and no
// RangeError or TypeError from a malformed buffer escapes. Loops always consume input, so no
// input can make a decoder spin.

/** Any failure to decode (or, for proto2 required fields, to encode) a message. */
export class ProtoError extends Error {
  override name = 'ProtoError';
}

/** What the generated code exports for each message: `Foo.encode({...})`, `Foo.decode(bytes)`. */
export interface MessageType<T, I = Partial<T>> {
  /** The full protobuf name, which is also the bare Any type URL containerd uses. */
  readonly typeName: string;
  /** Encodes with proto3 semantics: fields at their default value are left out. */
  encode(message: I): Buffer;
  /** Decodes; unknown fields are skipped; throws ProtoError on malformed input. */
  decode(bytes: Uint8Array): T;
  /** A complete message (every default filled in) from a partial one. */
  create(init?: I): T;
  /** @internal */ _enc(w: Writer, message: I): void;
  /** @internal */ _dec(r: Reader, end: number, into?: T): T;
}

export interface MethodType<Req = any, ReqInit = any, Res = any, ResInit = any> {
  readonly name: string;
  readonly request: MessageType<Req, ReqInit>;
  readonly response: MessageType<Res, ResInit>;
}

export interface ServiceType {
  /** The full service name as it travels in ttrpc requests, e.g. `containerd.task.v2.Task`. */
  readonly name: string;
  readonly methods: { readonly [method: string]: MethodType };
}

/** A service under another name with the same methods (containerd.task.v3.Task is task v2 renamed). */
export function renameService<S extends ServiceType, N extends string>(service: S, name: N): Omit<S, 'name'> & { readonly name: N } {
  return { ...service, name };
}

export enum WireType { Varint = 0, Fixed64 = 1, LengthDelimited = 2, StartGroup = 3, EndGroup = 4, Fixed32 = 5 }

const MAX_FIELD_NUMBER = 0x1fffffff;
const TWO_POW_32 = 4294967296;

/** Appends to a growing buffer; nested messages are written in place and their length prefixed afterwards. */
export class Writer {
  private buf: Buffer;
  pos = 0;
  private forks: number[] = [];

  constructor(initial = 64) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  tag(field: number, wire: WireType): void {
    this.uint32(field * 8 + wire);
  }

  uint32(v: number): void {
    v = v >>> 0;
    this.ensure(5);
    while (v > 0x7f) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  /** Negative int32s are sign-extended to ten bytes, as every protobuf implementation does. */
  int32(v: number): void {
    if (v < 0) this.varint64(BigInt.asUintN(64, BigInt(v | 0)));
    else this.uint32(v);
  }

  sint32(v: number): void {
    this.uint32(((v << 1) ^ (v >> 31)) >>> 0);
  }

  private varint64(v: bigint): void {
    // Split into two 32-bit halves so that the loop runs on numbers, not bigints.
    let lo = Number(v & 0xffffffffn);
    let hi = Number(v >> 32n);
    this.ensure(10);
    while (hi > 0 || lo > 0x7f) {
      this.buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | ((hi & 0x7f) << 25)) >>> 0;
      hi >>>= 7;
    }
    this.buf[this.pos++] = lo;
  }

  uint64(v: bigint | number): void {
    if (typeof v === 'number' && v >= 0 && v <= 0xffffffff && Number.isInteger(v)) return this.uint32(v);
    this.varint64(BigInt.asUintN(64, toBigInt(v)));
  }

  int64(v: bigint | number): void {
    this.uint64(v);
  }

  sint64(v: bigint | number): void {
    const b = BigInt.asIntN(64, toBigInt(v));
    this.varint64(BigInt.asUintN(64, (b << 1n) ^ (b >> 63n)));
  }

  bool(v: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
  }

  fixed32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  sfixed32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v | 0, this.pos);
    this.pos += 4;
  }

  float(v: number): void {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.pos);
    this.pos += 4;
  }

  fixed64(v: bigint | number): void {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, toBigInt(v)), this.pos);
    this.pos += 8;
  }

  sfixed64(v: bigint | number): void {
    this.ensure(8);
    this.buf.writeBigInt64LE(BigInt.asIntN(64, toBigInt(v)), this.pos);
    this.pos += 8;
  }

  double(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  string(v: string): void {
    const len = v.length;
    if (len < 128) {
      // Short ASCII strings (ids, paths) are copied by hand: Buffer#write costs more than the copy.
      this.ensure(len + 1);
      const buf = this.buf;
      const start = this.pos + 1;
      let i = 0;
      for (; i < len; i++) {
        const c = v.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + i] = c;
      }
      if (i === len) {
        buf[this.pos] = len;
        this.pos = start + len;
        return;
      }
    }
    const n = Buffer.byteLength(v, 'utf8');
    this.uint32(n);
    this.ensure(n);
    this.pos += this.buf.write(v, this.pos, n, 'utf8');
  }

  bytes(v: Uint8Array): void {
    this.uint32(v.length);
    this.ensure(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  /** Starts a length-delimited part (a nested message, a packed array, a map entry). */
  fork(): void {
    this.forks.push(this.pos);
  }

  /** Ends it: moves its bytes up by the size of its length prefix and writes the prefix. */
  ldelim(): void {
    const start = this.forks.pop()!;
    const len = this.pos - start;
    let n = 1;
    for (let v = len >>> 7; v > 0; v >>>= 7) n++;
    this.ensure(n);
    this.buf.copyWithin(start + n, start, this.pos);
    let p = start;
    let v = len;
    while (v > 0x7f) {
      this.buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[p] = v;
    this.pos += n;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  reset(): void {
    this.pos = 0;
    this.forks.length = 0;
  }

  /** Lets a scratch writer that grew for one large message (up to 4 MiB) give the memory back. */
  shrink(): void {
    if (this.buf.length > 1 << 20) this.buf = Buffer.allocUnsafe(16384);
  }
}

function toBigInt(v: bigint | number): bigint {
  if (typeof v === 'bigint') return v;
  if (!Number.isInteger(v)) throw new ProtoError(`not an integer: ${v}`);
  return BigInt(v);
}

/** Reads one buffer; the generated decoders bound each nested message by its end offset. */
export class Reader {
  readonly buf: Buffer;
  pos = 0;
  readonly len: number;
  // The low and high 32 bits of the last varint read.
  private lo = 0;
  private hi = 0;

  constructor(bytes: Uint8Array) {
    this.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.len = this.buf.length;
  }

  private truncated(): never {
    throw new ProtoError('unexpected end of input');
  }

  /** Reads a varint of up to ten bytes into lo/hi, as Go does (bits past 64 are dropped). */
  private varint(): void {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    let b: number;
    let i = 0;
    for (; i < 4; i++) {
      if (this.pos >= this.len) this.truncated();
      b = buf[this.pos++]!;
      lo |= (b & 0x7f) << (i * 7);
      if (b < 0x80) { this.lo = lo >>> 0; this.hi = 0; return; }
    }
    // Byte 5 holds bits 28..34: 4 for lo, 3 for hi.
    if (this.pos >= this.len) this.truncated();
    b = buf[this.pos++]!;
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x7f) >> 4;
    if (b < 0x80) { this.lo = lo >>> 0; this.hi = hi; return; }
    for (i = 0; i < 5; i++) {
      if (this.pos >= this.len) this.truncated();
      b = buf[this.pos++]!;
      // The tenth byte holds bit 63 only; more is an overflow, which protobuf-go rejects too.
      if (i === 4 && b > 1) throw new ProtoError('varint overflows 64 bits');
      hi |= (b & 0x7f) << (i * 7 + 3);
      if (b < 0x80) { this.lo = lo >>> 0; this.hi = hi >>> 0; return; }
    }
    this.truncated();
  }

  /** A field's tag: field number * 8 + wire type. */
  tag(): number {
    this.varint();
    if (this.hi !== 0 || this.lo > 0xffffffff) throw new ProtoError('invalid tag');
    const tag = this.lo;
    const field = tag >>> 3;
    if (field === 0 || field > MAX_FIELD_NUMBER) throw new ProtoError(`invalid field number ${field}`);
    return tag;
  }

  uint32(): number {
    this.varint();
    return this.lo;
  }

  int32(): number {
    this.varint();
    return this.lo | 0;
  }

  sint32(): number {
    this.varint();
    const n = this.lo;
    return (n >>> 1) ^ -(n & 1);
  }

  uint64(): bigint {
    this.varint();
    if (this.hi === 0) return BigInt(this.lo);
    if (this.hi < 0x200000) return BigInt(this.hi * TWO_POW_32 + this.lo);
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  int64(): bigint {
    return BigInt.asIntN(64, this.uint64());
  }

  sint64(): bigint {
    const n = this.uint64();
    return (n >> 1n) ^ -(n & 1n);
  }

  bool(): boolean {
    this.varint();
    return this.lo !== 0 || this.hi !== 0;
  }

  private need(n: number): number {
    const at = this.pos;
    if (at + n > this.len) this.truncated();
    this.pos = at + n;
    return at;
  }

  fixed32(): number {
    return this.buf.readUInt32LE(this.need(4));
  }

  sfixed32(): number {
    return this.buf.readInt32LE(this.need(4));
  }

  float(): number {
    return this.buf.readFloatLE(this.need(4));
  }

  fixed64(): bigint {
    return this.buf.readBigUInt64LE(this.need(8));
  }

  sfixed64(): bigint {
    return this.buf.readBigInt64LE(this.need(8));
  }

  double(): number {
    return this.buf.readDoubleLE(this.need(8));
  }

  /** Reads a length prefix and returns where that part ends, checked against the input. */
  lenEnd(): number {
    this.varint();
    if (this.hi !== 0 || this.pos + this.lo > this.len) this.truncated();
    return this.pos + this.lo;
  }

  /**
   * Strings are not checked for UTF-8 validity (invalid sequences become U+FFFD), as gogo/protobuf
   * in containerd 1.6 does not check them either.
   */
  string(): string {
    const end = this.lenEnd();
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end;
    return s;
  }

  /** A view into the input, not a copy. */
  bytes(): Buffer {
    const end = this.lenEnd();
    const b = this.buf.subarray(this.pos, end);
    this.pos = end;
    return b;
  }

  /** Checks that a nested part ended exactly where its length prefix said. */
  done(end: number): void {
    if (this.pos !== end) throw new ProtoError('field overruns its message');
  }

  /** Skips an unknown field (or one whose wire type does not match, as protobuf-go does). */
  skip(tag: number): void {
    switch (tag & 7) {
      case WireType.Varint: this.varint(); return;
      case WireType.Fixed64: this.need(8); return;
      case WireType.LengthDelimited: this.pos = this.lenEnd(); return;
      case WireType.Fixed32: this.need(4); return;
      case WireType.StartGroup: {
        const field = tag >>> 3;
        for (;;) {
          const t = this.tag();
          if ((t & 7) === WireType.EndGroup) {
            if (t >>> 3 !== field) throw new ProtoError('mismatched end group');
            return;
          }
          this.skip(t);
        }
      }
      case WireType.EndGroup: throw new ProtoError('unexpected end group');
      default: throw new ProtoError(`invalid wire type ${tag & 7}`);
    }
  }
}

/** Wraps a generated decoder: everything thrown becomes a ProtoError naming the message. */
export function decodeTop<T>(typeName: string, bytes: Uint8Array, dec: (r: Reader, end: number) => T): T {
  try {
    if (!(bytes instanceof Uint8Array)) throw new ProtoError('input is not bytes');
    const r = new Reader(bytes);
    return dec(r, r.len);
  } catch (err) {
    throw new ProtoError(`${typeName}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

// Encoding is synchronous, so one scratch writer serves every top-level encode (no growing a
// fresh buffer per message); the result is copied out at its exact size.
const scratch = new Writer(16384);
let scratchBusy = false;

export function encodeTop<I>(typeName: string, message: I, enc: (w: Writer, m: I) => void): Buffer {
  const shared = !scratchBusy;
  const w = shared ? scratch : new Writer();
  scratchBusy = true;
  try {
    w.reset();
    enc(w, message);
    return Buffer.from(w.finish());
  } catch (err) {
    if (err instanceof ProtoError) throw new ProtoError(`${typeName}: ${err.message}`);
    throw err;
  } finally {
    if (shared) {
      scratchBusy = false;
      w.shrink();
    }
  }
}

/** Sets a map entry without letting a key like `__proto__` reach the prototype. */
export function setEntry<V>(map: Record<string, V>, key: string, value: V): void {
  if (key === '__proto__') Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
  else map[key] = value;
}

export function requiredMissing(typeName: string, field: string): never {
  throw new ProtoError(`required field ${typeName}.${field} is not set`);
}

export const EMPTY_BYTES: Buffer = Buffer.alloc(0);
