import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeMessage, encodeMessage, isValidSignature, marshal, MessageParser, MessageType, parseSignature, splitSignature,
  unmarshal, Variant, type DBusValue, type Message,
} from '../../runtime/dbus/marshal.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const roundTrip = (signature: string, values: DBusValue[], littleEndian = true) =>
  unmarshal(signature, marshal(signature, values, littleEndian), 0, littleEndian);

test('every basic type round-trips at its extremes, in both byte orders', () => {
  const cases: [string, DBusValue[]][] = [
    ['y', [0]], ['y', [255]],
    ['n', [-32768]], ['n', [32767]], ['q', [0]], ['q', [65535]],
    ['i', [-(2 ** 31)]], ['i', [2 ** 31 - 1]], ['u', [0]], ['u', [2 ** 32 - 1]], ['h', [3]],
    ['x', [-(2n ** 63n)]], ['x', [2n ** 63n - 1n]], ['t', [0n]], ['t', [2n ** 64n - 1n]],
    ['d', [3.5]], ['d', [-0]], ['d', [NaN]], ['d', [Infinity]], ['d', [Number.MIN_VALUE]],
    ['b', [true]], ['b', [false]],
    ['s', ['']], ['s', ['héllo ✓ 🐳']], ['o', ['/']], ['o', ['/org/freedesktop/systemd1/unit/tsrun_2d1_2escope']],
    ['g', ['']], ['g', ['a{sv}(ii)']],
    ['v', [new Variant('s', 'x')]], ['v', [new Variant('v', new Variant('ay', [1, 2]))]],
  ];
  for (const [signature, values] of cases) {
    assert.deepEqual(roundTrip(signature, values), values, signature);
    assert.deepEqual(roundTrip(signature, values, false), values, `${signature} big-endian`);
  }
});

test('64-bit integers accept safe numbers and come back as bigints', () => {
  assert.deepEqual(roundTrip('xt', [-5, 5]), [-5n, 5n]);
  assert.throws(() => marshal('t', [2 ** 53]), /not a safe integer/);
  assert.throws(() => marshal('t', [-1n]), /out of range/);
});

test("systemd's StartTransientUnit signature round-trips with every property type tsrun sends", () => {
  const signature = 'ssa(sv)a(sa(sv))';
  const body: DBusValue[] = [
    'tsrun-abc.scope',
    'replace',
    [
      ['Description', new Variant('s', 'tsrun container abc')],
      ['Delegate', new Variant('b', true)],
      ['MemoryMax', new Variant('t', 1n << 30n)],
      ['CPUShares', new Variant('u', 1024)],
      ['PIDs', new Variant('au', [1234, 5678])],
      ['DeviceAllow', new Variant('a(ss)', [['/dev/null', 'rwm'], ['char-pts', 'rw']])],
      ['Wants', new Variant('as', ['a.service', 'b.service'])],
      ['AllowedCPUs', new Variant('ay', [0x0f, 0x01])],
    ],
    [['tsrun-abc-aux.scope', [['Description', new Variant('s', 'aux')]]]],
  ];
  assert.deepEqual(roundTrip(signature, body), body);
  assert.deepEqual(roundTrip(signature, body, false), body);
  assert.deepEqual(splitSignature(signature), ['s', 's', 'a(sv)', 'a(sa(sv))']);
});

test('JobRemoved (uoss) and a{sv} round-trip', () => {
  const jobRemoved: DBusValue[] = [42, '/org/freedesktop/systemd1/job/42', 'tsrun-abc.scope', 'done'];
  assert.deepEqual(roundTrip('uoss', jobRemoved), jobRemoved);
  const props = new Map<DBusValue, DBusValue>([['MemoryCurrent', new Variant('t', 123n)], ['ActiveState', new Variant('s', 'active')]]);
  const [back] = roundTrip('a{sv}', [props]);
  assert.ok(back instanceof Map);
  assert.deepEqual([...back], [...props]);
  assert.deepEqual(roundTrip('a{ta{sb}}', [new Map([[1n, new Map([['k', true]])]])]), [new Map([[1n, new Map([['k', true]])]])]);
});

// The byte vectors below were worked out by hand from the specification's alignment rules.
test('hand-computed encodings: basic values, strings and variants', () => {
  assert.deepEqual(marshal('yu', [1, 0x01020304]), hex('01 000000 04030201'));
  assert.deepEqual(marshal('uq', [42, 7], false), hex('0000002a 0007'));
  assert.deepEqual(marshal('s', ['hi']), hex('02000000 6869 00'));
  assert.deepEqual(marshal('g', ['a{sv}']), hex('05 617b73767d 00'));
  // A variant: its signature (1 byte length), NUL, pad to 4, then the value.
  assert.deepEqual(marshal('v', [new Variant('u', 5)]), hex('01 75 00 00 05000000'));
  assert.deepEqual(marshal('b', [true]), hex('01000000'));
});

