// The unit properties the systemd driver hands to systemd: the scope itself (slice, pids,
// delegation, accounting) and the container's limits in systemd's own terms, so that systemd
// enforces the same limits the cgroup files get and does not undo them on a daemon-reload.
// runc 1.1's choices of property, unit and rounding; pure, tested without systemd.
import { readFileSync, statSync } from 'node:fs';
import { TsrunError, describeSystemError } from '../errors.js';
import { Variant } from '../dbus/marshal.js';
import { big, convertCpuSharesToWeight, convertMemorySwapToV2 } from './convert.js';
import { DeviceEmulator } from './device-emulator.js';
import { parseDeviceRule } from './devices.js';
import type { SystemdUnitRef } from './systemd-unit.js';
import type { LinuxDeviceCgroup, LinuxResources } from './types.js';

export type UnitProperty = [string, Variant];

const U64_MAX = 0xffffffffffffffffn;
const DEFAULT_CPU_PERIOD = 100000n;

const u64 = (name: string, v: bigint): UnitProperty => [name, new Variant('t', BigInt.asUintN(64, v))];
const bool = (name: string, v: boolean): UnitProperty => [name, new Variant('b', v)];
const str = (name: string, v: string): UnitProperty => [name, new Variant('s', v)];

export interface UnitContext {
  version: 1 | 2;
  /** systemd's major version (Manager.Version); decides what it can be told. */
  systemdVersion: number;
  /** Text of /proc/devices (device names for "major:*" rules); read from the host by default. */
  procDevices?: string;
  /** Why a /sys/dev path cannot be stat'ed ("stat PATH: reason"; undefined: it can); the host's by default. */
  sysDevMissing?: (path: string) => string | undefined;
}

/** What StartTransientUnit gets for a new container scope holding pid. */
export function startProperties(ref: SystemdUnitRef, pid: number, resources: LinuxResources | undefined, ctx: UnitContext, warnings: string[]): UnitProperty[] {
  const props: UnitProperty[] = [str('Description', `libcontainer container ${ref.name}`)];
  if (ref.unit.endsWith('.slice')) {
    // A slice hangs below its parent by dependency, not by Slice=.
    props.push(['Wants', new Variant('as', [ref.slice])]);
  } else {
    props.push(str('Slice', ref.slice), bool('Delegate', true));
  }
  props.push(['PIDs', new Variant('au', [pid])]);
  // Accounting on from the start: joining the memory controller later is what the kernel handles badly.
  props.push(
    bool('MemoryAccounting', true),
    bool('CPUAccounting', true),
    bool(ctx.version === 2 ? 'IOAccounting' : 'BlockIOAccounting', true),
    bool('TasksAccounting', true),
    bool('DefaultDependencies', false),
  );
  props.push(...resourceProperties(resources, ctx, warnings));
  return props;
}

/** The limits as unit properties (also what `update` sends with SetUnitProperties). */
export function resourceProperties(resources: LinuxResources | undefined, ctx: UnitContext, warnings: string[]): UnitProperty[] {
  const r = resources ?? {};
  const props: UnitProperty[] = [];
  if (r.devices !== undefined) props.push(...deviceProperties(r.devices, ctx, warnings));
  const memory = big(r.memory?.limit, 'memory.limit') ?? 0n;
  const cpu = r.cpu ?? {};
  const shares = big(cpu.shares, 'cpu.shares') ?? 0n;
  const quota = big(cpu.quota, 'cpu.quota') ?? 0n;
  const period = big(cpu.period, 'cpu.period') ?? 0n;
  const pids = big(r.pids?.limit, 'pids.limit') ?? 0n;
  if (ctx.version === 1) {
    if (memory !== 0n) props.push(u64('MemoryLimit', memory));
    if (shares !== 0n) props.push(u64('CPUShares', shares));
    props.push(...cpuQuotaProperties(quota, period, ctx));
    const weight = big(r.blockIO?.weight, 'blockIO.weight') ?? 0n;
    if (weight !== 0n) props.push(u64('BlockIOWeight', weight));
  } else {
    if (memory !== 0n) props.push(u64('MemoryMax', memory));
    const reservation = big(r.memory?.reservation, 'memory.reservation') ?? 0n;
    if (reservation !== 0n) props.push(u64('MemoryLow', reservation));
    const swap = convertMemorySwapToV2(big(r.memory?.swap, 'memory.swap') ?? 0n, memory);
    if (swap !== 0n) props.push(u64('MemorySwapMax', swap));
    const weight = convertCpuSharesToWeight(shares);
    if (weight !== 0n) props.push(u64('CPUWeight', weight));
    props.push(...cpuQuotaProperties(quota, period, ctx));
  }
  if (pids > 0n || pids === -1n) props.push(u64('TasksMax', pids));
  props.push(...cpusetProperties(cpu.cpus ?? '', cpu.mems ?? '', ctx));
  if (ctx.version === 2 && r.unified) props.push(...unifiedProperties(r.unified, ctx));
  return props;
}

