// The D-Bus wire format (D-Bus Specification, "Message Protocol"): signatures, values, messages.
// Everything read here may come from another process, so reads are bounds-checked and every
// limit of the specification is enforced before anything is allocated or recursed into.
import { isUtf8 } from 'node:buffer';

export type DBusValue = number | bigint | boolean | string | Variant | DBusValue[] | Map<DBusValue, DBusValue>;

/** A value of type `v`: its own single complete type travels with it. */
export class Variant {
  constructor(readonly signature: string, readonly value: DBusValue) {}
}

const MAX_SIGNATURE_BYTES = 255;
const MAX_ARRAY_BYTES = 64 * 1024 * 1024;
export const MAX_MESSAGE_BYTES = 128 * 1024 * 1024;
const MAX_ARRAYS_IN_SIGNATURE = 32;
const MAX_STRUCTS_IN_SIGNATURE = 32;
// Variants carry signatures of their own, so nesting across them is bounded separately.
const MAX_TOTAL_NESTING = 64;

// ---------------------------------------------------------------------------------- signatures

/** One complete type: `a` has its element as only child, `{` its key and value, `(` its fields. */
export interface TypeNode {
  readonly code: string;
  readonly text: string;
  readonly children: readonly TypeNode[];
}

const BASIC_CODES = 'ybnqiuxtdsogh';
const ALIGNMENT: Record<string, number> = {
  y: 1, g: 1, v: 1, n: 2, q: 2, b: 4, i: 4, u: 4, h: 4, s: 4, o: 4, a: 4, x: 8, t: 8, d: 8, '(': 8, '{': 8,
};

const parsedSignatures = new Map<string, TypeNode[]>();

/** Splits a signature into its complete types, or throws naming what is wrong with it. */
export function parseSignature(signature: string): TypeNode[] {
  const cached = parsedSignatures.get(signature);
  if (cached) return cached;
  const nodes = parseUncached(signature);
  if (parsedSignatures.size >= 512) parsedSignatures.clear();
  parsedSignatures.set(signature, nodes);
  return nodes;
}

export function splitSignature(signature: string): string[] {
  return parseSignature(signature).map((node) => node.text);
}

export function isValidSignature(signature: string): boolean {
  try {
    parseSignature(signature);
    return true;
  } catch {
    return false;
  }
}

function parseUncached(signature: string): TypeNode[] {
  const invalid = (why: string) => new Error(`invalid D-Bus signature "${signature}": ${why}`);
  if (typeof signature !== 'string') throw new Error(`invalid D-Bus signature ${String(signature)}: not a string`);
  if (signature.length > MAX_SIGNATURE_BYTES) throw invalid(`longer than ${MAX_SIGNATURE_BYTES} bytes`);
  let pos = 0;
  const parseOne = (arrays: number, structs: number): TypeNode => {
    const start = pos;
    const code = signature[pos++];
    if (code === undefined) throw invalid('an array has no element type');
    if (BASIC_CODES.includes(code) || code === 'v') return { code, text: code, children: [] };
    if (code === 'a') {
      if (arrays >= MAX_ARRAYS_IN_SIGNATURE) throw invalid(`arrays nested more than ${MAX_ARRAYS_IN_SIGNATURE} deep`);
      let element: TypeNode;
      if (signature[pos] === '{') {
        pos++;
        if (structs >= MAX_STRUCTS_IN_SIGNATURE) throw invalid(`structs nested more than ${MAX_STRUCTS_IN_SIGNATURE} deep`);
        if (signature[pos] === '}') throw invalid('a dict entry needs a key and a value');
        const key = parseOne(arrays + 1, structs + 1);
        if (!BASIC_CODES.includes(key.code)) throw invalid('a dict entry key must be a basic type');
        if (signature[pos] === '}') throw invalid('a dict entry needs a key and a value');
        const value = parseOne(arrays + 1, structs + 1);
        if (signature[pos] !== '}') throw invalid('a dict entry holds exactly one key and one value');
        pos++;
        element = { code: '{', text: signature.slice(start + 1, pos), children: [key, value] };
      } else {
        element = parseOne(arrays + 1, structs);
      }
      return { code, text: signature.slice(start, pos), children: [element] };
    }
    if (code === '(') {
      if (structs >= MAX_STRUCTS_IN_SIGNATURE) throw invalid(`structs nested more than ${MAX_STRUCTS_IN_SIGNATURE} deep`);
      const fields: TypeNode[] = [];
      while (signature[pos] !== ')') {
        if (pos >= signature.length) throw invalid('a struct is not closed');
        fields.push(parseOne(arrays, structs + 1));
      }
      if (fields.length === 0) throw invalid('a struct has no fields');
      pos++;
      return { code, text: signature.slice(start, pos), children: fields };
    }
    if (code === '{') throw invalid('a dict entry is only allowed as an array element');
    throw invalid(`unexpected "${code}" at offset ${start}`);
  };
  const nodes: TypeNode[] = [];
  while (pos < signature.length) nodes.push(parseOne(0, 0));
  return nodes;
}

