// Generates TypeScript encoders/decoders from proto/schema/*.schema (tsrun's compact notation,
// see proto/schema/README.txt) into proto/generated/: one module per package, plus schema.json
// (the resolved schema, which the tests hand to python3-protobuf to cross-check the encodings).
// Runs at build time only: nothing parses schema text when tsrun or the shim runs.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const schemaDir = join(root, 'proto/schema');
const outDir = join(root, 'proto/generated');

const SCALARS = {
  // type: [wire type, TS decoded type, TS init type, writer/reader method, packable]
  double: [1, 'number', 'number', 'double', true],
  float: [5, 'number', 'number', 'float', true],
  int64: [0, 'bigint', 'bigint | number', 'int64', true],
  uint64: [0, 'bigint', 'bigint | number', 'uint64', true],
  int32: [0, 'number', 'number', 'int32', true],
  fixed64: [1, 'bigint', 'bigint | number', 'fixed64', true],
  fixed32: [5, 'number', 'number', 'fixed32', true],
  bool: [0, 'boolean', 'boolean', 'bool', true],
  string: [2, 'string', 'string', 'string', false],
  bytes: [2, 'Buffer', 'Uint8Array', 'bytes', false], // decoded: a view into the input
  uint32: [0, 'number', 'number', 'uint32', true],
  sfixed32: [5, 'number', 'number', 'sfixed32', true],
  sfixed64: [1, 'bigint', 'bigint | number', 'sfixed64', true],
  sint32: [0, 'number', 'number', 'sint32', true],
  sint64: [0, 'bigint', 'bigint | number', 'sint64', true],
};

function fail(file, line, msg) {
  throw new Error(`${file}:${line}: ${msg}`);
}

// ------------------------------------------------------------------------------------ parsing

function parseFile(file) {
  const text = readFileSync(join(schemaDir, file), 'utf8');
  const pkg = { file, name: '', syntax: '', unqualified: false, messages: [], enums: [], services: [] };
  let current;
  text.split('\n').forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const words = line.split(/\s+/);
    const indented = /^\s/.test(raw);
    if (!indented) {
      const [kind, name, ...rest] = words;
      if (kind === 'package') {
        if (pkg.name) fail(file, lineNo, 'second package line');
        pkg.name = name;
        pkg.syntax = rest[0];
        pkg.unqualified = rest[1] === 'unqualified';
        if (pkg.syntax !== 'proto3' && pkg.syntax !== 'proto2') fail(file, lineNo, `syntax must be proto2 or proto3, not ${pkg.syntax}`);
        return;
      }
      if (!pkg.name) fail(file, lineNo, 'the package line comes first');
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name ?? '')) fail(file, lineNo, `bad name ${name}`);
      if (kind === 'message') pkg.messages.push(current = { kind, name, fields: [], line: lineNo });
      else if (kind === 'enum') pkg.enums.push(current = { kind, name, values: [], line: lineNo });
      else if (kind === 'service') pkg.services.push(current = { kind, name, methods: [], line: lineNo });
      else fail(file, lineNo, `unknown declaration ${kind}`);
      return;
    }
    if (!current) fail(file, lineNo, 'indented line outside a declaration');
    if (current.kind === 'enum') {
      const [name, num] = words;
      if (words.length !== 2 || !/^-?\d+$/.test(num)) fail(file, lineNo, 'enum values are NAME NUMBER');
      current.values.push({ name, number: Number(num) });
    } else if (current.kind === 'service') {
      const [name, request, response] = words;
      if (words.length !== 3) fail(file, lineNo, 'methods are Name RequestType ResponseType');
      current.methods.push({ name, request, response });
    } else {
      const [num, name, type] = words;
      if (words.length !== 3 || !/^\d+$/.test(num)) fail(file, lineNo, 'fields are NUMBER name type');
      const number = Number(num);
      if (number < 1 || number > 0x1fffffff || (number >= 19000 && number <= 19999)) fail(file, lineNo, `bad field number ${number}`);
      if (current.fields.some((f) => f.number === number)) fail(file, lineNo, `field number ${number} used twice`);
      if (current.fields.some((f) => f.name === name)) fail(file, lineNo, `field name ${name} used twice`);
      const m = /^(map<(\w+),([\w.]+)>|[\w.]+)(\[\]|\[packed\]|\?|!)?$/.exec(type);
      if (!m) fail(file, lineNo, `bad type ${type}`);
      const field = { number, name, line: lineNo, label: 'singular', type: m[1], packed: false };
      if (m[2]) {
        if (m[4]) fail(file, lineNo, 'a map takes no suffix');
        if (m[2] !== 'string') fail(file, lineNo, 'only string map keys are supported');
        field.label = 'map';
        field.type = m[3];
      } else if (m[4] === '[]') field.label = 'repeated';
      else if (m[4] === '[packed]') { field.label = 'repeated'; field.packed = true; }
      else if (m[4] === '?') field.label = 'optional';
      else if (m[4] === '!') field.label = 'required';
      current.fields.push(field);
    }
  });
  if (!pkg.name) fail(file, 1, 'no package line');
  return pkg;
}