/**
 * CPUQuotaPerSecUSec is what systemd takes: microseconds of CPU per second, which it keeps as a
 * whole percentage. A quota between whole percents is rounded up so that the cgroup file can
 * still be given the exact value (systemd's would otherwise be the smaller one).
 */
function cpuQuotaProperties(quota: bigint, period: bigint, ctx: UnitContext): UnitProperty[] {
  const props: UnitProperty[] = [];
  // CPUQuotaPeriodUSec exists since systemd 242.
  if (period !== 0n && ctx.systemdVersion >= 242) props.push(u64('CPUQuotaPeriodUSec', period));
  if (quota !== 0n || period !== 0n) {
    let perSec = U64_MAX;
    if (quota > 0n) {
      perSec = (quota * 1000000n) / (period === 0n ? DEFAULT_CPU_PERIOD : period);
      if (perSec % 10000n !== 0n) perSec = (perSec / 10000n + 1n) * 10000n;
    }
    props.push(u64('CPUQuotaPerSecUSec', perSec));
  }
  return props;
}

/** A cpu list ("0-3,5") as systemd's CPU set bytes: byte i holds CPUs 8i..8i+7, lowest bit first. */
export function cpuListToBytes(list: string): number[] {
  const bytes: number[] = [];
  const set = (n: number) => {
    while (bytes.length <= n >> 3) bytes.push(0);
    bytes[n >> 3]! |= 1 << (n & 7);
  };
  for (const part of list.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(item);
    if (!m) throw TsrunError.invalid(`invalid cpuset range ${JSON.stringify(list)}: ${JSON.stringify(item)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi > 65535) throw TsrunError.invalid(`invalid cpuset range ${JSON.stringify(list)}: ${JSON.stringify(item)}`);
    for (let n = lo; n <= hi; n++) set(n);
  }
  return bytes;
}

function cpusetProperties(cpus: string, mems: string, ctx: UnitContext): UnitProperty[] {
  // AllowedCPUs / AllowedMemoryNodes exist since systemd 244; older ones get the cgroup files only.
  if ((cpus === '' && mems === '') || ctx.systemdVersion < 244) return [];
  const props: UnitProperty[] = [];
  if (cpus !== '') props.push(['AllowedCPUs', new Variant('ay', cpuListToBytes(cpus))]);
  if (mems !== '') props.push(['AllowedMemoryNodes', new Variant('ay', cpuListToBytes(mems))]);
  return props;
}

/** "max" -> infinity, else a non-negative integer. */
function unifiedNumber(key: string, value: string): bigint {
  const v = value.trim();
  if (v === 'max') return U64_MAX;
  if (!/^\d+$/.test(v)) throw TsrunError.invalid(`unified resource ${JSON.stringify(key)} value conversion error: ${JSON.stringify(value)}`);
  return BigInt(v);
}

/** The v2 keys systemd has properties for; the others only go to the cgroup files. */
function unifiedProperties(unified: Record<string, string>, ctx: UnitContext): UnitProperty[] {
  const props: UnitProperty[] = [];
  const memoryProps: Record<string, string> = {
    'memory.high': 'MemoryHigh', 'memory.low': 'MemoryLow', 'memory.min': 'MemoryMin',
    'memory.max': 'MemoryMax', 'memory.swap.max': 'MemorySwapMax',
  };
  for (const [key, value] of Object.entries(unified)) {
    if (key === 'cpu.max') {
      const f = value.trim().split(/\s+/);
      if (f.length < 1 || f.length > 2 || f[0] === '') throw TsrunError.invalid(`unified resource "cpu.max" value invalid: ${JSON.stringify(value)}`);
      const quota = f[0] === 'max' ? -1n : unifiedNumber(key, f[0]!);
      const period = f.length === 2 ? unifiedNumber(key, f[1]!) : 0n;
      props.push(...cpuQuotaProperties(quota, period, ctx));
    } else if (key === 'cpu.weight') {
      props.push(u64('CPUWeight', unifiedNumber(key, value)));
    } else if (key === 'cpuset.cpus' || key === 'cpuset.mems') {
      if (ctx.systemdVersion >= 244) props.push([key === 'cpuset.cpus' ? 'AllowedCPUs' : 'AllowedMemoryNodes', new Variant('ay', cpuListToBytes(value))]);
    } else if (key in memoryProps) {
      props.push(u64(memoryProps[key]!, unifiedNumber(key, value)));
    } else if (key === 'pids.max') {
      props.push(u64('TasksMax', unifiedNumber(key, value)));
    }
  }
  return props;
}

/** /proc/devices: (type, major) -> driver name, for systemd's "char-NAME" device groups. */
function deviceGroupName(text: string, type: 'b' | 'c', major: bigint): string | undefined {
  let section: 'b' | 'c' | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('Character devices:')) section = 'c';
    else if (line.startsWith('Block devices:')) section = 'b';
    else if (section === type) {
      const m = /^\s*(\d+)\s+(\S+)\s*$/.exec(line);
      if (m && BigInt(m[1]!) === major) return m[2];
    }
  }
  return undefined;
}

/**
 * DevicePolicy/DeviceAllow from the rule list. systemd only has allow-lists: a list that ends
 * up "allow all" is DevicePolicy=auto; another deny-list becomes a deny-all until the cgroup
 * files get the real rules right after (as runc does, with its warning).
 */
export function deviceProperties(devices: LinuxDeviceCgroup[], ctx: UnitContext, warnings: string[]): UnitProperty[] {
  const emulator = DeviceEmulator.fromRules(devices.map((d, i) => parseDeviceRule(d, i)));
  const reduced = emulator.reducedRules();
  const allowList: Array<[string, string]> = [];
  if (emulator.isBlacklist()) {
    if (reduced.length === 1) return [str('DevicePolicy', 'auto'), ['DeviceAllow', new Variant('a(ss)', [])]];
    warnings.push("systemd doesn't support blacklist device rules -- applying temporary deny-all rule");
    return [str('DevicePolicy', 'strict'), ['DeviceAllow', new Variant('a(ss)', [])]];
  }
  let procDevices = ctx.procDevices;
  for (const rule of reduced) {
    if (rule.type === 'a' || !rule.allow) continue;
    const kind = rule.type === 'c' ? 'char' : 'block';
    let entry: string;
    if (rule.major === -1n) {
      // "char-*" needs systemd 240.
      if (ctx.systemdVersion < 240) {
        warnings.push(`systemd ${ctx.systemdVersion} cannot allow all ${kind} devices (needs 240): rule skipped for systemd`);
        continue;
      }
      entry = `${kind}-*`;
    } else if (rule.minor === -1n) {
      procDevices ??= readProcDevices();
      const name = deviceGroupName(procDevices, rule.type, rule.major);
      if (name === undefined) {
        warnings.push(`could not find device group for '${rule.type} ${rule.major}:*' in /proc/devices: rule skipped for systemd`);
        continue;
      }
      entry = `${kind}-${name}`;
    } else {
      // systemd resolves the node through /sys/dev: a device this kernel does not have is an
      // error to it, so the rule is left to the cgroup files (runc's warning).
      const sysPath = `/sys/dev/${kind}/${rule.major}:${rule.minor}`;
      const missing = (ctx.sysDevMissing ?? sysDevMissing)(sysPath);
      if (missing !== undefined) {
        warnings.push(`skipping device /dev/${kind}/${rule.major}:${rule.minor} for systemd: ${missing}`);
        continue;
      }
      entry = `/dev/${kind}/${rule.major}:${rule.minor}`;
    }
    allowList.push([entry, rule.access]);
  }
  return [str('DevicePolicy', 'strict'), ['DeviceAllow', new Variant('a(ss)', allowList)]];
}

function sysDevMissing(path: string): string | undefined {
  try {
    statSync(path);
    return undefined;
  } catch (err) {
    return describeSystemError(err);
  }
}

function readProcDevices(): string {
  try { return readFileSync('/proc/devices', 'utf8'); } catch { return ''; }
}

// ---- org.systemd.property.<Name> annotations ----

const ANNOTATION_PREFIX = 'org.systemd.property.';

/** GVariant type keywords for numbers and the D-Bus type each gives. */
const NUMBER_KEYWORDS: Record<string, string> = {
  byte: 'y', int16: 'n', uint16: 'q', int32: 'i', uint32: 'u', int64: 'x', uint64: 't', double: 'd',
};
const INTEGER_RANGE: Record<string, [bigint, bigint]> = {
  y: [0n, 255n], n: [-32768n, 32767n], q: [0n, 65535n], i: [-2147483648n, 2147483647n],
  u: [0n, 4294967295n], x: [-(2n ** 63n), 2n ** 63n - 1n], t: [0n, U64_MAX],
};

/**
 * A value in GVariant's text format, as systemd-run -p and runc's annotations take it: true /
 * false, numbers (int32 unless typed: "uint64 5", "@t 5"; with a dot: double), quoted strings,
 * and arrays of one type. Enough for every property a unit takes from a container's annotations.
 */
export function parseGVariantText(text: string): Variant {
  let pos = 0;
  const fail = (why: string): never => { throw new Error(`${why} at offset ${pos} of ${JSON.stringify(text)}`); };
  const skipSpace = () => { while (pos < text.length && /\s/.test(text[pos]!)) pos++; };
  const word = () => {
    const m = /^[A-Za-z_@][A-Za-z0-9_]*/.exec(text.slice(pos));
    return m ? m[0] : '';
  };
  const number = (type: string | undefined): Variant => {
    const m = /^[+-]?(\d+(\.\d*)?([eE][+-]?\d+)?|0x[0-9a-fA-F]+)/.exec(text.slice(pos));
    if (!m) return fail('number expected');
    pos += m[0].length;
    const isFloat = /[.eE]/.test(m[0]) && !m[0].includes('x');
    const t = type ?? (isFloat ? 'd' : 'i');
    if (t === 'd') return new Variant('d', Number(m[0]));
    if (isFloat) return fail(`integer expected for type "${t}"`);
    const v = m[0].startsWith('-') ? -BigInt(m[0].slice(1)) : BigInt(m[0].replace(/^\+/, ''));
    const range = INTEGER_RANGE[t];
    if (!range || v < range[0] || v > range[1]) return fail(`${m[0]} out of range for type "${t}"`);
    return new Variant(t, t === 'x' || t === 't' ? v : Number(v));
  };
  const quoted = (): string => {
    const q = text[pos]!;
    pos++;
    let out = '';
    while (pos < text.length && text[pos] !== q) {
      if (text[pos] === '\\' && pos + 1 < text.length) pos++;
      out += text[pos++];
    }
    if (pos >= text.length) fail('unterminated string');
    pos++;
    return out;
  };
  const value = (): Variant => {
    skipSpace();
    const ch = text[pos];
    if (ch === undefined) return fail('value expected');
    if (ch === "'" || ch === '"') return new Variant('s', quoted());
    if (ch === '[') {
      pos++;
      const items: Variant[] = [];
      skipSpace();
      while (text[pos] !== ']') {
        items.push(value());
        skipSpace();
        if (text[pos] === ',') { pos++; skipSpace(); } else if (text[pos] !== ']') fail('"," or "]" expected');
      }
      pos++;
      if (items.length === 0) return fail('the type of an empty array cannot be told');
      const sig = items[0]!.signature;
      if (items.some((v) => v.signature !== sig)) fail('array items of different types');
      return new Variant(`a${sig}`, items.map((v) => v.value));
    }
    const w = word();
    if (w === 'true' || w === 'false') { pos += w.length; return new Variant('b', w === 'true'); }
    if (w in NUMBER_KEYWORDS) { pos += w.length; skipSpace(); return number(NUMBER_KEYWORDS[w]); }
    if (w.startsWith('@')) {
      pos += w.length;
      const t = w.slice(1);
      if (!(Object.values(NUMBER_KEYWORDS).includes(t))) fail(`unsupported type annotation "${w}"`);
      skipSpace();
      return number(t);
    }
    if (w === 'objectpath') { pos += w.length; skipSpace(); const s = text[pos] === "'" || text[pos] === '"' ? quoted() : fail('string expected'); return new Variant('o', s); }
    return number(undefined);
  };
  const v = value();
  skipSpace();
  if (pos !== text.length) fail('trailing characters');
  return v;
}

/** A "...Sec" value (seconds, any number type) as the "...USec" property's microseconds. */
function secondsToMicros(v: Variant): Variant {
  const n = typeof v.value === 'bigint' ? Number(v.value) : v.value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || v.signature === 'b') throw new Error(`value ${String(v.value)} is not a non-negative number of seconds`);
  return new Variant('t', typeof v.value === 'bigint' ? v.value * 1000000n : BigInt(Math.round(n * 1e6)));
}

/**
 * Unit properties from org.systemd.property.<Name> annotations (as runc: a name ending in a
 * lower-case letter + "Sec" is given in seconds and sent as <Name>USec). Sorted by name, so the
 * same spec always asks the same.
 */
export function annotationProperties(annotations: Record<string, string> | undefined): UnitProperty[] {
  const props: UnitProperty[] = [];
  for (const key of Object.keys(annotations ?? {}).sort()) {
    if (!key.startsWith(ANNOTATION_PREFIX)) continue;
    let name = key.slice(ANNOTATION_PREFIX.length);
    const text = annotations![key]!;
    if (!/^[A-Z][A-Za-z0-9]*$/.test(name)) {
      throw TsrunError.invalid(`invalid systemd property name ${JSON.stringify(name)} in annotation ${key}: must start with A-Z and contain only A-Z, a-z and 0-9`);
    }
    let value: Variant;
    try {
      value = parseGVariantText(text);
      if (/[a-z]Sec$/.test(name)) {
        name = `${name.slice(0, -3)}USec`;
        value = secondsToMicros(value);
      }
    } catch (err) {
      throw TsrunError.invalid(`annotation ${key}=${text} value parse error: ${(err as Error).message}`);
    }
    props.push([name, value]);
  }
  return props;
}