test('hand-computed encodings: struct after a byte pads to 8', () => {
  const bytes = hex('01 00000000000000 02 000000 03000000');
  assert.deepEqual(marshal('y(yu)', [1, [2, 3]]), bytes);
  assert.deepEqual(unmarshal('y(yu)', bytes), [1, [2, 3]]);
});

test('hand-computed encodings: array length excludes the padding after it but counts padding between elements', () => {
  // Length at 0, padding 4..8 (outside the length), first (ty) at 8..17, 7 bytes of padding, second at 24..33:
  // the length is 33 - 8 = 25.
  const twoStructs = hex('19000000 00000000 0100000000000000 02 00000000000000 0300000000000000 04');
  assert.deepEqual(marshal('a(ty)', [[[1n, 2], [3n, 4]]]), twoStructs);
  assert.deepEqual(unmarshal('a(ty)', twoStructs), [[[1n, 2], [3n, 4]]]);
  // The padding to the first element is there even in an empty array.
  assert.deepEqual(marshal('at', [[]]), hex('00000000 00000000'));
  // After a byte the length sits at 4 and the int64 elements are already 8-aligned.
  const afterByte = hex('01 000000 08000000 0700000000000000');
  assert.deepEqual(marshal('yat', [1, [7n]]), afterByte);
  assert.deepEqual(unmarshal('yat', afterByte), [1, [7n]]);
  // At offset 8 of a message (startOffset) a lone array of int64 needs 4 bytes of padding after its length.
  assert.deepEqual(marshal('at', [[7n]], true, 8), hex('08000000 00000000 0700000000000000'));
  assert.deepEqual(marshal('at', [[7n]], true, 4), hex('08000000 0700000000000000'));
});

test('hand-computed encodings: a{sv}', () => {
  const bytes = hex('10000000 00000000 01000000 61 00 01 62 00 000000 01000000');
  assert.deepEqual(marshal('a{sv}', [new Map([['a', new Variant('b', true)]])]), bytes);
  assert.deepEqual(unmarshal('a{sv}', bytes), [new Map([['a', new Variant('b', true)]])]);
});

test('big-endian input decodes', () => {
  assert.deepEqual(unmarshal('uqs', hex('0000002a 0007 0000 00000002 6869 00'), 0, false), [42, 7, 'hi']);
  assert.deepEqual(unmarshal('x', hex('fffffffffffffffe'), 0, false), [-2n]);
  assert.deepEqual(unmarshal('ai', hex('00000008 00000001 ffffffff'), 0, false), [[1, -1]]);
});

test('signatures: complete types are split, invalid ones are rejected with the reason', () => {
  assert.deepEqual(splitSignature('a{sv}(ii)vas'), ['a{sv}', '(ii)', 'v', 'as']);
  assert.deepEqual(splitSignature(''), []);
  assert.equal(parseSignature('a{sv}')[0].children[0].code, '{');
  const bad: [string, RegExp][] = [
    ['a', /array has no element type/], ['(', /not closed/], ['()', /no fields/], ['a{vs}', /key must be a basic type/],
    ['a{s}', /key and a value/], ['a{sss}', /exactly one key/], ['{sv}', /only allowed as an array element/], ['z', /unexpected "z"/],
    [')', /unexpected/], ['s'.repeat(256), /longer than 255/], [`${'a'.repeat(33)}y`, /arrays nested more than 32/],
    [`${'('.repeat(33)}y${')'.repeat(33)}`, /structs nested more than 32/],
  ];
  for (const [signature, reason] of bad) {
    assert.throws(() => parseSignature(signature), reason, signature);
    assert.equal(isValidSignature(signature), false);
  }
  assert.ok(isValidSignature(`${'a'.repeat(32)}y`));
  assert.throws(() => marshal('v', [new Variant('uu', 1)]), /not a single complete type/);
});

