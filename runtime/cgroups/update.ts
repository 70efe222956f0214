// `update`: what runc 1.1.5's update.go takes from its flags or from --resources, and how it
// merges that into the container's saved resources before handing them to the cgroup driver.
import { TsrunError } from '../errors.js';
import { big } from './convert.js';
import type { LinuxDeviceCgroup, LinuxResources } from './types.js';

/** The fields `runc update` reads; runc starts them all at 0 / "", which means "leave unchanged". */
export interface UpdateRequest {
  blkioWeight: bigint;
  cpuPeriod: bigint;
  cpuQuota: bigint;
  cpuShares: bigint;
  cpuRtPeriod: bigint;
  cpuRtRuntime: bigint;
  cpusetCpus: string;
  cpusetMems: string;
  memory: bigint;
  memoryReservation: bigint;
  memorySwap: bigint;
  kernelMemory: bigint;
  kernelMemoryTCP: bigint;
  pidsLimit: bigint;
  unified?: Record<string, string>;
  /** --resources devices: decoded, never applied by runc 1.1.5 (see devicesForUpdate). */
  devices?: LinuxDeviceCgroup[];
}

export function emptyUpdate(): UpdateRequest {
  return {
    blkioWeight: 0n, cpuPeriod: 0n, cpuQuota: 0n, cpuShares: 0n, cpuRtPeriod: 0n, cpuRtRuntime: 0n, cpusetCpus: '', cpusetMems: '',
    memory: 0n, memoryReservation: 0n, memorySwap: 0n, kernelMemory: 0n, kernelMemoryTCP: 0n, pidsLimit: 0n,
  };
}

const MAX_INT64 = (1n << 63n) - 1n;
const MIN_INT64 = -(1n << 63n);
const MAX_UINT64 = (1n << 64n) - 1n;

/**
 * go-units RAMInBytes (the version runc 1.1.5 vendors): "100M", "1.5g", "64KiB", "512 mb"…
 * binary multiples, fractions truncated.
 */
export function ramInBytes(s: string): bigint {
  const m = /^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(s);
  if (!m) throw new Error(`invalid size: '${s}'`);
  if (!/^\d+(\.\d+)?$/.test(m[1])) throw new Error(`strconv.ParseFloat: parsing ${JSON.stringify(m[1])}: invalid syntax`);
  const shift = { '': 0n, k: 10n, m: 20n, g: 30n, t: 40n, p: 50n }[(m[3] ?? '').toLowerCase() as '' | 'k'];
  const [whole, frac = ''] = m[1].split('.');
  // Exact where Go's float64 is exact (all realistic sizes); a fraction is truncated as int64(float) does.
  const scale = 10n ** BigInt(frac.length);
  const v = (BigInt(whole + frac) << shift) / scale;
  return v > MAX_INT64 ? MIN_INT64 : v; // int64(float) of an out-of-range value on amd64
}

function parseUintFlag(name: string, val: string): bigint {
  if (!/^\d+$/.test(val)) throw TsrunError.invalid(`invalid value for ${name}: strconv.ParseUint: parsing ${JSON.stringify(val)}: invalid syntax`);
  const v = BigInt(val);
  if (v > MAX_UINT64) throw TsrunError.invalid(`invalid value for ${name}: strconv.ParseUint: parsing ${JSON.stringify(val)}: value out of range`);
  return v;
}

function parseIntFlag(name: string, val: string): bigint {
  if (!/^[+-]?\d+$/.test(val)) throw TsrunError.invalid(`invalid value for ${name}: strconv.ParseInt: parsing ${JSON.stringify(val)}: invalid syntax`);
  const v = BigInt(val);
  if (v > MAX_INT64 || v < MIN_INT64) throw TsrunError.invalid(`invalid value for ${name}: strconv.ParseInt: parsing ${JSON.stringify(val)}: value out of range`);
  return v;
}

export type UpdateFlags = Partial<Record<string, string | number | boolean | string[] | undefined>>;

