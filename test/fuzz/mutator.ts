// A schema-aware config.json mutator: takes a valid config and changes one or a few places the
// JSON schemas in spec-schemas/ describe (wrong types, out-of-range numbers, unknown enum values,
// huge strings, NUL bytes, deep nesting, missing required fields, new optional fields).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

type Schema = Record<string, any>;

/** A seeded PRNG (mulberry32), so a failing case can be replayed from its number. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Schemas {
  private byFile = new Map<string, Schema>();
  constructor(dir: string) {
    for (const name of readdirSync(dir)) if (name.endsWith('.json')) this.byFile.set(name, JSON.parse(readFileSync(join(dir, name), 'utf8')));
  }
  root(): { schema: Schema; file: string } {
    return { schema: this.byFile.get('config.json')!, file: 'config.json' };
  }
  /** Follows $ref (within a file or to another file) until a schema without one. */
  deref(s: Schema, file: string): { schema: Schema; file: string } {
    for (let i = 0; i < 20 && s && s.$ref; i++) {
      const [f, frag] = String(s.$ref).split('#');
      const target = f ? f.replace(/^.*\//, '') : file;
      let node: any = this.byFile.get(target);
      for (const part of (frag ?? '').split('/').filter(Boolean)) node = node?.[part];
      s = node;
      file = target;
    }
    return { schema: s ?? {}, file };
  }
}

/** Where a value sits and the schema that describes it. */
interface Site { parent: any; key: string | number; schema: Schema; file: string; pointer: string }

function sites(schemas: Schemas, value: any, schema: Schema, file: string, pointer: string, parent: any, key: string | number, out: Site[], depth = 0): void {
  if (depth > 12) return;
  const r = schemas.deref(schema, file);
  if (parent !== undefined) out.push({ parent, key, schema: r.schema, file: r.file, pointer });
  const s = r.schema;
  const variants: Schema[] = [s, ...(s.oneOf ?? []), ...(s.anyOf ?? []), ...(s.allOf ?? [])];
  for (const v0 of variants) {
    const v = schemas.deref(v0, r.file);
    if (Array.isArray(value) && v.schema.items) {
      value.forEach((item, i) => sites(schemas, item, v.schema.items, v.file, `${pointer}/${i}`, value, i, out, depth + 1));
    } else if (value && typeof value === 'object' && !Array.isArray(value)) {
      const props = v.schema.properties ?? {};
      for (const [k, sub] of Object.entries(props)) {
        // Present properties are mutated in place; absent ones may be added.
        sites(schemas, value[k], sub as Schema, v.file, `${pointer}/${k}`, value, k, out, depth + 1);
      }
      if (v.schema.additionalProperties && typeof v.schema.additionalProperties === 'object') {
        for (const k of Object.keys(value)) if (!(k in props)) sites(schemas, value[k], v.schema.additionalProperties, v.file, `${pointer}/${k}`, value, k, out, depth + 1);
      }
    }
  }
}

const HUGE = () => 'H'.repeat(70_000);
const INT_EDGES = [-1, -2147483649, 2147483648, 4294967295, 4294967296, 9007199254740993, 1.5, 1e308, -1e308, 0, 18446744073709551615];

function typeOf(s: Schema): string | undefined {
  if (typeof s.type === 'string') return s.type;
  if (s.tsrunInt) return 'integer';
  if (s.enum) return 'enum';
  if (s.properties) return 'object';
  if (s.items) return 'array';
  return undefined;
}

function nested(depth: number): any {
  let v: any = 'x';
  for (let i = 0; i < depth; i++) v = i % 2 ? { a: v } : [v];
  return v;
}

/** One mutation at a random site; returns what was done (for the report). */
export function mutateOnce(config: any, schemas: Schemas, rand: () => number): string {
  const all: Site[] = [];
  const { schema, file } = schemas.root();
  sites(schemas, config, schema, file, '', undefined, '', all);
  if (all.length === 0) return 'none';
  const site = all[Math.floor(rand() * all.length)];
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const type = typeOf(site.schema);
  const cur = site.parent[site.key];
  const set = (v: any) => { site.parent[site.key] = v; };
  const kind = pick(['type', 'range', 'enum', 'huge', 'nul', 'deep', 'remove', 'required', 'valid', 'valid', 'unicode', 'empty']);
  switch (kind) {
    case 'type':
      set(pick([42, -7, 'str', true, null, [], {}, [1, 'a'], { x: 1 }].filter((v) => typeof v !== typeof cur)));
      break;
    case 'range':
      set(pick(INT_EDGES));
      break;
    case 'enum':
      set(pick(['BOGUS', '', 'SCMP_ACT_NOPE', 'cgroup3', 'RLIMIT_BOGUS', 'CAP_BOGUS', 'nonsense-ns']));
      break;
    case 'huge':
      set(type === 'array' ? Array.from({ length: pick([5000, 70_000]) }, (_, i) => (Array.isArray(cur) && typeof cur[0] === 'object' ? { ...cur[0] } : `x${i}`)) : HUGE());
      break;
    case 'nul':
      set(typeof cur === 'string' ? cur.slice(0, 1) + '\u0000' + cur.slice(1) : 'a\u0000b');
      break;
    case 'deep':
      set(nested(pick([100, 2000])));
      break;
    case 'remove':
      if (Array.isArray(site.parent)) site.parent.splice(Number(site.key), 1); else delete site.parent[site.key];
      break;
    case 'required': {
      if (cur && typeof cur === 'object' && !Array.isArray(cur) && Array.isArray(site.schema.required) && site.schema.required.length) {
        delete cur[pick(site.schema.required as string[])];
      } else set(undefined);
      break;
    }
    case 'valid':
      // Plausible values: what a real config may hold, so that many cases get past validation.
      if (site.schema.enum) set(pick(site.schema.enum));
      else if (type === 'integer' || type === 'number') set(pick([0, 1, 2, 100, 1024, 65534, 65535, 1 << 20]));
      else if (type === 'boolean') set(rand() < 0.5);
      else if (type === 'string') set(pick(['', '/', '/tmp', 'relative/path', '/proc/self/fd/3', '../../..', 'a=b', 'rw', 'nosuid', '/dev/null', 'x'.repeat(300)]));
      else if (type === 'array') set(Array.isArray(cur) ? cur.concat(cur.slice(0, 1)) : []);
      else set({});
      break;
    case 'unicode':
      set(typeof cur === 'string' ? `${cur}\u00e9\ud83d\ude00\u202e` : '\ud800');
      break;
    case 'empty':
      set(Array.isArray(cur) ? [] : typeof cur === 'string' ? '' : typeof cur === 'object' ? {} : 0);
      break;
  }
  return `${kind} ${site.pointer || '/'}`;
}

/** One to three mutations of a deep copy. */
export function mutate(base: any, schemas: Schemas, seed: number): { config: any; what: string[] } {
  const rand = rng(seed);
  const config = JSON.parse(JSON.stringify(base));
  const what: string[] = [];
  const n = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < n; i++) what.push(mutateOnce(config, schemas, rand));
  return { config, what };
}