test('marshalling rejects values that do not match, naming the type and the value', () => {
  assert.throws(() => marshal('u', [-1]), /cannot marshal -1 as D-Bus type "u" \(signature "u"\)/);
  assert.throws(() => marshal('y', [256]), /256 as D-Bus type "y"/);
  assert.throws(() => marshal('i', [1.5]), /1.5/);
  assert.throws(() => marshal('s', [5]), /cannot marshal 5 as D-Bus type "s"/);
  assert.throws(() => marshal('s', ['a\0b']), /NUL/);
  assert.throws(() => marshal('o', ['/a/']), /object path/);
  assert.throws(() => marshal('o', ['relative']), /object path/);
  assert.throws(() => marshal('g', ['a{vs}']), /invalid D-Bus signature/);
  assert.throws(() => marshal('b', [1]), /type "b"/);
  assert.throws(() => marshal('v', ['plain']), /expected a Variant/);
  assert.throws(() => marshal('a{sv}', [{} as DBusValue]), /expected a Map/);
  assert.throws(() => marshal('a(sv)', [[['k', 'not a variant']]]), /type "v" \(signature "a\(sv\)"\)/);
  assert.throws(() => marshal('(su)', [['a']]), /expected an array of 2 fields/);
  assert.throws(() => marshal('ss', ['a']), /expected 2 values/);
  let deep: DBusValue = 1;
  for (let i = 0; i < 65; i++) deep = new Variant(i === 0 ? 'y' : 'v', deep);
  assert.throws(() => marshal('v', [deep]), /nested more than 64/);
});

