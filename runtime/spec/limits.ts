import { TsrunError } from '../errors.js';

/** The executor's plan carries strings of at most this many bytes, without NUL (native/PLAN-FORMAT.md). */
export const MAX_PLAN_STRING = 65535;

/** Fields that never reach the executor or a kernel interface as C strings. */
const EXEMPT = new Set(['/annotations']);

/**
 * Refuses strings the executor cannot take, naming the field: NUL bytes (C would cut the string
 * short) and strings over 64 KiB. `nulHandled` lists pointers whose own checks word the NUL
 * case as runc does (the environment).
 */
export function checkPlanStrings(value: unknown, file: string, base = '', nulHandled: (pointer: string) => boolean = () => false): void {
  const walk = (v: unknown, pointer: string, depth: number): void => {
    if (EXEMPT.has(pointer)) return;
    if (depth > 64) throw new TsrunError(`${file}: ${pointer}: nested too deeply`);
    if (typeof v === 'string') {
      checkOne(v, pointer);
      return;
    }
    if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, `${pointer}/${i}`, depth + 1));
      return;
    }
    if (v && typeof v === 'object') {
      for (const [key, item] of Object.entries(v)) {
        const p = `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
        checkOne(key, p, 'key');
        walk(item, p, depth + 1);
      }
    }
  };
  const checkOne = (s: string, pointer: string, what = 'string') => {
    if (s.includes('\0') && !nulHandled(pointer)) throw new TsrunError(`${file}: ${pointer || '/'}: ${what} contains a NUL byte`);
    // Cheap bound first: a UTF-16 length under the limit/3 cannot exceed it in UTF-8.
    if (s.length > MAX_PLAN_STRING / 3) {
      const bytes = Buffer.byteLength(s, 'utf8');
      if (bytes > MAX_PLAN_STRING) throw new TsrunError(`${file}: ${pointer || '/'}: ${what} of ${bytes} bytes is longer than the ${MAX_PLAN_STRING} bytes tsrun supports`);
    }
  };
  walk(value, base, 0);
}

/**
 * Counts the executor bounds (native/plan.c allows 65536 of each; a few records are tsrun's own):
 * far above any real config (runc runs 20,000 mounts), refused here with the field named.
 */
export const MAX_LIST = 60000;

export function checkPlanCounts(spec: { mounts?: unknown[]; process?: { args?: unknown[]; env?: unknown[] }; linux?: { maskedPaths?: unknown[]; readonlyPaths?: unknown[]; sysctl?: Record<string, unknown> } }, file: string): void {
  const lists: [string, number][] = [
    ['/mounts', spec.mounts?.length ?? 0],
    ['/process/args', spec.process?.args?.length ?? 0],
    ['/process/env', spec.process?.env?.length ?? 0],
    ['/linux/maskedPaths', spec.linux?.maskedPaths?.length ?? 0],
    ['/linux/readonlyPaths', spec.linux?.readonlyPaths?.length ?? 0],
    ['/linux/sysctl', Object.keys(spec.linux?.sysctl ?? {}).length],
  ];
  for (const [pointer, n] of lists) {
    if (n > MAX_LIST) throw new TsrunError(`${file}: ${pointer}: ${n} entries, more than the ${MAX_LIST} tsrun supports`);
  }
}
