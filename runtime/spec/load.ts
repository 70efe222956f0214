/**
 * Reading config.json (and the other OCI JSON documents tsrun accepts) into checked, typed values.
 *
 * Three stages, each failing with one line that says what is wrong and where:
 *  1. JSON syntax: "config.json: invalid JSON at line 3, column 7: expected ',' or '}' after a property value"
 *  2. the JSON Schemas of spec-schemas/ (compiled ahead of time into ./generated/validators.js):
 *     "config.json: /process/args/0: must be a string, got number 1"
 *  3. semantic checks (./semantic.ts), worded like runc's where runc has a message for the case.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TsrunError, describeSystemError } from '../errors.js';
import type * as ValidatorsModule from './generated/validators.js';
import type { SchemaError, Validator } from './generated/validators.js';

// Loaded on first use, from a file of its own in the CLI build: the commands that read no
// config.json (start, state, kill, delete…) do not pay ~2 ms to parse it.
let validatorsModule: typeof ValidatorsModule | undefined;
const validators = (): typeof ValidatorsModule => (validatorsModule ??= require('./generated/validators.js') as typeof ValidatorsModule);
import { checkProcess, checkResources, checkSpec, type CheckOptions } from './semantic.js';
import { checkPlanCounts, checkPlanStrings } from './limits.js';
import type { LinuxResources, Process, Spec } from './types.js';

export interface LoadOptions {
  /** Fail when config.json has no process (needed by create and run). Default true. */
  requireProcess?: boolean;
  /**
   * What to do with capability names tsrun does not know: 'error' (default) fails; 'warn' drops
   * them from the spec and reports "ignoring unknown or unavailable capabilities: [...]" as runc 1.1 does.
   */
  unknownCapabilities?: 'error' | 'warn';
}

export interface LoadedBundle {
  spec: Spec;
  /** The bundle directory: absolute, symlinks resolved (what runc gets from getcwd after chdir). */
  bundle: string;
  /** The root filesystem: absolute, a directory, not a symlink. */
  rootfs: string;
  /** Things runc would log at level=warning (e.g. relative mount destinations, which were made absolute). */
  warnings: string[];
}

/** Reads, parses and checks `<bundleDir>/config.json`. Throws TsrunError (exit code 1). */
export function loadBundleSpec(bundleDir: string, opts: LoadOptions = {}): LoadedBundle {
  const bundle = resolveBundle(bundleDir);
  let text: string;
  try {
    text = readFileSync(join(bundle, 'config.json'), 'utf8');
  } catch (err) {
    // runc chdirs into the bundle and opens "config.json", so its messages name the relative file.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw TsrunError.invalid('JSON specification file config.json not found');
    if (code === 'EISDIR') throw TsrunError.invalid('read config.json: is a directory');
    throw TsrunError.invalid(describeSystemError(err).replace(join(bundle, 'config.json'), 'config.json'));
  }
  const spec = parseSpec(text, 'config.json');
  checkPlanCounts(spec, 'config.json');
  checkPlanStrings(spec, 'config.json', '', (p) => p.startsWith('/process/env/'));
  const checkOpts: CheckOptions = { bundle, requireProcess: opts.requireProcess ?? true, unknownCapabilities: opts.unknownCapabilities ?? 'error' };
  const { rootfs, warnings } = checkSpec(spec, checkOpts);
  return { spec, bundle, rootfs, warnings };
}

/** runc `--bundle` handling: runc chdirs there, so a bad path fails as "chdir <given path>: ...". */
function resolveBundle(bundleDir: string): string {
  const given = bundleDir === '' ? '.' : bundleDir;
  let st;
  try {
    st = statSync(given);
  } catch (err) {
    throw TsrunError.invalid(describeSystemError(err).replace(/^stat /, 'chdir '));
  }
  if (!st.isDirectory()) throw TsrunError.invalid(`chdir ${bundleDir}: not a directory`);
  try {
    return realpathSync.native(resolve(given));
  } catch (err) {
    throw TsrunError.invalid(describeSystemError(err));
  }
}

/** Parses and schema-checks the text of a config.json. No semantic or filesystem checks. */
export function parseSpec(text: string, file = 'config.json'): Spec {
  return parseWith(validators().validateSpec, text, file);
}

/**
 * Parses and checks a process document (`exec --process FILE`): schema plus the process checks
 * of create (cwd absolute, args not empty, environment, capabilities, rlimits). Returns warnings too.
 */
export function parseProcess(text: string, file = 'process.json', opts: Pick<LoadOptions, 'unknownCapabilities'> = {}): { process: Process; warnings: string[] } {
  const proc = parseWith(validators().validateProcess, text, file);
  const warnings: string[] = [];
  checkPlanCounts({ process: proc }, file);
  checkPlanStrings(proc, file, '', (p) => p.startsWith('/env/'));
  checkProcess(proc, { file, base: '', unknownCapabilities: opts.unknownCapabilities ?? 'error' }, warnings);
  return { process: proc, warnings };
}

