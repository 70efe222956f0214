// The TOML reader and text editor behind `tsrun setup`, and its unified diff (checked against diff -u).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture } from '../helpers/fixture.js';
import { parseToml, plain, lookup, TomlError, formatKey, formatString } from '../../runtime/setup/toml.js';
import { setValue, removeKey, addToStringArray, TomlEditError } from '../../runtime/setup/toml-edit.js';
import { unifiedDiff } from '../../runtime/setup/diff.js';

const FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'setup');

test('toml: every kind of value', () => {
  const doc = parseToml([
    '# a comment',
    'title = "T\\u00e9st \\"q\\" \\t" # trailing',
    "lit = 'C:\\path'",
    'ml = """',
    'one \\',
    '   two""""',
    "mll = '''",
    "raw \\n''''",
    'ints = [1_000, 0x1F, 0o17, 0b101, -3, +4]',
    'floats = [1.5, -0.0, 6e-2, inf, -inf, nan]',
    'bools = [true, false]',
    'dates = [1979-05-27T07:32:00Z, 1979-05-27 07:32:00.5-07:00, 1979-05-27, 07:32:00]',
    'nested = [ [1, 2], ["a", \'b\'], ',
    '  # a comment inside',
    '  { x = 1 }, ]',
    '"quoted key" = 1',
    'dotted.a.b = 2',
    'dotted . a . c = 3',
    'inline = { k = "v", sub.deep = true }',
    '[table]',
    'key = "value"',
    '[ table . "sub.table" ]',
    'x = 1',
    '[[arr]]',
    'n = 1',
    '[[arr]]',
    'n = 2',
    '[arr.sub]',
    'y = 1',
  ].join('\n'));
  const v = plain(doc.root) as any;
  assert.equal(v.title, 'Tést "q" \t');
  assert.equal(v.lit, 'C:\\path');
  assert.equal(v.ml, 'one two"');
  assert.equal(v.mll, "raw \\n'");
  assert.deepEqual(v.ints, [1000, 31, 15, 5, -3, 4]);
  assert.deepEqual(v.floats.slice(0, 5), [1.5, -0, 0.06, Infinity, -Infinity]);
  assert.ok(Number.isNaN(v.floats[5]));
  assert.deepEqual(v.bools, [true, false]);
  assert.equal(v.dates.length, 4);
  assert.deepEqual(v.nested, [[1, 2], ['a', 'b'], { x: 1 }]);
  assert.equal(v['quoted key'], 1);
  assert.deepEqual(v.dotted, { a: { b: 2, c: 3 } });
  assert.deepEqual(v.inline, { k: 'v', sub: { deep: true } });
  assert.deepEqual(v.table, { key: 'value', 'sub.table': { x: 1 } });
  assert.deepEqual(v.arr, [{ n: 1 }, { n: 2, sub: { y: 1 } }]);
  assert.deepEqual(doc.headers.map((h) => h.path), [['table'], ['table', 'sub.table'], ['arr'], ['arr'], ['arr', 'sub']]);
  const kv = doc.keyValues.find((k) => k.path.join('.') === 'table.sub.table.x')!;
  assert.equal(doc.text.slice(kv.valueStart, kv.valueEnd), '1');
});

test('toml: CRLF line breaks, a BOM, no final line break', () => {
  const v = plain(parseToml('\ufeffa = 1\r\n[t]\r\nb = "x"').root) as any;
  assert.deepEqual(v, { a: 1, t: { b: 'x' } });
});

