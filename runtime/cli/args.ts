import { TsrunError } from '../errors.js';

export type FlagType = 'bool' | 'string' | 'int' | 'list';
export interface FlagSpec { name: string; short?: string; type: FlagType; usage: string; default?: string }
export type FlagValues = Record<string, string | boolean | number | string[] | undefined>;

/** runc's commands whose arguments after the id belong to a program (`exec ID ps -ef`, `ps ID -ef`). */
const NO_REORDER = new Set(['tsrun', 'exec', 'ps']);

/**
 * What runc's CLI library (urfave/cli 1.22, reorderArgs) does before parsing a command's flags:
 * every argument naming one of the command's flags moves to the front, with the argument after
 * it when that is not one of the flags and the flag has no "=" (a boolean flag too, as there);
 * a `--` that is not such a value ends it, and moves to the front of the rest with what follows
 * it unchanged. So `update ID --memory 64M` is `update --memory 64M ID`.
 */
export function reorderArgs(args: string[], specs: FlagSpec[]): string[] {
  const flagsFirst: string[] = [];
  let rest: string[] = [];
  let valueMayFollow = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (valueMayFollow && !isFlag(arg, specs)) {
      valueMayFollow = false;
      flagsFirst.push(arg);
    } else if (arg === '--') {
      rest = ['--', ...rest, ...args.slice(i + 1)];
      break;
    } else if (isFlag(arg, specs)) {
      flagsFirst.push(arg);
      valueMayFollow = !arg.includes('=');
    } else {
      rest.push(arg);
    }
  }
  return [...flagsFirst, ...rest];
}

function isFlag(arg: string, specs: FlagSpec[]): boolean {
  if (arg === '-' || arg === '--' || !arg.startsWith('-')) return false;
  const name = arg.replace(/^--?/, '').split('=')[0];
  return specs.some((s) => s.name === name || s.short === name);
}

/**
 * Parses flags the way runc's CLI library does: `--flag value`, `--flag=value`, `-f value`,
 * booleans as `--flag` or `--flag=false`, parsing stops at the first positional argument
 * (the rest belongs to the command, as in `exec ID ps -ef`) or at `--`. Except for exec and ps,
 * a command's flags may also come after its arguments (reorderArgs).
 */
export function parseFlags(argv: string[], specs: FlagSpec[], command: string): { flags: FlagValues; rest: string[] } {
  const args = NO_REORDER.has(command) ? argv : reorderArgs(argv, specs);
  const flags: FlagValues = {};
  for (const s of specs) if (s.type === 'list') flags[s.name] = [];
  const seen = new Set<string>();
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') { i++; break; }
    if (!arg.startsWith('-') || arg === '-') break;
    const eq = arg.indexOf('=');
    const key = arg.replace(/^--?/, '').slice(0, eq > 0 ? eq - (arg.startsWith('--') ? 2 : 1) : undefined);
    const spec = specs.find((s) => s.name === key || s.short === key);
    if (!spec) throw new TsrunError(`flag provided but not defined: -${key}`);
    seen.add(key);
    let value: string | undefined = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (spec.type === 'bool') {
      if (value === undefined) flags[spec.name] = true;
      else if (/^(1|t|true|T|TRUE|True)$/.test(value)) flags[spec.name] = true;
      else if (/^(0|f|false|F|FALSE|False)$/.test(value)) flags[spec.name] = false;
      else throw new TsrunError(`invalid boolean value "${value}" for -${key}`);
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= args.length) throw new TsrunError(`flag needs an argument: -${key}`);
      value = args[++i];
    }
    if (spec.type === 'int') {
      if (!/^-?\d+$/.test(value)) throw new TsrunError(`invalid value "${value}" for flag -${key}: parse error`);
      flags[spec.name] = Number(value);
    } else if (spec.type === 'list') {
      (flags[spec.name] as string[]).push(value);
    } else {
      flags[spec.name] = value;
    }
  }
  for (const s of specs) {
    // runc's CLI library ("env, e") refuses a flag given by both its names.
    if (s.short && seen.has(s.name) && seen.has(s.short)) throw new TsrunError(`Cannot use two forms of the same flag: ${s.short} ${s.name}`);
  }
  for (const s of specs) {
    if (flags[s.name] === undefined && s.default !== undefined) flags[s.name] = s.type === 'int' ? Number(s.default) : s.default;
  }
  return { flags, rest: args.slice(i) };
}

export function helpText(usage: string, description: string, specs: FlagSpec[]): string {
  const lines = [`NAME:`, `   ${usage.split(' ')[0]} ${usage.split(' ')[1] ?? ''} - ${description}`, '', 'USAGE:', `   ${usage}`];
  if (specs.length) {
    lines.push('', 'OPTIONS:');
    for (const s of specs) {
      const names = [`--${s.name}${s.type === 'bool' ? '' : ' value'}`];
      if (s.short) names.push(`-${s.short}${s.type === 'bool' ? '' : ' value'}`);
      lines.push(`   ${names.join(', ').padEnd(30)} ${s.usage}${s.default !== undefined ? ` (default: ${s.default})` : ''}`);
    }
  }
  return lines.join('\n') + '\n';
}

export function requireArgs(command: string, rest: string[], exact: number): void {
  if (rest.length !== exact) {
    throw new TsrunError(`tsrun: "${command}" requires exactly ${exact} argument(s)`);
  }
}