/** Parses and checks a linux.resources document (`update --resources FILE`). */
export function parseResources(text: string, file = 'resources.json'): LinuxResources {
  const resources = parseWith(validators().validateLinuxResources, text, file);
  checkResources(resources, { file, base: '' });
  return resources;
}

function parseWith<T>(validate: Validator<T>, text: string, file: string): T {
  const data = parseJson(text, file);
  if (!validate(data)) throw TsrunError.invalid(`${file}: ${formatSchemaError(validate.errors?.[0], data)}`);
  return data;
}

// ---------------------------------------------------------------- JSON syntax

/**
 * JSON.parse, except that a property whose value is null is dropped: Go's decoder, which runc uses,
 * leaves the field at its zero value for null, exactly as if the property were absent.
 */
export function parseJson(text: string, file: string): unknown {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    // The reviver makes parsing ~4x slower, so only use it when a null value may be present.
    return MAYBE_NULL_VALUE.test(text) ? JSON.parse(text, dropNullProperties) : JSON.parse(text);
  } catch (err) {
    const found = findJsonSyntaxError(text);
    if (!found) throw TsrunError.invalid(`${file}: invalid JSON: ${(err as Error).message}`);
    const { line, column } = lineAndColumn(text, found.pos);
    throw TsrunError.invalid(`${file}: invalid JSON at line ${line}, column ${column}: ${found.reason}`);
  }
}

const MAYBE_NULL_VALUE = /[:[,]\s*null\b/;

function dropNullProperties(this: unknown, _key: string, value: unknown): unknown {
  return value === null && !Array.isArray(this) ? undefined : value;
}

function lineAndColumn(text: string, pos: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < pos; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: pos - lineStart + 1 };
}

/**
 * Finds where and why JSON.parse failed (V8's messages do not always give a position, and quote the
 * whole input when they do not). Only runs after a failure.
 */
export function findJsonSyntaxError(s: string): { pos: number; reason: string } | null {
  let i = 0;
  class Fail {
    constructor(readonly reason: string) {}
  }
  const fail = (reason: string): never => {
    throw new Fail(i >= s.length ? 'unexpected end of input' : reason);
  };
  const describe = (c: string | undefined): string =>
    c === undefined ? 'end of input' : /[\x00-\x1f\x7f]/.test(c) ? `character U+${c.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}` : `'${c}'`;
  const ws = (): void => {
    for (let c = s[i]; c === ' ' || c === '\t' || c === '\n' || c === '\r'; c = s[++i]);
  };
  const str = (): void => {
    i++; // opening quote
    for (;;) {
      if (i >= s.length) fail('unterminated string');
      const c = s.charCodeAt(i);
      if (c === 0x22) { i++; return; }
      if (c < 0x20) fail('control character in string (escape it)');
      if (c === 0x5c) {
        const e = s[i + 1];
        if (e !== undefined && '"\\/bfnrt'.includes(e)) { i += 2; continue; }
        if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) { i += 6; continue; }
        i++;
        fail(`invalid escape sequence in string: \\${e ?? ''}`);
      }
      i++;
    }
  };
  const num = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
  const value = (): void => {
    ws();
    const c = s[i];
    if (c === '{') {
      i++;
      ws();
      if (s[i] === '}') { i++; return; }
      for (;;) {
        ws();
        if (s[i] !== '"') fail(`expected a property name in double quotes, found ${describe(s[i])}`);
        str();
        ws();
        if (s[i] !== ':') fail(`expected ':' after a property name, found ${describe(s[i])}`);
        i++;
        value();
        ws();
        if (s[i] === ',') { i++; continue; }
        if (s[i] === '}') { i++; return; }
        fail(`expected ',' or '}' after a property value, found ${describe(s[i])}`);
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (s[i] === ']') { i++; return; }
      for (;;) {
        value();
        ws();
        if (s[i] === ',') { i++; continue; }
        if (s[i] === ']') { i++; return; }
        fail(`expected ',' or ']' after an array element, found ${describe(s[i])}`);
      }
    }
    if (c === '"') return str();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
      num.lastIndex = i;
      if (!num.test(s)) fail('invalid number');
      i = num.lastIndex;
      return;
    }
    for (const word of ['true', 'false', 'null']) {
      if (s.startsWith(word, i)) { i += word.length; return; }
    }
    fail(`unexpected ${describe(c)} where a value was expected`);
  };
  try {
    value();
    ws();
    if (i < s.length) fail(`unexpected ${describe(s[i])} after the end of the JSON value`);
    return null;
  } catch (e) {
    if (e instanceof Fail) return { pos: i, reason: e.reason };
    if (e instanceof RangeError) return { pos: i, reason: 'nested too deeply' };
    throw e;
  }
}