/** The one complete type a variant holds. */
function singleType(signature: string): TypeNode {
  const nodes = parseSignature(signature);
  if (nodes.length !== 1) throw new Error(`invalid D-Bus variant signature "${signature}": not a single complete type`);
  return nodes[0];
}

const OBJECT_PATH = /^\/$|^(\/[A-Za-z0-9_]+)+$/;

// -------------------------------------------------------------------------------- marshalling

const INTEGER_RANGE: Record<string, [number, number]> = {
  y: [0, 0xff], n: [-0x8000, 0x7fff], q: [0, 0xffff], i: [-0x80000000, 0x7fffffff], u: [0, 0xffffffff], h: [0, 0xffffffff],
};
const BIGINT_RANGE: Record<string, [bigint, bigint]> = { x: [-(1n << 63n), (1n << 63n) - 1n], t: [0n, (1n << 64n) - 1n] };

function describe(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Variant) return `Variant("${value.signature}")`;
  if (value instanceof Map) return `Map(${value.size})`;
  if (value === undefined) return 'undefined';
  let text: string;
  try {
    text = JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

class Writer {
  buf = Buffer.alloc(256);
  pos = 0;
  constructor(readonly littleEndian: boolean, readonly base: number, readonly signature: string) {}

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.alloc(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  /** Padding is zero because the buffer is allocated zeroed and never written behind pos. */
  align(n: number): void {
    const pad = (n - ((this.base + this.pos) % n)) % n;
    this.reserve(pad);
    this.pos += pad;
  }

  uint32At(at: number, v: number): void {
    if (this.littleEndian) this.buf.writeUInt32LE(v, at);
    else this.buf.writeUInt32BE(v, at);
  }

  mismatch(node: TypeNode, value: unknown, why = ''): Error {
    return new Error(`cannot marshal ${describe(value)} as D-Bus type "${node.text}" (signature "${this.signature}")${why && `: ${why}`}`);
  }

  write(node: TypeNode, value: DBusValue, depth: number): void {
    const le = this.littleEndian;
    const code = node.code;
    if (code in INTEGER_RANGE) {
      const [min, max] = INTEGER_RANGE[code];
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw this.mismatch(node, value);
      const size = ALIGNMENT[code];
      this.align(size);
      this.reserve(size);
      if (size === 1) this.buf[this.pos] = value;
      else if (code === 'n') le ? this.buf.writeInt16LE(value, this.pos) : this.buf.writeInt16BE(value, this.pos);
      else if (code === 'q') le ? this.buf.writeUInt16LE(value, this.pos) : this.buf.writeUInt16BE(value, this.pos);
      else if (code === 'i') le ? this.buf.writeInt32LE(value, this.pos) : this.buf.writeInt32BE(value, this.pos);
      else this.uint32At(this.pos, value);
      this.pos += size;
      return;
    }
    switch (code) {
      case 'x': case 't': {
        if (typeof value === 'number' && !Number.isSafeInteger(value)) throw this.mismatch(node, value, 'not a safe integer; pass a bigint');
        if (typeof value !== 'number' && typeof value !== 'bigint') throw this.mismatch(node, value);
        const big = BigInt(value);
        const [min, max] = BIGINT_RANGE[code];
        if (big < min || big > max) throw this.mismatch(node, value, 'out of range');
        this.align(8);
        this.reserve(8);
        if (code === 'x') le ? this.buf.writeBigInt64LE(big, this.pos) : this.buf.writeBigInt64BE(big, this.pos);
        else le ? this.buf.writeBigUInt64LE(big, this.pos) : this.buf.writeBigUInt64BE(big, this.pos);
        this.pos += 8;
        return;
      }
      case 'd':
        if (typeof value !== 'number') throw this.mismatch(node, value);
        this.align(8);
        this.reserve(8);
        le ? this.buf.writeDoubleLE(value, this.pos) : this.buf.writeDoubleBE(value, this.pos);
        this.pos += 8;
        return;
      case 'b':
        if (typeof value !== 'boolean') throw this.mismatch(node, value);
        this.align(4);
        this.reserve(4);
        this.uint32At(this.pos, value ? 1 : 0);
        this.pos += 4;
        return;
      case 's': case 'o': {
        if (typeof value !== 'string') throw this.mismatch(node, value);
        if (value.includes('\0')) throw this.mismatch(node, value, 'contains a NUL character');
        if (code === 'o' && !OBJECT_PATH.test(value)) throw this.mismatch(node, value, 'not a valid object path');
        const length = Buffer.byteLength(value);
        this.align(4);
        this.reserve(4 + length + 1);
        this.uint32At(this.pos, length);
        this.buf.write(value, this.pos + 4);
        this.pos += 4 + length + 1;
        return;
      }
      case 'g':
        if (typeof value !== 'string') throw this.mismatch(node, value);
        parseSignature(value);
        this.writeSignature(value);
        return;
      case 'v': {
        if (!(value instanceof Variant)) throw this.mismatch(node, value, 'expected a Variant');
        if (depth >= MAX_TOTAL_NESTING) throw this.mismatch(node, value, `nested more than ${MAX_TOTAL_NESTING} deep`);
        const inner = singleType(value.signature);
        this.writeSignature(value.signature);
        this.write(inner, value.value, depth + 1);
        return;
      }
      case '(': {
        if (!Array.isArray(value) || value.length !== node.children.length) {
          throw this.mismatch(node, value, `expected an array of ${node.children.length} fields`);
        }
        if (depth >= MAX_TOTAL_NESTING) throw this.mismatch(node, value, `nested more than ${MAX_TOTAL_NESTING} deep`);
        this.align(8);
        node.children.forEach((field, i) => this.write(field, value[i], depth + 1));
        return;
      }
      case 'a': {
        const element = node.children[0];
        const isDict = element.code === '{';
        if (isDict ? !(value instanceof Map) : !Array.isArray(value)) throw this.mismatch(node, value, isDict ? 'expected a Map' : 'expected an array');
        if (depth >= MAX_TOTAL_NESTING) throw this.mismatch(node, value, `nested more than ${MAX_TOTAL_NESTING} deep`);
        this.align(4);
        this.reserve(4);
        const lengthAt = this.pos;
        this.pos += 4;
        // The padding to the first element is not part of the length, and is there even when empty.
        this.align(ALIGNMENT[element.code]);
        const start = this.pos;
        if (isDict) {
          const [keyType, valueType] = element.children;
          for (const [k, v] of value as Map<DBusValue, DBusValue>) {
            this.align(8);
            this.write(keyType, k, depth + 2);
            this.write(valueType, v, depth + 2);
          }
        } else {
          for (const item of value as DBusValue[]) this.write(element, item, depth + 1);
        }
        const length = this.pos - start;
        if (length > MAX_ARRAY_BYTES) throw this.mismatch(node, value, `longer than ${MAX_ARRAY_BYTES} bytes`);
        this.uint32At(lengthAt, length);
        return;
      }
    }
    throw this.mismatch(node, value, 'unknown type');
  }

  writeSignature(signature: string): void {
    this.reserve(1 + signature.length + 1);
    this.buf[this.pos] = signature.length;
    this.buf.write(signature, this.pos + 1, 'latin1');
    this.pos += 1 + signature.length + 1;
  }
}

/**
 * Marshals `values` by `signature`. Alignment is relative to the start of the message, so
 * `startOffset` is the offset in the message at which these bytes will be placed.
 */
export function marshal(signature: string, values: DBusValue[], littleEndian = true, startOffset = 0): Buffer {
  const types = parseSignature(signature);
  if (!Array.isArray(values) || values.length !== types.length) {
    throw new Error(`cannot marshal ${describe(values)} by D-Bus signature "${signature}": expected ${types.length} values`);
  }
  const writer = new Writer(littleEndian, startOffset, signature);
  types.forEach((type, i) => writer.write(type, values[i], 0));
  return writer.buf.subarray(0, writer.pos);
}

// ------------------------------------------------------------------------------ unmarshalling

class Reader {
  constructor(readonly buf: Buffer, public pos: number, public end: number, readonly littleEndian: boolean) {}

  need(n: number): void {
    if (n > this.end - this.pos) throw new Error(`truncated D-Bus data: ${n} bytes needed at offset ${this.pos}, ${this.end - this.pos} left`);
  }

  align(n: number): void {
    const pad = (n - (this.pos % n)) % n;
    this.need(pad);
    for (let i = 0; i < pad; i++) {
      if (this.buf[this.pos + i] !== 0) throw new Error(`invalid D-Bus data: non-zero padding at offset ${this.pos + i}`);
    }
    this.pos += pad;
  }

  uint32(): number {
    this.align(4);
    this.need(4);
    const v = this.littleEndian ? this.buf.readUInt32LE(this.pos) : this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  text(length: number, what: string): string {
    this.need(length + 1);
    const bytes = this.buf.subarray(this.pos, this.pos + length);
    if (this.buf[this.pos + length] !== 0) throw new Error(`invalid D-Bus ${what} at offset ${this.pos}: not NUL-terminated`);
    if (bytes.includes(0)) throw new Error(`invalid D-Bus ${what} at offset ${this.pos}: contains a NUL byte`);
    if (!isUtf8(bytes)) throw new Error(`invalid D-Bus ${what} at offset ${this.pos}: not UTF-8`);
    this.pos += length + 1;
    return bytes.toString('utf8');
  }

  signature(): string {
    this.need(1);
    const length = this.buf[this.pos++];
    const signature = this.text(length, 'signature');
    parseSignature(signature);
    return signature;
  }

  read(node: TypeNode, depth: number): DBusValue {
    const { buf, littleEndian: le } = this;
    const code = node.code;
    switch (code) {
      case 'y':
        this.need(1);
        return buf[this.pos++];
      case 'n': case 'q': {
        this.align(2);
        this.need(2);
        const v = code === 'n' ? (le ? buf.readInt16LE(this.pos) : buf.readInt16BE(this.pos)) : le ? buf.readUInt16LE(this.pos) : buf.readUInt16BE(this.pos);
        this.pos += 2;
        return v;
      }
      case 'i': {
        this.align(4);
        this.need(4);
        const v = le ? buf.readInt32LE(this.pos) : buf.readInt32BE(this.pos);
        this.pos += 4;
        return v;
      }
      case 'u': case 'h':
        return this.uint32();
      case 'b': {
        const v = this.uint32();
        if (v > 1) throw new Error(`invalid D-Bus boolean ${v} at offset ${this.pos - 4}`);
        return v === 1;
      }
      case 'x': case 't': case 'd': {
        this.align(8);
        this.need(8);
        const at = this.pos;
        this.pos += 8;
        if (code === 'x') return le ? buf.readBigInt64LE(at) : buf.readBigInt64BE(at);
        if (code === 't') return le ? buf.readBigUInt64LE(at) : buf.readBigUInt64BE(at);
        return le ? buf.readDoubleLE(at) : buf.readDoubleBE(at);
      }
      case 's': case 'o': {
        const at = this.pos;
        const value = this.text(this.uint32(), code === 'o' ? 'object path' : 'string');
        if (code === 'o' && !OBJECT_PATH.test(value)) throw new Error(`invalid D-Bus object path "${value}" at offset ${at}`);
        return value;
      }
      case 'g':
        return this.signature();
      case 'v': {
        if (depth >= MAX_TOTAL_NESTING) throw new Error(`invalid D-Bus data: containers nested more than ${MAX_TOTAL_NESTING} deep`);
        const signature = this.signature();
        return new Variant(signature, this.read(singleType(signature), depth + 1));
      }
      case '(': {
        if (depth >= MAX_TOTAL_NESTING) throw new Error(`invalid D-Bus data: containers nested more than ${MAX_TOTAL_NESTING} deep`);
        this.align(8);
        return node.children.map((field) => this.read(field, depth + 1));
      }
      case 'a': {
        if (depth >= MAX_TOTAL_NESTING) throw new Error(`invalid D-Bus data: containers nested more than ${MAX_TOTAL_NESTING} deep`);
        const length = this.uint32();
        if (length > MAX_ARRAY_BYTES) throw new Error(`invalid D-Bus array length ${length} at offset ${this.pos - 4}: over ${MAX_ARRAY_BYTES} bytes`);
        const element = node.children[0];
        this.align(ALIGNMENT[element.code]);
        this.need(length);
        const outerEnd = this.end;
        this.end = this.pos + length;
        let result: DBusValue;
        if (element.code === '{') {
          const [keyType, valueType] = element.children;
          const map = new Map<DBusValue, DBusValue>();
          while (this.pos < this.end) {
            this.align(8);
            const key = this.read(keyType, depth + 2);
            map.set(key, this.read(valueType, depth + 2));
          }
          result = map;
        } else {
          const items: DBusValue[] = [];
          while (this.pos < this.end) items.push(this.read(element, depth + 1));
          result = items;
        }
        this.end = outerEnd;
        return result;
      }
    }
    throw new Error(`cannot unmarshal D-Bus type "${node.text}"`);
  }
}

/**
 * Reads values of `signature` from `buf` starting at `offset`, which must hold exactly those
 * values up to its end. Alignment is relative to `buf[0]`, the start of the message.
 */
export function unmarshal(signature: string, buf: Buffer, offset = 0, littleEndian = true): DBusValue[] {
  if (!Number.isInteger(offset) || offset < 0 || offset > buf.length) throw new Error(`truncated D-Bus data: offset ${offset} is past the end (${buf.length} bytes)`);
  const reader = new Reader(buf, offset, buf.length, littleEndian);
  const values = parseSignature(signature).map((type) => reader.read(type, 0));
  if (reader.pos !== buf.length) throw new Error(`invalid D-Bus data: ${buf.length - reader.pos} bytes left after the values of signature "${signature}"`);
  return values;
}

// ----------------------------------------------------------------------------------- messages

export const MessageType = { METHOD_CALL: 1, METHOD_RETURN: 2, ERROR: 3, SIGNAL: 4 } as const;
export const MessageFlags = { NO_REPLY_EXPECTED: 1, NO_AUTO_START: 2, ALLOW_INTERACTIVE_AUTHORIZATION: 4 } as const;
export const HeaderField = {
  PATH: 1, INTERFACE: 2, MEMBER: 3, ERROR_NAME: 4, REPLY_SERIAL: 5, DESTINATION: 6, SENDER: 7, SIGNATURE: 8, UNIX_FDS: 9,
} as const;

export interface Message {
  type: number;
  flags?: number;
  /** Set on decoded messages; encodeMessage takes the serial as an argument. */
  serial?: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  destination?: string;
  sender?: string;
  signature?: string;
  unixFds?: number;
  body?: DBusValue[];
}

type FieldKey = 'path' | 'interface' | 'member' | 'errorName' | 'replySerial' | 'destination' | 'sender' | 'signature' | 'unixFds';
const FIELDS: [code: number, key: FieldKey, signature: string][] = [
  [1, 'path', 'o'], [2, 'interface', 's'], [3, 'member', 's'], [4, 'errorName', 's'], [5, 'replySerial', 'u'],
  [6, 'destination', 's'], [7, 'sender', 's'], [8, 'signature', 'g'], [9, 'unixFds', 'u'],
];
const REQUIRED_FIELDS: Record<number, FieldKey[]> = {
  1: ['path', 'member'], 2: ['replySerial'], 3: ['errorName', 'replySerial'], 4: ['path', 'interface', 'member'],
};
const HEADER_SIGNATURE = 'yyyyuua(yv)';
const LITTLE = 0x6c; // 'l'
const BIG = 0x42; // 'B'

const MEMBER_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DOTTED_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/;

function checkRequiredFields(m: Message): void {
  for (const key of REQUIRED_FIELDS[m.type] ?? []) {
    if (m[key] === undefined) throw new Error(`invalid D-Bus message of type ${m.type}: no ${key}`);
  }
}

/** Encodes a message, always little-endian. */
export function encodeMessage(m: Message, serial: number): Buffer {
  if (!Number.isInteger(serial) || serial < 1 || serial > 0xffffffff) throw new Error(`invalid D-Bus serial ${serial}`);
  if (![1, 2, 3, 4].includes(m.type)) throw new Error(`invalid D-Bus message type ${m.type}`);
  checkRequiredFields(m);
  const names = [['path', m.path, OBJECT_PATH], ['member', m.member, MEMBER_NAME], ['interface', m.interface, DOTTED_NAME], ['errorName', m.errorName, DOTTED_NAME]] as const;
  for (const [key, value, pattern] of names) {
    if (value !== undefined && (typeof value !== 'string' || (key !== 'path' && value.length > 255) || !pattern.test(value))) {
      throw new Error(`invalid D-Bus ${key} ${describe(value)}`);
    }
  }
  const body = m.body ?? [];
  const signature = m.signature ?? '';
  const fields: DBusValue[] = [];
  for (const [code, key, fieldSignature] of FIELDS) {
    const value = key === 'signature' ? (signature === '' ? undefined : signature) : m[key];
    if (value !== undefined) fields.push([code, new Variant(fieldSignature, value)]);
  }
  const header = marshal(HEADER_SIGNATURE, [LITTLE, m.type, m.flags ?? 0, 1, 0, serial, fields]);
  const bodyStart = Math.ceil(header.length / 8) * 8;
  const bodyBytes = marshal(signature, body, true, bodyStart);
  const total = bodyStart + bodyBytes.length;
  if (total > MAX_MESSAGE_BYTES) throw new Error(`D-Bus message of ${total} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit`);
  const out = Buffer.alloc(total);
  header.copy(out);
  out.writeUInt32LE(bodyBytes.length, 4);
  bodyBytes.copy(out, bodyStart);
  return out;
}

/** Decodes exactly one whole message. Messages of unknown types are returned for the caller to ignore. */
export function decodeMessage(buf: Buffer): Message {
  if (buf.length < 16) throw new Error(`truncated D-Bus message: ${buf.length} bytes`);
  if (buf[0] !== LITTLE && buf[0] !== BIG) throw new Error(`invalid D-Bus message: unknown byte order 0x${buf[0].toString(16)}`);
  const littleEndian = buf[0] === LITTLE;
  const reader = new Reader(buf, 0, buf.length, littleEndian);
  const [, type, flags, version, bodyLength, serial, fields] = parseSignature(HEADER_SIGNATURE).map((t) => reader.read(t, 0)) as
    [number, number, number, number, number, number, [number, Variant][]];
  if (version !== 1) throw new Error(`invalid D-Bus message: protocol version ${version}`);
  if (serial === 0) throw new Error('invalid D-Bus message: serial 0');
  reader.align(8);
  const bodyStart = reader.pos;
  if (bodyStart + bodyLength !== buf.length) throw new Error(`invalid D-Bus message: body of ${bodyLength} bytes does not end the message`);
  const m: Message = { type, flags, serial };
  for (const [code, variant] of fields) {
    const field = FIELDS.find(([c]) => c === code);
    if (!field) continue; // the specification says unknown header fields are ignored
    if (variant.signature !== field[2]) throw new Error(`invalid D-Bus message: header field ${field[1]} has type "${variant.signature}"`);
    (m as unknown as Record<string, DBusValue>)[field[1]] = variant.value;
  }
  checkRequiredFields(m);
  m.body = unmarshal(m.signature ?? '', buf, bodyStart, littleEndian);
  return m;
}

/**
 * Cuts a byte stream into messages. Either byte order is accepted. After it throws, the
 * stream is out of step and the connection must be dropped.
 */
export class MessageParser {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private messageLength = 0; // 0 until the fixed part of the header has arrived

  feed(chunk: Buffer): Message[] {
    const messages: Message[] = [];
    if (chunk.length) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    for (;;) {
      if (this.buffered < (this.messageLength || 16)) return messages;
      const data = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
      this.chunks = [data];
      if (!this.messageLength) {
        this.messageLength = messageLength(data);
        continue;
      }
      const length = this.messageLength;
      const rest = data.subarray(length);
      this.chunks = rest.length ? [rest] : [];
      this.buffered = rest.length;
      this.messageLength = 0;
      messages.push(decodeMessage(data.subarray(0, length)));
    }
  }
}

/** The whole length of the message whose first 16 bytes `head` starts with. */
function messageLength(head: Buffer): number {
  if (head[0] !== LITTLE && head[0] !== BIG) throw new Error(`invalid D-Bus message: unknown byte order 0x${head[0].toString(16)}`);
  const le = head[0] === LITTLE;
  const bodyLength = le ? head.readUInt32LE(4) : head.readUInt32BE(4);
  const fieldsLength = le ? head.readUInt32LE(12) : head.readUInt32BE(12);
  if (fieldsLength > MAX_ARRAY_BYTES) throw new Error(`invalid D-Bus message: header fields of ${fieldsLength} bytes`);
  const total = Math.ceil((16 + fieldsLength) / 8) * 8 + bodyLength;
  if (total > MAX_MESSAGE_BYTES) throw new Error(`invalid D-Bus message: ${total} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit`);
  return total;
}