// ---------------------------------------------------------------------------------- resolving

const packages = readdirSync(schemaDir).filter((f) => f.endsWith('.schema')).sort().map(parseFile);
const types = new Map(); // full name -> { kind, pkg, name }
const fullName = (pkg, name) => (pkg.unqualified ? name : `${pkg.name}.${name}`);
for (const pkg of packages) {
  for (const decl of [...pkg.messages, ...pkg.enums]) {
    const fn = fullName(pkg, decl.name);
    if (types.has(fn)) fail(pkg.file, decl.line, `${fn} declared twice`);
    types.set(fn, { kind: decl.kind, pkg, decl, fullName: fn });
  }
}

function resolve(pkg, ref, line) {
  if (SCALARS[ref]) return { kind: 'scalar', name: ref };
  const scopes = pkg.unqualified ? [''] : pkg.name.split('.').map((_, i, a) => a.slice(0, a.length - i).join('.')).concat('');
  for (const scope of scopes) {
    const t = types.get(scope ? `${scope}.${ref}` : ref);
    if (t) return t;
  }
  return fail(pkg.file, line, `unknown type ${ref}`);
}

for (const pkg of packages) {
  for (const msg of pkg.messages) {
    for (const f of msg.fields) {
      f.resolved = resolve(pkg, f.type, f.line);
      const scalar = f.resolved.kind === 'scalar';
      if (pkg.syntax === 'proto2' && f.label === 'singular') fail(pkg.file, f.line, 'proto2 fields say ? (optional) or ! (required)');
      if (pkg.syntax === 'proto3' && f.label === 'required') fail(pkg.file, f.line, 'proto3 has no required fields');
      if (f.label === 'repeated' && pkg.syntax === 'proto3' && (f.resolved.kind === 'enum' || (scalar && SCALARS[f.type][4]))) f.packed = true;
      if (f.packed && !(f.resolved.kind === 'enum' || (scalar && SCALARS[f.type][4]))) fail(pkg.file, f.line, 'only numeric fields can be packed');
    }
  }
  for (const svc of pkg.services) {
    for (const m of svc.methods) {
      for (const which of ['request', 'response']) {
        const t = resolve(pkg, m[which], svc.line);
        if (t.kind !== 'message') fail(pkg.file, svc.line, `${m[which]} is not a message`);
        m[`${which}Type`] = t;
      }
    }
  }
}

// --------------------------------------------------------------------------------- generation

const moduleName = (pkg) => pkg.name;
const alias = (pkg) => pkg.name.replace(/\./g, '_');