test('toml: malformed files are refused with the line of the problem', () => {
  const cases: [string, number, RegExp][] = [
    ['a = 1\na = 2', 2, /duplicate key a/],
    ['[t]\nx = 1\n[t]', 3, /already defined/],
    ['[t]\nx = 1\n[t.x]', 3, /already a value/],
    ['a = "open\nb = 1', 1, /unterminated string/],
    ['a = """\nnever closed', 1, /unterminated multi-line string/],
    ['\n\nkey value', 3, /expected '=' after the key key/],
    ['a = ', 1, /expected a value/],
    ['a = 1 2', 1, /unexpected '2' after a value/],
    ['a = [1, 2', 1, /unterminated array/],
    ['a = [1 2]', 1, /expected ',' or '\]'/],
    ['a = 01', 1, /invalid value|unexpected/],
    ['a = tru', 1, /invalid value/],
    ['a = "\\q"', 1, /invalid escape/],
    ['[a\nb = 1', 1, /to close the table header/],
    ['[a]]\n', 1, /unexpected/],
    ['x = { a = 1 }\n[x.b]', 2, /inline table/],
    ['[a]\nb.c = 1\n[a.b]', 3, /already defined/],
    ['a = 1\n[a.b]', 2, /already a value/],
    ['[[a]]\n[a]', 2, /already defined/],
    ['a = 1 # \u0001 control', 1, /control character/],
    ['= 1', 1, /where a key was expected/],
  ];
  for (const [text, line, message] of cases) {
    assert.throws(() => parseToml(text), (err: unknown) => {
      assert.ok(err instanceof TomlError, `${JSON.stringify(text)}: ${err}`);
      assert.equal(err.line, line, `${JSON.stringify(text)}: ${err.message}`);
      assert.match(err.message, message, JSON.stringify(text));
      return true;
    });
  }
});

test('toml: the engines\' own default configurations read back', () => {
  for (const f of ['containerd-1.6-default.toml', 'containerd-2.1-default.toml', 'containers.conf']) {
    const doc = parseToml(readFileSync(join(FIXTURES, f), 'utf8'));
    assert.ok(doc.headers.length > 0, f);
  }
  const v2 = plain(parseToml(readFileSync(join(FIXTURES, 'containerd-1.6-default.toml'), 'utf8')).root) as any;
  assert.equal(v2.version, 2);
  assert.equal(v2.plugins['io.containerd.grpc.v1.cri'].containerd.runtimes.runc.runtime_type, 'io.containerd.runc.v2');
  const v3 = plain(parseToml(readFileSync(join(FIXTURES, 'containerd-2.1-default.toml'), 'utf8')).root) as any;
  assert.equal(v3.version, 3);
  assert.equal(v3.plugins['io.containerd.cri.v1.runtime'].containerd.runtimes.runc.runtime_type, 'io.containerd.runc.v2');
});

test('toml: keys and strings are written so they read back', () => {
  assert.equal(formatKey(['plugins', 'io.containerd.grpc.v1.cri', 'bare_key-1']), 'plugins."io.containerd.grpc.v1.cri".bare_key-1');
  for (const s of ['plain', 'quote " and \\ backslash', 'tab\tnewline\ncontrol\u0001', 'ünïcødé']) {
    assert.equal((plain(parseToml(`k = ${formatString(s)}`).root) as any).k, s);
  }
});

test('toml edit: a key in an existing table keeps the table\'s indentation; the rest stays byte for byte', () => {
  const text = '# head\n[a]\n  x = 1 # one\n\n# about b\n[b]\n  y = 2\n';
  const out = setValue(text, ['a', 'z'], '"new"');
  assert.equal(out, '# head\n[a]\n  x = 1 # one\n  z = "new"\n\n# about b\n[b]\n  y = 2\n');
  // The same value again changes nothing; another value replaces only the value.
  assert.equal(setValue(out, ['a', 'z'], '"new"'), out);
  assert.equal(setValue(out, ['a', 'x'], '5'), out.replace('x = 1 #', 'x = 5 #'));
});

test('toml edit: a new table goes after its relatives, indented one step below its closest ancestor', () => {
  const text = [
    '[p]',
    '  [p.q]',
    '    a = 1',
    '    [p.q.r]',
    '      b = 2',
    '[other]',
    '  c = 3',
    '',
  ].join('\n');
  const out = setValue(text, ['p', 'q', 's', 't', 'k'], '"v"');
  assert.equal(out, text.replace('      b = 2\n', '      b = 2\n    [p.q.s.t]\n      k = "v"\n'));
  assert.equal(setValue(out, ['p', 'q', 's', 't', 'k'], '"v"'), out);
  // A sibling table sets the indentation.
  const sib = setValue(text, ['p', 'q', 'x', 'k'], '1');
  assert.match(sib, /\n {4}\[p\.q\.x\]\n {6}k = 1\n\[other\]/);
  // Nothing related: at the end, with a line break added to a last line without one.
  assert.equal(setValue('a = 1', ['t', 'k'], '2'), 'a = 1\n\n[t]\nk = 2\n');
  assert.equal(setValue('', ['t', 'k'], '2'), '[t]\nk = 2\n');
  assert.equal(setValue('', ['version'], '3'), 'version = 3\n');
});