/** Our decoding errors, as opposed to a RangeError from reading past a Buffer's end. */
function assertDecodeError(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, (err: Error) => {
    assert.ok(!(err instanceof RangeError), `read out of bounds: ${err.message}`);
    assert.match(err.message, /D-Bus/);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

test('malformed input throws a clear error and never reads out of bounds', () => {
  assertDecodeError(() => unmarshal('s', hex('02000000 6869 21')), /not NUL-terminated/);
  assertDecodeError(() => unmarshal('s', hex('03000000 680069 00')), /contains a NUL/);
  assertDecodeError(() => unmarshal('s', hex('02000000 ff fe 00')), /not UTF-8/);
  assertDecodeError(() => unmarshal('s', hex('ffffffff 00')), /truncated/);
  assertDecodeError(() => unmarshal('b', hex('02000000')), /invalid D-Bus boolean 2/);
  assertDecodeError(() => unmarshal('ay', hex('ffffffff')), /array length/);
  assertDecodeError(() => unmarshal('ay', hex('0a000000 0102')), /truncated/);
  assertDecodeError(() => unmarshal('a(yy)', hex('03000000 00000000 010203')), /truncated/);
  assertDecodeError(() => unmarshal('yu', hex('01 000100 05000000')), /non-zero padding/);
  assertDecodeError(() => unmarshal('o', hex('03000000 2f612f 00')), /object path/);
  assertDecodeError(() => unmarshal('o', hex('02000000 612f 00')), /object path/);
  assertDecodeError(() => unmarshal('g', hex('01 7a 00')), /invalid D-Bus signature "z"/);
  assertDecodeError(() => unmarshal('v', hex('02 7575 00 00000000 00000000')), /not a single complete type/);
  assertDecodeError(() => unmarshal('u', hex('01000000 00')), /1 bytes left/);
  assertDecodeError(() => unmarshal('u', hex('010000')), /truncated/);
  assertDecodeError(() => unmarshal('u', hex('01000000'), 9), /past the end/);
  assertDecodeError(() => unmarshal('a', hex('00000000')), /signature/);
  // Variants inside variants: each a signature "v", then a byte at the bottom.
  const nested = (depth: number) => Buffer.concat([...Array(depth).fill(hex('01 76 00')), hex('01 79 00 05')]);
  assert.ok(unmarshal('v', nested(63)));
  assertDecodeError(() => unmarshal('v', nested(64)), /nested more than 64/);
});

test('every truncation and many corruptions of a systemd body fail cleanly', () => {
  const signature = 'ssa(sv)a(sa(sv))';
  const body: DBusValue[] = ['u.scope', 'fail', [['A', new Variant('at', [1n])], ['B', new Variant('a{sv}', new Map([['k', new Variant('d', 1.5)]]))]], []];
  const bytes = marshal(signature, body);
  for (let length = 0; length < bytes.length; length++) assertDecodeError(() => unmarshal(signature, bytes.subarray(0, length)));
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let round = 0; round < 3000; round++) {
    const corrupt = Buffer.from(bytes);
    for (let n = 1 + Math.floor(random() * 3); n > 0; n--) corrupt[Math.floor(random() * corrupt.length)] = Math.floor(random() * 256);
    try {
      unmarshal(signature, corrupt);
    } catch (err) {
      assert.ok(!(err instanceof RangeError), `read out of bounds: ${(err as Error).message}`);
      assert.match((err as Error).message, /D-Bus/);
    }
  }
});

const call: Message = {
  type: MessageType.METHOD_CALL, flags: 0, path: '/org/freedesktop/systemd1', interface: 'org.freedesktop.systemd1.Manager',
  member: 'StartTransientUnit', destination: 'org.freedesktop.systemd1', signature: 'ssa(sv)a(sa(sv))',
  body: ['x.scope', 'fail', [['PIDs', new Variant('au', [1])]], []],
};
const signal: Message = {
  type: MessageType.SIGNAL, flags: 0, path: '/org/freedesktop/systemd1', interface: 'org.freedesktop.systemd1.Manager',
  member: 'JobRemoved', sender: ':1.0', signature: 'uoss', body: [7, '/org/freedesktop/systemd1/job/7', 'x.scope', 'done'],
};
const reply: Message = { type: MessageType.METHOD_RETURN, flags: 0, replySerial: 3, destination: ':1.5' };
const error: Message = {
  type: MessageType.ERROR, flags: 1, replySerial: 4, errorName: 'org.freedesktop.systemd1.UnitExists', signature: 's', body: ['Unit x.scope already exists.'],
};

test('messages encode and decode back, bodies starting 8-aligned', () => {
  for (const [i, m] of [call, signal, reply, error].entries()) {
    const bytes = encodeMessage(m, i + 1);
    assert.equal(bytes[0], 0x6c);
    assert.deepEqual(decodeMessage(bytes), { body: [], ...m, serial: i + 1 });
  }
});

test('a method call encodes to the hand-computed header', () => {
  const expected = hex(`
    6c 01 00 01  00000000  01000000  1a000000
    01 01 6f 00  01000000  2f 00 000000000000
    03 01 73 00  01000000  50 00 000000000000`);
  assert.deepEqual(encodeMessage({ type: MessageType.METHOD_CALL, path: '/', member: 'P' }, 1), expected);
});

test('a big-endian signal with a body decodes', () => {
  const bytes = hex(`
    42 04 00 01  00000004  00000007  00000037
    01 01 6f 00  00000001  2f 00 000000000000
    02 01 73 00  00000003  612e6200 00000000
    03 01 73 00  00000001  4d 00 000000000000
    08 01 67 00  01 75 00 00
    01020304`);
  assert.deepEqual(decodeMessage(bytes), {
    type: 4, flags: 0, serial: 7, path: '/', interface: 'a.b', member: 'M', signature: 'u', body: [0x01020304],
  });
});

test('malformed messages are rejected', () => {
  const good = encodeMessage(call, 1);
  assertDecodeError(() => decodeMessage(Buffer.concat([hex('50'), good.subarray(1)])), /byte order/);
  const badVersion = Buffer.from(good);
  badVersion[3] = 2;
  assertDecodeError(() => decodeMessage(badVersion), /protocol version 2/);
  const longerBody = Buffer.from(good);
  longerBody.writeUInt32LE(longerBody.readUInt32LE(4) + 8, 4);
  assertDecodeError(() => decodeMessage(longerBody), /does not end the message/);
  assertDecodeError(() => decodeMessage(encodeMessage(call, 1).subarray(0, 20)), /does not end|truncated/);
  for (let length = 0; length < good.length; length++) assertDecodeError(() => decodeMessage(good.subarray(0, length)));
  // A METHOD_RETURN without REPLY_SERIAL: the same bytes as `reply` minus its fields.
  assertDecodeError(() => decodeMessage(hex('6c 02 00 01 00000000 01000000 00000000')), /no replySerial/);
  assert.throws(() => encodeMessage({ type: MessageType.METHOD_CALL, path: '/' }, 1), /no member/);
  assert.throws(() => encodeMessage({ ...call, member: 'Bad.Member' }, 1), /invalid D-Bus member/);
  assert.throws(() => encodeMessage({ ...call, interface: 'nodots' }, 1), /invalid D-Bus interface "nodots"/);
  assert.throws(() => encodeMessage({ ...call, path: 'systemd1' }, 1), /invalid D-Bus path "systemd1"/);
  assert.throws(() => encodeMessage(call, 0), /serial 0/);
  assert.throws(() => new MessageParser().feed(hex('6c010001 00000010 01000000 ffffffff')), /header fields of/);
  assert.throws(() => new MessageParser().feed(hex('6c010001 fffffff0 01000000 10000000')), /over the 134217728-byte limit/);
});

test('MessageParser reassembles messages fed one byte at a time, and fed all at once', () => {
  const messages = [call, signal, reply, error];
  const stream = Buffer.concat(messages.map((m, i) => encodeMessage(m, i + 10)));
  const expected = messages.map((m, i) => ({ body: [], ...m, serial: i + 10 }));
  const parser = new MessageParser();
  const got: Message[] = [];
  for (let i = 0; i < stream.length; i++) got.push(...parser.feed(stream.subarray(i, i + 1)));
  assert.deepEqual(got, expected);
  assert.deepEqual(new MessageParser().feed(stream), expected);
  const halves = new MessageParser();
  assert.deepEqual([...halves.feed(stream.subarray(0, 100)), ...halves.feed(stream.subarray(100))], expected);
});