// ---------------------------------------------------------------- schema errors

/** How each integer definition of defs.json is described, keyed by definition name. */
const INTEGER_KINDS: Record<string, string> = {
  int32: 'a signed 32-bit integer (-2147483648 to 2147483647)',
  int64: 'a signed 64-bit integer (-9223372036854775808 to 9223372036854775807)',
  uint16: 'an unsigned 16-bit integer (0 to 65535)',
  uint32: 'an unsigned 32-bit integer (0 to 4294967295)',
  uint64: 'an unsigned 64-bit integer (0 to 18446744073709551615)',
  positiveInt: 'an integer greater than 0',
  oomScoreAdj: 'an integer from -1000 to 1000',
  ioPriorityLevel: 'an integer from 0 (highest priority) to 7 (lowest)',
  syscallArgIndex: 'a syscall argument index from 0 to 5',
};

/** What each pattern means, keyed by the definition (or property) that carries it. */
const PATTERN_MEANINGS: Record<string, string> = {
  cpuList: 'must be a list of CPUs or nodes such as "0-3,7"',
  deviceAccess: 'must be a combination of "r", "w" and "m", such as "rwm"',
  pageSize: 'must be a page size such as "64KB", "2MB" or "1GB"',
  ociVersion: 'must be a SemVer 2.0.0 version such as "1.0.2-dev"',
  memBwSchema: 'must be a single line starting with "MB:"',
};

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  object: 'an object',
  array: 'an array',
  boolean: 'a boolean (true or false)',
  integer: 'an integer',
  number: 'a number',
  null: 'null',
};

/** One line for an ajv error: "/linux/namespaces/0/type: must be one of ...; got "foo"". */
export function formatSchemaError(err: SchemaError | undefined, data: unknown): string {
  if (!err) return 'does not match the schema';
  const where = err.instancePath === '' ? '' : `${err.instancePath}: `;
  const value = valueAt(data, err.instancePath);
  const got = `got ${preview(value)}`;
  const def = /definitions\/([A-Za-z0-9]+)\/[A-Za-z]+$/.exec(err.schemaPath)?.[1];
  const p = err.params;
  switch (err.keyword) {
    case 'required':
      return `${where}missing required property ${JSON.stringify(p.missingProperty)}`;
    case 'tsrunInt': // defs.json integer ranges, compiled into one keyword by scripts/build-validators.mjs
      return `${where}must be ${INTEGER_KINDS[p.kind] ?? `an integer (${p.kind})`}, ${got}`;
    case 'type':
    case 'minimum':
    case 'maximum': {
      const kind = def !== undefined ? INTEGER_KINDS[def] : undefined;
      if (kind) return `${where}must be ${kind}, ${got}`;
      if (err.keyword !== 'type') return `${where}must be ${p.comparison} ${p.limit}, ${got}`;
      const types: string[] = Array.isArray(p.type) ? p.type : String(p.type).split(',');
      return `${where}must be ${types.map((t) => TYPE_NAMES[t] ?? t).join(' or ')}, ${got}`;
    }
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ');
      return `${where}must be one of ${allowed}; ${got}`;
    }
    case 'pattern': {
      const key = def ?? lastSegment(err.instancePath);
      return `${where}${PATTERN_MEANINGS[key] ?? `must match the pattern ${p.pattern}`}, ${got}`;
    }
    case 'minItems':
      return p.limit === 1 ? `${where}must not be empty` : `${where}must have at least ${p.limit} items`;
    case 'minLength':
      if (p.propertyName !== undefined || err.propertyName !== undefined) return `${where}property names must not be empty`;
      return p.limit === 1 ? `${where}must not be empty` : `${where}must be at least ${p.limit} characters long`;
    case 'propertyNames':
      return `${where}invalid property name ${JSON.stringify(p.propertyName)}`;
    default:
      return `${where}does not satisfy "${err.keyword}" ${JSON.stringify(p)}`;
  }
}

function lastSegment(pointer: string): string {
  return pointer.slice(pointer.lastIndexOf('/') + 1);
}

function valueAt(data: unknown, pointer: string): unknown {
  if (pointer === '') return data;
  let cur: any = data;
  for (const raw of pointer.slice(1).split('/')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = cur[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return cur;
}

/** "string "abc"", "number 1.5", "an object", ... for messages. */
export function preview(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  let s = JSON.stringify(v);
  if (s.length > 64) s = `${s.slice(0, 60)}..."`;
  return `${typeof v} ${s}`;
}