test('toml edit: tables made by dotted keys get dotted keys; inline tables and values are refused', () => {
  const dotted = '[a]\nb.c = 1\nother = 2\n';
  assert.equal(setValue(dotted, ['a', 'b', 'd'], '3'), '[a]\nb.c = 1\nb.d = 3\nother = 2\n');
  assert.throws(() => setValue('[a]\nb = { c = 1 }\n', ['a', 'b', 'd'], '3'), (e: unknown) => e instanceof TomlEditError && /a\.b is an inline table \(line 2\)/.test(e.message));
  assert.throws(() => setValue('a = 1\n', ['a', 'b', 'c'], '3'), (e: unknown) => e instanceof TomlEditError && /a is not a table/.test(e.message));
  assert.throws(() => setValue('[[a]]\nx = 1\n', ['a', 'b', 'c'], '3'), (e: unknown) => e instanceof TomlEditError && /array of tables/.test(e.message));
  assert.throws(() => setValue('a = { b = 1 }\n', ['a', 'b'], '3'), TomlEditError);
});

test('toml edit: removing a key line, adding to an array of strings', () => {
  assert.equal(removeKey('[t]\na = 1\nb = 2 # x\nc = 3\n', ['t', 'b']), '[t]\na = 1\nc = 3\n');
  assert.equal(removeKey('[t]\na = 1\n', ['t', 'zz']), '[t]\na = 1\n');
  const arr = '[e]\nlist = [\n  "a", # first\n  "b",\n]\n';
  const out = addToStringArray(arr, ['e', 'list'], 'c', '"c"');
  assert.equal(out, '[e]\nlist = [\n  "a", # first\n  "b", "c",\n]\n');
  assert.equal(addToStringArray(out, ['e', 'list'], 'c', '"c"'), out);
  assert.equal(addToStringArray('l = []\n', ['l'], 'c', '"c"'), 'l = ["c"]\n');
  assert.deepEqual((plain(parseToml(out).root) as any).e.list, ['a', 'b', 'c']);
  assert.ok(lookup(parseToml(out), ['e', 'list']));
});

test('diff: the same hunks as diff -u', (t) => {
  const f = fixture(t);
  const dir = f.dir('tsrun-diff-');
  const base = Array.from({ length: 40 }, (_, i) => `line ${i}`);
  const variants: [string[], string[]][] = [
    [base, [...base.slice(0, 10), 'inserted', ...base.slice(10)]],
    [base, [...base.slice(0, 5), 'changed', ...base.slice(6, 20), 'x', 'y', ...base.slice(20, 38)]],
    [base, [...base.slice(0, 3), ...base.slice(9)]],
    [base, [...base, 'appended']],
    [base, ['prepended', ...base]],
    [[], ['new', 'file']],
    [base.slice(0, 3), [...base.slice(0, 2), 'a', 'b', base[2], 'c']],
    [[...base.slice(0, 10), 'far', ...base.slice(10, 16), 'near', ...base.slice(16)], [...base.slice(0, 10), ...base.slice(10, 16), ...base.slice(16)]],
  ];
  for (const [a, b] of variants) {
    const ta = a.length ? a.join('\n') + '\n' : '';
    const tb = b.join('\n') + '\n';
    writeFileSync(join(dir, 'a'), ta);
    writeFileSync(join(dir, 'b'), tb);
    const expected = spawnSync('diff', ['-u', join(dir, 'a'), join(dir, 'b')], { encoding: 'utf8' }).stdout;
    const ours = unifiedDiff(ta, tb, 'a', 'b');
    assert.equal(ours.split('\n').slice(2).join('\n'), expected.split('\n').slice(2).join('\n'));
  }
  // No final line break is marked as diff marks it.
  assert.match(unifiedDiff('a\nb', 'a\nb\nc\n', 'x', 'y'), /-b\n\\ No newline at end of file\n\+b\n\+c\n/);
  assert.equal(unifiedDiff('same\n', 'same\n', 'x', 'y'), '');
});