/** The per-field flags, as runc's update action reads them (ignored when --resources is given). */
export function updateFromFlags(flags: UpdateFlags): UpdateRequest {
  const r = emptyUpdate();
  const str = (k: string) => (typeof flags[k] === 'string' ? (flags[k] as string) : '');
  const int = (k: string) => (typeof flags[k] === 'number' ? BigInt(flags[k] as number) : 0n);
  // cli.IntFlag, stored in a uint16 by runc.
  const w = int('blkio-weight');
  if (w !== 0n) r.blkioWeight = BigInt.asUintN(16, w);
  if (str('cpuset-cpus') !== '') r.cpusetCpus = str('cpuset-cpus');
  if (str('cpuset-mems') !== '') r.cpusetMems = str('cpuset-mems');
  if (str('cpu-period') !== '') r.cpuPeriod = parseUintFlag('cpu-period', str('cpu-period'));
  if (str('cpu-rt-period') !== '') r.cpuRtPeriod = parseUintFlag('cpu-rt-period', str('cpu-rt-period'));
  if (str('cpu-share') !== '') r.cpuShares = parseUintFlag('cpu-share', str('cpu-share'));
  if (str('cpu-quota') !== '') r.cpuQuota = parseIntFlag('cpu-quota', str('cpu-quota'));
  if (str('cpu-rt-runtime') !== '') r.cpuRtRuntime = parseIntFlag('cpu-rt-runtime', str('cpu-rt-runtime'));
  const sizes: Array<[string, keyof UpdateRequest]> = [
    ['memory', 'memory'], ['memory-swap', 'memorySwap'], ['kernel-memory', 'kernelMemory'],
    ['kernel-memory-tcp', 'kernelMemoryTCP'], ['memory-reservation', 'memoryReservation'],
  ];
  for (const [flag, key] of sizes) {
    const val = str(flag);
    if (val === '') continue;
    try {
      (r[key] as bigint) = val === '-1' ? -1n : ramInBytes(val);
    } catch (err) {
      throw TsrunError.invalid(`invalid value for ${flag}: ${(err as Error).message}`);
    }
  }
  r.pidsLimit = int('pids-limit');
  return r;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'object' ? 'object' : typeof v;
}