function gen(pkg) {
  const deps = new Set();
  const ref = (t, suffix = '') => {
    if (t.pkg === pkg) return `${t.decl.name}${suffix}`;
    deps.add(t.pkg);
    return `${alias(t.pkg)}.${t.decl.name}${suffix}`;
  };
  const proto3 = pkg.syntax === 'proto3';
  const out = [];
  const body = [];

  for (const en of pkg.enums) {
    body.push(`/** ${fullName(pkg, en.name)} (an open enum: other numbers decode as they are). */`);
    body.push(`export const ${en.name} = {`);
    for (const v of en.values) body.push(`  ${v.name}: ${v.number},`);
    body.push('} as const;');
    body.push(`export type ${en.name} = number;`);
    body.push('');
  }

  for (const msg of pkg.messages) {
    const typeName = fullName(pkg, msg.name);
    const tsType = (f, init) => {
      const t = f.resolved;
      if (t.kind === 'scalar') return SCALARS[t.name][init ? 2 : 1];
      if (t.kind === 'enum') return 'number';
      return init ? ref(t, 'Init') : ref(t);
    };
    // Interfaces: the decoded form (every implicit-presence field filled in) and the init form.
    body.push(`/** ${typeName} */`);
    body.push(`export interface ${msg.name} {`);
    for (const f of msg.fields) {
      const t = tsType(f, false);
      if (f.label === 'repeated') body.push(`  ${f.name}: ${t}[];`);
      else if (f.label === 'map') body.push(`  ${f.name}: Record<string, ${t}>;`);
      else if (f.label === 'optional' || (f.label === 'singular' && f.resolved.kind === 'message')) body.push(`  ${f.name}?: ${t};`);
      else body.push(`  ${f.name}: ${t};`);
    }
    body.push('}');
    body.push(`export interface ${msg.name}Init {`);
    for (const f of msg.fields) {
      const t = tsType(f, true);
      if (f.label === 'repeated') body.push(`  ${f.name}?: readonly ${t.includes('|') ? `(${t})` : t}[] | null;`);
      else if (f.label === 'map') body.push(`  ${f.name}?: Readonly<Record<string, ${t}>> | null;`);
      else body.push(`  ${f.name}?: ${t} | null;`);
    }
    body.push('}');

    // Encoder.
    const w = (f) => {
      const t = f.resolved;
      if (t.kind === 'enum') return { wire: 0, write: (v) => `w.int32(${v});` };
      if (t.kind === 'scalar') return { wire: SCALARS[t.name][0], write: (v) => `w.${SCALARS[t.name][3]}(${v});` };
      return { wire: 2, write: (v) => `w.fork(); ${ref(t)}._enc(w, ${v}); w.ldelim();` };
    };
    // proto3 implicit presence: a field is written unless it holds its default (-0.0 and NaN are not defaults).
    const isSet = (f, v) => {
      const t = f.resolved;
      if (t.kind === 'message') return `${v} != null`;
      if (t.kind === 'enum') return v;
      switch (t.name) {
        case 'bytes': return `${v} != null && ${v}.length > 0`;
        case 'double': case 'float': return `${v} != null && (${v} !== 0 || 1 / ${v} < 0)`;
        default: return v;
      }
    };
    body.push(`function enc_${msg.name}(w: Writer, m: ${msg.name}Init): void {`);
    body.push('  let v: any;');
    for (const f of msg.fields) {
      const { wire, write } = w(f);
      const tag = (wt) => `w.tag(${f.number}, ${wt});`;
      body.push(`  v = m.${f.name};`);
      if (f.label === 'repeated') {
        if (f.packed) body.push(`  if (v != null && v.length > 0) { ${tag(2)} w.fork(); for (const e of v) ${write('e')} w.ldelim(); }`);
        else body.push(`  if (v != null) for (const e of v) { ${tag(wire)} ${write('e')} }`);
      } else if (f.label === 'map') {
        const valueField = { ...f, label: 'singular' };
        const vw = w(valueField);
        const value = f.resolved.kind === 'message' ? '(e[1] ?? {})' : 'e[1]';
        body.push(`  if (v != null) for (const e of Object.entries(v) as [string, any][]) { ${tag(2)} w.fork(); w.tag(1, 2); w.string(e[0]); w.tag(2, ${vw.wire}); ${vw.write(value)} w.ldelim(); }`);
      } else if (f.label === 'required') {
        body.push(`  if (v == null) requiredMissing(${JSON.stringify(typeName)}, ${JSON.stringify(f.name)});`);
        body.push(`  ${tag(wire)} ${write('v')}`);
      } else if (f.label === 'optional' || !proto3) {
        body.push(`  if (v != null) { ${tag(wire)} ${write('v')} }`);
      } else {
        body.push(`  if (${isSet(f, 'v')}) { ${tag(wire)} ${write('v')} }`);
      }
    }
    body.push('}');

    // Decoder: decodes into `into` when given, which is how a repeated occurrence of a message field merges.
    const read = (f) => {
      const t = f.resolved;
      if (t.kind === 'enum') return 'r.int32()';
      if (t.kind === 'scalar') return `r.${SCALARS[t.name][3]}()`;
      return null;
    };
    const zero = (f) => {
      const t = f.resolved;
      if (t.kind === 'enum') return '0';
      if (t.kind === 'message') return 'undefined';
      switch (SCALARS[t.name][1]) {
        case 'number': return '0';
        case 'bigint': return '0n';
        case 'boolean': return 'false';
        case 'string': return "''";
        default: return 'EMPTY_BYTES';
      }
    };
    body.push(`function dec_${msg.name}(r: Reader, end: number, into?: ${msg.name}): ${msg.name} {`);
    const init = [];
    for (const f of msg.fields) {
      if (f.label === 'repeated') init.push(`${f.name}: []`);
      else if (f.label === 'map') init.push(`${f.name}: {}`);
      else if (f.label === 'singular' && f.resolved.kind !== 'message') init.push(`${f.name}: ${zero(f)}`);
      else if (f.label === 'required') init.push(`${f.name}: ${zero(f)}`);
    }
    body.push(`  const m: ${msg.name} = into ?? { ${init.join(', ')} };`);
    const required = msg.fields.filter((f) => f.label === 'required');
    if (required.length) body.push('  let seen = 0;');
    body.push('  while (r.pos < end) {');
    body.push('    const t = r.tag();');
    if (msg.fields.length) {
      body.push('    switch (t >>> 3) {');
      for (const f of msg.fields) {
        const rd = read(f);
        const { wire } = w(f);
        body.push(`      case ${f.number}:`);
        const mark = f.label === 'required' ? ` seen |= ${1 << required.indexOf(f)};` : '';
        if (f.label === 'repeated') {
          if (rd) {
            if (wire !== 2) body.push(`        if ((t & 7) === 2) { const e = r.lenEnd(); while (r.pos < e) m.${f.name}.push(${rd}); r.done(e); continue; }`);
            body.push(`        if ((t & 7) === ${wire}) { m.${f.name}.push(${rd}); continue; }`);
          } else {
            body.push(`        if ((t & 7) === 2) { const e = r.lenEnd(); m.${f.name}.push(${ref(f.resolved)}._dec(r, e)); r.done(e); continue; }`);
          }
        } else if (f.label === 'map') {
          const vr = rd ?? `${ref(f.resolved)}._dec(r, ve)`;
          const vwire = wire;
          const vzero = f.resolved.kind === 'message' ? `${ref(f.resolved)}.create()` : zero(f);
          const valueRead = f.resolved.kind === 'message'
            ? `{ const ve = r.lenEnd(); v = ${vr}; r.done(ve); }`
            : `v = ${vr};`;
          body.push(`        if ((t & 7) === 2) { const e = r.lenEnd(); let k = ''; let v: any = ${vzero}; while (r.pos < e) { const et = r.tag(); if (et === 10) k = r.string(); else if (et === ${16 + vwire}) ${valueRead} else r.skip(et); } r.done(e); setEntry(m.${f.name}, k, v); continue; }`);
        } else if (rd) {
          body.push(`        if ((t & 7) === ${wire}) { m.${f.name} = ${rd};${mark} continue; }`);
        } else {
          body.push(`        if ((t & 7) === 2) { const e = r.lenEnd(); m.${f.name} = ${ref(f.resolved)}._dec(r, e, m.${f.name});${mark} r.done(e); continue; }`);
        }
        body.push('        break;');
      }
      body.push('    }');
    }
    body.push('    r.skip(t);');
    body.push('  }');
    body.push('  r.done(end);');
    if (required.length) {
      required.forEach((f, i) => body.push(`  if (!(seen & ${1 << i})) requiredMissing(${JSON.stringify(typeName)}, ${JSON.stringify(f.name)});`));
    }
    body.push('  return m;');
    body.push('}');
    body.push(`export const ${msg.name}: MessageType<${msg.name}, ${msg.name}Init> = {`);
    body.push(`  typeName: ${JSON.stringify(typeName)},`);
    body.push(`  encode: (m) => encodeTop(${JSON.stringify(typeName)}, m, enc_${msg.name}),`);
    body.push(`  decode: (b) => decodeTop(${JSON.stringify(typeName)}, b, dec_${msg.name}),`);
    body.push(`  create: (m) => decodeTop(${JSON.stringify(typeName)}, encodeTop(${JSON.stringify(typeName)}, m ?? {}, enc_${msg.name}), dec_${msg.name}),`);
    body.push(`  _enc: enc_${msg.name},`);
    body.push(`  _dec: dec_${msg.name},`);
    body.push('};');
    body.push('');
  }

  for (const svc of pkg.services) {
    const name = fullName(pkg, svc.name);
    body.push(`/** The ${name} service: each method's request and response types. */`);
    body.push(`export const ${svc.name} = {`);
    body.push(`  name: ${JSON.stringify(name)},`);
    body.push('  methods: {');
    for (const m of svc.methods) body.push(`    ${m.name}: { name: ${JSON.stringify(m.name)}, request: ${ref(m.requestType)}, response: ${ref(m.responseType)} },`);
    body.push('  },');
    body.push('} as const;');
    body.push('');
  }

  out.push(`// Generated by scripts/gen-proto.mjs from proto/schema/${pkg.file}. Do not edit.`);
  out.push('/* eslint-disable */');
  const runtimeNames = ['Reader', 'Writer', 'decodeTop', 'encodeTop', 'requiredMissing', 'setEntry', 'EMPTY_BYTES'].filter((n) => body.some((l) => l.includes(n)));
  out.push(`import { ${runtimeNames.join(', ')}, type MessageType } from '../runtime.js';`);
  for (const d of [...deps].sort((a, b) => a.name.localeCompare(b.name))) out.push(`import * as ${alias(d)} from './${moduleName(d)}.js';`);
  out.push('');
  return out.concat(body).join('\n');
}

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
for (const pkg of packages) writeFileSync(join(outDir, `${moduleName(pkg)}.ts`), gen(pkg));

// The resolved schema, for the cross-check against python3-protobuf in the tests.
const schema = packages.map((pkg) => ({
  package: pkg.unqualified ? '' : pkg.name,
  module: pkg.name,
  syntax: pkg.syntax,
  enums: pkg.enums.map((e) => ({ name: e.name, values: e.values })),
  messages: pkg.messages.map((m) => ({
    name: m.name,
    fields: m.fields.map((f) => ({ number: f.number, name: f.name, label: f.label, packed: f.packed, type: f.resolved.kind === 'scalar' ? f.type : f.resolved.kind, typeName: f.resolved.fullName ?? null })),
  })),
}));
writeFileSync(join(outDir, 'schema.json'), JSON.stringify(schema, null, 1) + '\n');