/** Go's json.Decoder wording for the usual mistakes; V8's message otherwise. */
function goJsonSyntaxError(text: string, err: unknown): string {
  const first = text.trimStart()[0];
  if (first === undefined) return 'EOF';
  if (!/[{["\-0-9tfn]/.test(first)) return `invalid character '${first}' looking for beginning of value`;
  const literal = { t: 'true', f: 'false', n: 'null' }[first as 't' | 'f' | 'n'];
  if (literal) {
    const rest = text.trimStart();
    for (let i = 1; i < literal.length; i++) {
      if (rest[i] === undefined) return 'unexpected EOF';
      if (rest[i] !== literal[i]) return `invalid character '${rest[i]}' in literal ${literal} (expecting '${literal[i]}')`;
    }
  }
  const msg = (err as Error).message;
  return /Unexpected end of JSON input/.test(msg) ? 'unexpected EOF' : msg;
}

/** A LinuxResources JSON (the --resources input); its unset fields stay 0, as in runc's pre-filled struct. */
export function updateFromJson(text: string): UpdateRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw TsrunError.invalid(goJsonSyntaxError(text, err));
  }
  const r = emptyUpdate();
  if (doc === null) return r;
  if (jsonType(doc) !== 'object') throw TsrunError.invalid(`json: cannot unmarshal ${jsonType(doc)} into Go value of type specs.LinuxResources`);
  const res = doc as Record<string, unknown>;
  const section = (name: string, goType: string): Record<string, unknown> => {
    const v = res[name];
    if (v === undefined || v === null) return {};
    if (jsonType(v) !== 'object') throw TsrunError.invalid(`json: cannot unmarshal ${jsonType(v)} into Go struct field LinuxResources.${name} of type specs.${goType}`);
    return v as Record<string, unknown>;
  };
  const integer = (sec: Record<string, unknown>, secName: string, goStruct: string, field: string, unsigned: boolean, bits = 64): bigint => {
    const v = sec[field];
    if (v === undefined || v === null) return 0n;
    const goType = `${unsigned ? 'uint' : 'int'}${bits}`;
    const where = `Go struct field ${goStruct}.${secName}.${field} of type ${goType}`;
    if (typeof v !== 'number') throw TsrunError.invalid(`json: cannot unmarshal ${jsonType(v)} into ${where}`);
    if (!Number.isInteger(v)) throw TsrunError.invalid(`json: cannot unmarshal number ${v} into ${where}`);
    // Beyond 2^53 a double is approximate: such sizes (8 PiB and up) are "unlimited" in practice anyway.
    const b = BigInt(v);
    const lo = unsigned ? 0n : -(1n << BigInt(bits - 1));
    const hi = unsigned ? (1n << BigInt(bits)) - 1n : (1n << BigInt(bits - 1)) - 1n;
    if (b < lo || b > hi) throw TsrunError.invalid(`json: cannot unmarshal number ${v} into ${where}`);
    return b;
  };
  const string = (sec: Record<string, unknown>, secName: string, goStruct: string, field: string): string => {
    const v = sec[field];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') throw TsrunError.invalid(`json: cannot unmarshal ${jsonType(v)} into Go struct field ${goStruct}.${secName}.${field} of type string`);
    return v;
  };
  const mem = section('memory', 'LinuxMemory');
  r.memory = integer(mem, 'memory', 'LinuxMemory', 'limit', false);
  r.memoryReservation = integer(mem, 'memory', 'LinuxMemory', 'reservation', false);
  r.memorySwap = integer(mem, 'memory', 'LinuxMemory', 'swap', false);
  r.kernelMemory = integer(mem, 'memory', 'LinuxMemory', 'kernel', false);
  r.kernelMemoryTCP = integer(mem, 'memory', 'LinuxMemory', 'kernelTCP', false);
  const cpu = section('cpu', 'LinuxCPU');
  r.cpuShares = integer(cpu, 'cpu', 'LinuxCPU', 'shares', true);
  r.cpuQuota = integer(cpu, 'cpu', 'LinuxCPU', 'quota', false);
  r.cpuPeriod = integer(cpu, 'cpu', 'LinuxCPU', 'period', true);
  r.cpuRtRuntime = integer(cpu, 'cpu', 'LinuxCPU', 'realtimeRuntime', false);
  r.cpuRtPeriod = integer(cpu, 'cpu', 'LinuxCPU', 'realtimePeriod', true);
  r.cpusetCpus = string(cpu, 'cpu', 'LinuxCPU', 'cpus');
  r.cpusetMems = string(cpu, 'cpu', 'LinuxCPU', 'mems');
  const bio = section('blockIO', 'LinuxBlockIO');
  r.blkioWeight = integer(bio, 'blockIO', 'LinuxBlockIO', 'weight', true, 16);
  const pids = section('pids', 'LinuxPids');
  r.pidsLimit = integer(pids, 'pids', 'LinuxPids', 'limit', false);
  if (res.unified !== undefined && res.unified !== null) {
    const u = res.unified;
    if (jsonType(u) !== 'object' || Object.values(u as object).some((v) => typeof v !== 'string')) {
      throw TsrunError.invalid('json: cannot unmarshal into Go struct field LinuxResources.unified of type map[string]string');
    }
    r.unified = u as Record<string, string>;
  }
  if (Array.isArray(res.devices)) r.devices = res.devices as LinuxDeviceCgroup[];
  return r;
}

/**
 * Device rules given to `update`. runc 1.1.5 sets SkipDevices for update (so a GPU plugin's
 * rules on top of runc's survive) and never saves them: no rules are written. This is the one
 * place that decides it.
 */
export function devicesForUpdate(_req: UpdateRequest, _saved: LinuxResources | undefined): LinuxDeviceCgroup[] | undefined {
  return undefined;
}

const toNum = (v: bigint): number | bigint => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

export interface UpdatePlan {
  /** What the driver writes: runc's config after the update (0 = the driver leaves that file alone). */
  apply: LinuxResources;
  /** What the state keeps: the saved resources with every non-zero update in place. */
  save: LinuxResources;
  warnings: string[];
}

/** Merges an update into the saved resources the way runc 1.1.5's update action and container.Set do. */
export function planUpdate(saved: LinuxResources | undefined, req: UpdateRequest): UpdatePlan {
  const base: LinuxResources = JSON.parse(JSON.stringify(saved ?? {}));
  delete base.devices;
  const warnings: string[] = [];
  if (req.kernelMemory !== 0n || req.kernelMemoryTCP !== 0n) warnings.push('Kernel memory settings are ignored and will be removed');

  // Quota and period: when only one is given, the other keeps its saved value (runc's rule).
  const savedPeriod = big(base.cpu?.period, 'cpu.period') ?? 0n;
  const savedQuota = big(base.cpu?.quota, 'cpu.quota') ?? 0n;
  let period = req.cpuPeriod;
  let quota = req.cpuQuota;
  if ((period === 0n) !== (quota === 0n)) {
    if (period === 0n) period = savedPeriod;
    else quota = savedQuota;
  }

  const apply: LinuxResources = JSON.parse(JSON.stringify(base));
  delete apply.unified; // runc's config takes the request's unified map only
  apply.memory = { ...apply.memory, limit: toNum(req.memory), reservation: toNum(req.memoryReservation), swap: toNum(req.memorySwap) };
  delete apply.memory.kernel;
  delete apply.memory.kernelTCP;
  apply.cpu = {
    ...apply.cpu, shares: toNum(req.cpuShares), quota: toNum(quota), period: toNum(period),
    realtimeRuntime: toNum(req.cpuRtRuntime), realtimePeriod: toNum(req.cpuRtPeriod), cpus: req.cpusetCpus, mems: req.cpusetMems,
  };
  apply.blockIO = { ...apply.blockIO, weight: toNum(req.blkioWeight) };
  apply.pids = { limit: toNum(req.pidsLimit) };
  if (req.unified) apply.unified = req.unified;
  const devices = devicesForUpdate(req, saved);
  if (devices !== undefined) apply.devices = devices;

  const save: LinuxResources = JSON.parse(JSON.stringify(saved ?? {}));
  const set = <T extends object>(obj: T, key: keyof T, v: bigint | string) => {
    // Number, not bigint: the state is JSON (values past 2^53 are rounded, far above any real limit).
    if (v !== 0n && v !== '') (obj as Record<string, unknown>)[key as string] = typeof v === 'bigint' ? Number(v) : v;
  };
  save.memory = { ...save.memory };
  set(save.memory, 'limit', req.memory);
  set(save.memory, 'reservation', req.memoryReservation);
  set(save.memory, 'swap', req.memorySwap);
  save.cpu = { ...save.cpu };
  set(save.cpu, 'shares', req.cpuShares);
  set(save.cpu, 'quota', quota);
  set(save.cpu, 'period', period);
  set(save.cpu, 'realtimeRuntime', req.cpuRtRuntime);
  set(save.cpu, 'realtimePeriod', req.cpuRtPeriod);
  set(save.cpu, 'cpus', req.cpusetCpus);
  set(save.cpu, 'mems', req.cpusetMems);
  save.blockIO = { ...save.blockIO };
  set(save.blockIO, 'weight', req.blkioWeight);
  if (req.pidsLimit !== 0n) save.pids = { limit: Number(req.pidsLimit) };
  if (req.unified) save.unified = { ...save.unified, ...req.unified };
  for (const k of ['memory', 'cpu', 'blockIO'] as const) if (Object.keys(save[k] ?? {}).length === 0) delete save[k];
  return { apply, save, warnings };
}

/** What to write back after a failed update (runc re-applies the previous config). */
export function restoreResources(saved: LinuxResources | undefined): LinuxResources {
  const r: LinuxResources = JSON.parse(JSON.stringify(saved ?? {}));
  delete r.devices;
  delete r.unified;
  if (r.memory) {
    delete r.memory.kernel;
    delete r.memory.kernelTCP;
  }
  return r;
}
