// Container statistics as runc 1.1.5's `events` prints them: libcontainer's cgroup stats read
// with its parsing rules (fs for v1, fs2 for v2), converted to runc's types.Stats and encoded
// with Go's encoding/json omitempty rules. Values are uint64 in Go: bigint here, never a double.
import { readdirSync } from 'node:fs';
import { posix } from 'node:path';
import { TsrunError } from '../errors.js';
import { CgroupFs } from './fsio.js';
import type { CgroupHost, CgroupManager } from './types.js';

const MAX_UINT64 = (1n << 64n) - 1n;

export interface MemoryEntry { limit: bigint; usage: bigint; max: bigint; failcnt: bigint }
export interface BlkioEntry { major: bigint; minor: bigint; op: string; value: bigint }
export interface HugetlbEntry { usage: bigint; max: bigint; failcnt: bigint }

export const BLKIO_KEYS = [
  'ioServiceBytesRecursive', 'ioServicedRecursive', 'ioQueueRecursive', 'ioServiceTimeRecursive',
  'ioWaitTimeRecursive', 'ioMergedRecursive', 'ioTimeRecursive', 'sectorsRecursive',
] as const;
export type BlkioKey = typeof BLKIO_KEYS[number];

/** runc's types.Stats (without intel_rdt and network_interfaces, which tsrun never has). */
export interface ContainerStats {
  cpu: {
    usage: { total: bigint; percpu: bigint[]; percpuKernel: bigint[]; percpuUser: bigint[]; kernel: bigint; user: bigint };
    throttling: { periods: bigint; throttledPeriods: bigint; throttledTime: bigint };
  };
  cpuset: {
    cpus: number[]; cpuExclusive: bigint; mems: number[]; memHardwall: bigint; memExclusive: bigint; memoryMigrate: bigint;
    memorySpreadPage: bigint; memorySpreadSlab: bigint; memoryPressure: bigint; schedLoadBalance: bigint; schedRelaxDomainLevel: bigint;
  };
  memory: { cache: bigint; usage: MemoryEntry; swap: MemoryEntry; kernel: MemoryEntry; kernelTCP: MemoryEntry; raw: Map<string, bigint> };
  pids: { current: bigint; limit: bigint };
  blkio: Partial<Record<BlkioKey, BlkioEntry[]>>;
  hugetlb: Map<string, HugetlbEntry>;
}

const memEntry = (): MemoryEntry => ({ limit: 0n, usage: 0n, max: 0n, failcnt: 0n });

export function emptyStats(): ContainerStats {
  return {
    cpu: {
      usage: { total: 0n, percpu: [], percpuKernel: [], percpuUser: [], kernel: 0n, user: 0n },
      throttling: { periods: 0n, throttledPeriods: 0n, throttledTime: 0n },
    },
    cpuset: {
      cpus: [], cpuExclusive: 0n, mems: [], memHardwall: 0n, memExclusive: 0n, memoryMigrate: 0n,
      memorySpreadPage: 0n, memorySpreadSlab: 0n, memoryPressure: 0n, schedLoadBalance: 0n, schedRelaxDomainLevel: 0n,
    },
    memory: { cache: 0n, usage: memEntry(), swap: memEntry(), kernel: memEntry(), kernelTCP: memEntry(), raw: new Map() },
    pids: { current: 0n, limit: 0n },
    blkio: {},
    hugetlb: new Map(),
  };
}

// ---- parsing, with fscommon's rules ----

/** A stats read that failed; `enoent` lets fs2 ignore controllers that are not there, as runc does. */
export class StatsError extends TsrunError {
  constructor(message: string, readonly enoent = false) {
    super(message);
  }
}

function parseError(dir: string, file: string, why: string): StatsError {
  return new StatsError(`unable to parse ${posix.join(dir, file)}: ${why}`);
}

/** fscommon.ParseUint: a uint64, or 0 for any negative integer (the kernel prints -1 for "unlimited"). */
export function parseUint(s: string): bigint | undefined {
  if (/^\d+$/.test(s)) {
    const v = BigInt(s);
    return v <= MAX_UINT64 ? v : undefined;
  }
  if (/^-\d+$/.test(s)) return 0n;
  return undefined;
}

function readText(fs: CgroupFs, dir: string, file: string): string {
  const text = fs.readIfExists(dir, file);
  if (text === undefined) throw new StatsError(`open ${posix.join(dir, file)}: no such file or directory`, true);
  return text;
}

/** GetCgroupParamUint: "max" is MaxUint64. */
function readUint(fs: CgroupFs, dir: string, file: string): bigint {
  const text = readText(fs, dir, file).trim();
  if (text === 'max') return MAX_UINT64;
  const v = parseUint(text);
  if (v === undefined) throw parseError(dir, file, `strconv.ParseUint: parsing ${JSON.stringify(text)}: invalid syntax`);
  return v;
}

function readInt(fs: CgroupFs, dir: string, file: string): bigint {
  const text = readText(fs, dir, file).trim();
  if (text === 'max') return (1n << 63n) - 1n;
  if (!/^-?\d+$/.test(text)) throw parseError(dir, file, `strconv.ParseInt: parsing ${JSON.stringify(text)}: invalid syntax`);
  return BigInt(text);
}

/** Lines of "key value" (ParseKeyValue: exactly one space). */
function keyValues(fs: CgroupFs, dir: string, file: string): Array<[string, bigint]> {
  const out: Array<[string, bigint]> = [];
  for (const line of readText(fs, dir, file).split('\n')) {
    if (line === '') continue;
    const parts = line.split(' ');
    if (parts.length !== 2) throw parseError(dir, file, `line ${JSON.stringify(line)} is not in key value format`);
    const v = parseUint(parts[1]);
    if (v === undefined) throw parseError(dir, file, `strconv.ParseUint: parsing ${JSON.stringify(parts[1])}: invalid syntax`);
    out.push([parts[0], v]);
  }
  return out;
}

/** GetValueByKey: 0 when the key is absent. */
function valueByKey(fs: CgroupFs, dir: string, file: string, key: string): bigint {
  for (const line of readText(fs, dir, file).split('\n')) {
    const parts = line.split(' ');
    if (parts.length === 2 && parts[0] === key) {
      const v = parseUint(parts[1]);
      if (v === undefined) throw parseError(dir, file, `strconv.ParseUint: parsing ${JSON.stringify(parts[1])}: invalid syntax`);
      return v;
    }
  }
  return 0n;
}

/** Hugepage sizes as the kernel names them in hugetlb.<size>.* ("2MB", "1GB"), from /sys/kernel/mm/hugepages. */
export function hugePageSizes(dir = '/sys/kernel/mm/hugepages'): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  const out: string[] = [];
  for (const name of names) {
    const m = /^hugepages-(\d+)kB$/.exec(name);
    if (!m) continue;
    let size = Number(m[1]) * 1024;
    let i = 0;
    while (size >= 1024 && i < units.length - 1) {
      size /= 1024;
      i++;
    }
    out.push(`${size}${units[i]}`);
  }
  return out;
}

// ---- cgroup v1 (libcontainer/cgroups/fs) ----

function cpusetList(fs: CgroupFs, dir: string, file: string): number[] | undefined {
  const text = fs.readIfExists(dir, file);
  if (text === undefined) return undefined;
  const content = text.trim();
  if (content === '') throw parseError(dir, file, 'empty file');
  const out: number[] = [];
  for (const part of content.split(',')) {
    const sp = part.split('-');
    const num = (s: string) => {
      if (!/^\d+$/.test(s) || Number(s) > 65535) throw parseError(dir, file, `strconv.ParseUint: parsing ${JSON.stringify(s)}: invalid syntax`);
      return Number(s);
    };
    if (sp.length > 2) throw parseError(dir, file, 'extra dash');
    if (sp.length === 2) {
      const lo = num(sp[0]);
      const hi = num(sp[1]);
      if (lo > hi) throw parseError(dir, file, 'invalid values, min > max');
      for (let i = lo; i <= hi; i++) out.push(i);
    } else {
      out.push(num(part));
    }
  }
  return out;
}

function optional<T>(f: () => T, fallback: T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof StatsError && err.enoent) return fallback;
    throw err;
  }
}

function cpusetStatsV1(fs: CgroupFs, dir: string, s: ContainerStats): void {
  const c = s.cpuset;
  c.cpus = cpusetList(fs, dir, 'cpuset.cpus') ?? [];
  const u = (file: string) => optional(() => readUint(fs, dir, file), 0n);
  c.cpuExclusive = u('cpuset.cpu_exclusive');
  c.mems = cpusetList(fs, dir, 'cpuset.mems') ?? [];
  c.memHardwall = u('cpuset.mem_hardwall');
  c.memExclusive = u('cpuset.mem_exclusive');
  c.memoryMigrate = u('cpuset.memory_migrate');
  c.memorySpreadPage = u('cpuset.memory_spread_page');
  c.memorySpreadSlab = u('cpuset.memory_spread_slab');
  c.memoryPressure = u('cpuset.memory_pressure');
  c.schedLoadBalance = u('cpuset.sched_load_balance');
  c.schedRelaxDomainLevel = optional(() => readInt(fs, dir, 'cpuset.sched_relax_domain_level'), 0n);
}

/** memory[.name].{usage_in_bytes,max_usage_in_bytes,failcnt,limit_in_bytes}; swap and kmem are optional in the kernel. */
function memoryDataV1(fs: CgroupFs, dir: string, name: string): MemoryEntry {
  const mod = name === '' ? 'memory' : `memory.${name}`;
  let usage: bigint;
  try {
    usage = readUint(fs, dir, `${mod}.usage_in_bytes`);
  } catch (err) {
    if (name !== '' && err instanceof StatsError && err.enoent) return memEntry();
    throw err;
  }
  return {
    usage,
    max: readUint(fs, dir, `${mod}.max_usage_in_bytes`),
    failcnt: readUint(fs, dir, `${mod}.failcnt`),
    limit: readUint(fs, dir, `${mod}.limit_in_bytes`),
  };
}

function memoryStatsV1(fs: CgroupFs, dir: string, s: ContainerStats): void {
  if (fs.readIfExists(dir, 'memory.stat') === undefined) return;
  for (const [k, v] of keyValues(fs, dir, 'memory.stat')) s.memory.raw.set(k, v);
  s.memory.cache = s.memory.raw.get('cache') ?? 0n;
  s.memory.usage = memoryDataV1(fs, dir, '');
  s.memory.swap = memoryDataV1(fs, dir, 'memsw');
  s.memory.kernel = memoryDataV1(fs, dir, 'kmem');
  s.memory.kernelTCP = memoryDataV1(fs, dir, 'kmem.tcp');
}

function cpuStatsV1(fs: CgroupFs, dir: string, s: ContainerStats): void {
  if (fs.readIfExists(dir, 'cpu.stat') === undefined) return;
  for (const [k, v] of keyValues(fs, dir, 'cpu.stat')) {
    if (k === 'nr_periods') s.cpu.throttling.periods = v;
    else if (k === 'nr_throttled') s.cpu.throttling.throttledPeriods = v;
    else if (k === 'throttled_time') s.cpu.throttling.throttledTime = v;
  }
}

/** cpuacct.stat is in USER_HZ ticks; runc assumes 100 per second. */
const NS_PER_TICK = 1_000_000_000n / 100n;

function cpuacctStatsV1(fs: CgroupFs, dir: string, s: ContainerStats): void {
  if (!fs.exists(dir)) return;
  const stat = readText(fs, dir, 'cpuacct.stat');
  const f = stat.trim().split(/\s+/);
  if (f.length < 4 || f[0] !== 'user' || f[2] !== 'system') throw parseError(dir, 'cpuacct.stat', `malformed line: ${JSON.stringify(stat)}`);
  const user = parseUint(f[1]);
  const system = parseUint(f[3]);
  if (user === undefined || system === undefined) throw parseError(dir, 'cpuacct.stat', 'invalid syntax');
  const u = s.cpu.usage;
  u.total = readUint(fs, dir, 'cpuacct.usage');
  u.percpu = readText(fs, dir, 'cpuacct.usage_percpu').trim().split(/\s+/).filter(Boolean).map((v) => {
    const n = parseUint(v);
    if (n === undefined) throw parseError(dir, 'cpuacct.usage_percpu', `strconv.ParseUint: parsing ${JSON.stringify(v)}: invalid syntax`);
    return n;
  });
  // cpuacct.usage_all: "cpu user system" per line after a header; absent on old kernels.
  const all = fs.readIfExists(dir, 'cpuacct.usage_all');
  u.percpuKernel = [];
  u.percpuUser = [];
  if (all !== undefined) {
    for (const line of all.split('\n').slice(1)) {
      const cols = line.split(' ');
      if (cols.length !== 3) continue;
      const k = parseUint(cols[2]);
      const us = parseUint(cols[1]);
      if (k === undefined || us === undefined) throw parseError(dir, 'cpuacct.usage_all', `invalid line ${JSON.stringify(line)}`);
      u.percpuKernel.push(k);
      u.percpuUser.push(us);
    }
  }
  u.user = user * NS_PER_TICK;
  u.kernel = system * NS_PER_TICK;
}

function pidsStats(fs: CgroupFs, dir: string, s: ContainerStats): void {
  const current = readUint(fs, dir, 'pids.current');
  const max = readUint(fs, dir, 'pids.max');
  s.pids.current = current;
  s.pids.limit = max === MAX_UINT64 ? 0n : max; // "no limit" is 0 in runc's stats
}

/** One blkio.* file: "MAJ:MIN [Op] value" lines and a "Total N" line; undefined when absent or empty (as Go's nil slice). */
function blkioFile(fs: CgroupFs, dir: string, file: string): BlkioEntry[] | undefined {
  const text = fs.readIfExists(dir, file);
  if (text === undefined) return undefined;
  const out: BlkioEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const f = line.split(/[ :]/).filter(Boolean);
    if (f.length < 3) {
      if (f.length === 2 && f[0] === 'Total') continue;
      throw parseError(dir, file, `malformed line: ${JSON.stringify(line)}`);
    }
    const major = parseUint(f[0]);
    const minor = parseUint(f[1]);
    const valueField = f.length === 4 ? 3 : 2;
    const value = /^\d+$/.test(f[valueField]) ? BigInt(f[valueField]) : undefined;
    if (major === undefined || minor === undefined || value === undefined || !/^\d+$/.test(f[0]) || !/^\d+$/.test(f[1])) {
      throw parseError(dir, file, `invalid line ${JSON.stringify(line)}`);
    }
    out.push({ major, minor, op: f.length === 4 ? f[2] : '', value });
  }
  return out.length > 0 ? out : undefined;
}

const BLKIO_GROUPS: Array<Array<[string, BlkioKey]>> = [
  [
    ['blkio.bfq.sectors_recursive', 'sectorsRecursive'], ['blkio.bfq.io_service_time_recursive', 'ioServiceTimeRecursive'],
    ['blkio.bfq.io_wait_time_recursive', 'ioWaitTimeRecursive'], ['blkio.bfq.io_merged_recursive', 'ioMergedRecursive'],
    ['blkio.bfq.io_queued_recursive', 'ioQueueRecursive'], ['blkio.bfq.time_recursive', 'ioTimeRecursive'],
    ['blkio.bfq.io_serviced_recursive', 'ioServicedRecursive'], ['blkio.bfq.io_service_bytes_recursive', 'ioServiceBytesRecursive'],
  ],
  [['blkio.bfq.io_serviced_recursive', 'ioServicedRecursive'], ['blkio.bfq.io_service_bytes_recursive', 'ioServiceBytesRecursive']],
  [
    ['blkio.sectors_recursive', 'sectorsRecursive'], ['blkio.io_service_time_recursive', 'ioServiceTimeRecursive'],
    ['blkio.io_wait_time_recursive', 'ioWaitTimeRecursive'], ['blkio.io_merged_recursive', 'ioMergedRecursive'],
    ['blkio.io_queued_recursive', 'ioQueueRecursive'], ['blkio.time_recursive', 'ioTimeRecursive'],
    ['blkio.io_serviced_recursive', 'ioServicedRecursive'], ['blkio.io_service_bytes_recursive', 'ioServiceBytesRecursive'],
  ],
  [['blkio.throttle.io_serviced_recursive', 'ioServicedRecursive'], ['blkio.throttle.io_service_bytes_recursive', 'ioServiceBytesRecursive']],
  [['blkio.throttle.io_serviced', 'ioServicedRecursive'], ['blkio.throttle.io_service_bytes', 'ioServiceBytesRecursive']],
];

/**
 * runc tries the BFQ debug, BFQ, CFQ, throttle-recursive and throttle file groups in turn: a group
 * whose first file is missing or empty is skipped; a later one missing or empty ends the search.
 */
function blkioStatsV1(fs: CgroupFs, dir: string, s: ContainerStats): void {
  for (const group of BLKIO_GROUPS) {
    for (const [i, [file, key]] of group.entries()) {
      const entries = blkioFile(fs, dir, file);
      if (entries === undefined) {
        if (i === 0) break;
        return;
      }
      s.blkio[key] = entries;
      if (i === group.length - 1) return;
    }
  }
}

function hugetlbStatsV1(fs: CgroupFs, dir: string, s: ContainerStats, sizes: string[]): void {
  if (!fs.exists(dir)) return;
  for (const size of sizes) {
    s.hugetlb.set(size, {
      usage: readUint(fs, dir, `hugetlb.${size}.usage_in_bytes`),
      max: readUint(fs, dir, `hugetlb.${size}.max_usage_in_bytes`),
      failcnt: readUint(fs, dir, `hugetlb.${size}.failcnt`),
    });
  }
}

/** libcontainer fs manager's GetStats: the subsystems in runc's order, the first error wins. */
export function statsV1(fs: CgroupFs, paths: Record<string, string>, sizes: string[]): ContainerStats {
  const s = emptyStats();
  if (paths.cpuset) cpusetStatsV1(fs, paths.cpuset, s);
  if (paths.memory) memoryStatsV1(fs, paths.memory, s);
  if (paths.cpu) cpuStatsV1(fs, paths.cpu, s);
  if (paths.cpuacct) cpuacctStatsV1(fs, paths.cpuacct, s);
  if (paths.pids && fs.exists(paths.pids)) pidsStats(fs, paths.pids, s);
  if (paths.blkio) blkioStatsV1(fs, paths.blkio, s);
  if (paths.hugetlb) hugetlbStatsV1(fs, paths.hugetlb, s, sizes);
  return s;
}

// ---- cgroup v2 (libcontainer/cgroups/fs2) ----

function pidsStatsV2(fs: CgroupFs, dir: string, s: ContainerStats): void {
  if (fs.readIfExists(dir, 'pids.current') === undefined) {
    // pids controller not enabled: count cgroup.procs.
    const procs = readText(fs, dir, 'cgroup.procs');
    s.pids.current = BigInt(procs.split('\n').length - 1);
    s.pids.limit = 0n;
    return;
  }
  pidsStats(fs, dir, s);
}

function memoryDataV2(fs: CgroupFs, dir: string, name: string): MemoryEntry {
  const mod = name === '' ? 'memory' : `memory.${name}`;
  let usage: bigint;
  try {
    usage = readUint(fs, dir, `${mod}.current`);
  } catch (err) {
    if (name !== '' && err instanceof StatsError && err.enoent) return memEntry(); // no swap accounting
    throw err;
  }
  return { usage, max: 0n, failcnt: 0n, limit: readUint(fs, dir, `${mod}.max`) };
}

function memoryStatsV2(fs: CgroupFs, dir: string, s: ContainerStats): void {
  for (const [k, v] of keyValues(fs, dir, 'memory.stat')) s.memory.raw.set(k, v);
  s.memory.cache = s.memory.raw.get('file') ?? 0n;
  const usage = memoryDataV2(fs, dir, '');
  s.memory.usage = usage;
  // v1 reports swap as memory+swap: runc adds the memory figures for compatibility (uint64 arithmetic).
  const swap = memoryDataV2(fs, dir, 'swap');
  swap.usage = (swap.usage + usage.usage) & MAX_UINT64;
  if (swap.limit !== MAX_UINT64) swap.limit = (swap.limit + usage.limit) & MAX_UINT64;
  s.memory.swap = swap;
}

function ioStatsV2(fs: CgroupFs, dir: string, s: ContainerStats): void {
  const text = readText(fs, dir, 'io.stat');
  const blkio: ContainerStats['blkio'] = {};
  const add = (key: BlkioKey, e: BlkioEntry) => (blkio[key] ??= []).push(e);
  for (const line of text.split('\n')) {
    const fields = line.split(/\s+/).filter(Boolean);
    if (fields.length === 0) continue;
    const dev = fields[0].split(':');
    if (dev.length !== 2) continue;
    const major = parseUint(dev[0]);
    const minor = parseUint(dev[1]);
    if (major === undefined || minor === undefined) throw parseError(dir, 'io.stat', `invalid device ${JSON.stringify(fields[0])}`);
    for (const item of fields.slice(1)) {
      const kv = item.split('=');
      if (kv.length !== 2) continue;
      const map: Record<string, [string, BlkioKey]> = {
        rbytes: ['Read', 'ioServiceBytesRecursive'], wbytes: ['Write', 'ioServiceBytesRecursive'],
        rios: ['Read', 'ioServicedRecursive'], wios: ['Write', 'ioServicedRecursive'],
      };
      const target = map[kv[0]];
      if (!target) continue;
      if (!/^\d+$/.test(kv[1])) throw parseError(dir, 'io.stat', `strconv.ParseUint: parsing ${JSON.stringify(kv[1])}: invalid syntax`);
      add(target[1], { major, minor, op: target[0], value: BigInt(kv[1]) });
    }
  }
  s.blkio = blkio;
}

function cpuStatsV2(fs: CgroupFs, dir: string, s: ContainerStats): void {
  for (const [k, v] of keyValues(fs, dir, 'cpu.stat')) {
    switch (k) {
      case 'usage_usec': s.cpu.usage.total = v * 1000n; break;
      case 'user_usec': s.cpu.usage.user = v * 1000n; break;
      case 'system_usec': s.cpu.usage.kernel = v * 1000n; break;
      case 'nr_periods': s.cpu.throttling.periods = v; break;
      case 'nr_throttled': s.cpu.throttling.throttledPeriods = v; break;
      case 'throttled_usec': s.cpu.throttling.throttledTime = v * 1000n; break;
    }
  }
}

function hugetlbStatsV2(fs: CgroupFs, dir: string, s: ContainerStats, sizes: string[]): void {
  for (const size of sizes) {
    s.hugetlb.set(size, {
      usage: readUint(fs, dir, `hugetlb.${size}.current`),
      max: 0n,
      failcnt: valueByKey(fs, dir, `hugetlb.${size}.events`, 'max'),
    });
  }
}

/** fs2's GetStats: every part is tried; missing files are fine, other errors are reported together. */
export function statsV2(fs: CgroupFs, dir: string, sizes: string[], rootless = false): ContainerStats {
  const s = emptyStats();
  const errs: string[] = [];
  const part = (f: () => void, enoentOk: boolean) => {
    try {
      f();
    } catch (err) {
      if (enoentOk && err instanceof StatsError && err.enoent) return;
      errs.push((err as Error).message);
    }
  };
  part(() => pidsStatsV2(fs, dir, s), false);
  part(() => memoryStatsV2(fs, dir, s), true);
  part(() => ioStatsV2(fs, dir, s), true);
  part(() => cpuStatsV2(fs, dir, s), true);
  part(() => hugetlbStatsV2(fs, dir, s, sizes), true);
  if (errs.length > 0 && !rootless) throw new TsrunError(`error while statting cgroup v2: [${errs.join(' ')}]`);
  return s;
}

/** The stats of a container's cgroup, by its driver's hierarchy. */
export function cgroupStats(m: CgroupManager, host: CgroupHost = {}, sizes: string[] = hugePageSizes()): ContainerStats {
  const fs = new CgroupFs(host);
  try {
    return m.version === 2 ? statsV2(fs, m.paths[''], sizes) : statsV1(fs, m.paths, sizes);
  } catch (err) {
    throw new TsrunError(`unable to get container cgroup stats: ${(err as Error).message}`);
  }
}

// ---- encoding: Go's encoding/json of runc's types.Stats ----

type Field = [name: string, value: string | undefined];

function obj(fields: Field[]): string {
  return '{' + fields.filter(([, v]) => v !== undefined).map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',') + '}';
}

const num = (v: bigint | number) => v.toString();
/** `omitempty` on a number: left out when zero. */
const nz = (v: bigint) => (v === 0n ? undefined : v.toString());
/** `omitempty` on a slice: left out when empty. */
const list = (v: Array<bigint | number>) => (v.length === 0 ? undefined : `[${v.map(num).join(',')}]`);

function memoryEntryJson(e: MemoryEntry): string {
  return obj([['limit', num(e.limit)], ['usage', nz(e.usage)], ['max', nz(e.max)], ['failcnt', num(e.failcnt)]]);
}

/** Go sorts map keys. */
function sortedKeys<V>(m: Map<string, V>): string[] {
  return [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export function statsJson(s: ContainerStats): string {
  const u = s.cpu.usage;
  const t = s.cpu.throttling;
  const c = s.cpuset;
  const raw = s.memory.raw.size === 0 ? undefined : '{' + sortedKeys(s.memory.raw).map((k) => `${JSON.stringify(k)}:${s.memory.raw.get(k)}`).join(',') + '}';
  const blkio = obj(BLKIO_KEYS.map((k): Field => {
    const entries = s.blkio[k];
    if (!entries || entries.length === 0) return [k, undefined];
    return [k, '[' + entries.map((e) => obj([['major', nz(e.major)], ['minor', nz(e.minor)], ['op', e.op === '' ? undefined : JSON.stringify(e.op)], ['value', nz(e.value)]])).join(',') + ']'];
  }));
  const hugetlb = '{' + sortedKeys(s.hugetlb).map((k) => {
    const h = s.hugetlb.get(k)!;
    return `${JSON.stringify(k)}:${obj([['usage', nz(h.usage)], ['max', nz(h.max)], ['failcnt', num(h.failcnt)]])}`;
  }).join(',') + '}';
  return obj([
    ['cpu', obj([
      ['usage', obj([['total', nz(u.total)], ['percpu', list(u.percpu)], ['percpu_kernel', list(u.percpuKernel)], ['percpu_user', list(u.percpuUser)], ['kernel', num(u.kernel)], ['user', num(u.user)]])],
      ['throttling', obj([['periods', nz(t.periods)], ['throttledPeriods', nz(t.throttledPeriods)], ['throttledTime', nz(t.throttledTime)]])],
    ])],
    ['cpuset', obj([
      ['cpus', list(c.cpus)], ['cpu_exclusive', num(c.cpuExclusive)], ['mems', list(c.mems)], ['mem_hardwall', num(c.memHardwall)],
      ['mem_exclusive', num(c.memExclusive)], ['memory_migrate', num(c.memoryMigrate)], ['memory_spread_page', num(c.memorySpreadPage)],
      ['memory_spread_slab', num(c.memorySpreadSlab)], ['memory_pressure', num(c.memoryPressure)], ['sched_load_balance', num(c.schedLoadBalance)],
      ['sched_relax_domain_level', num(c.schedRelaxDomainLevel)],
    ])],
    ['memory', obj([
      ['cache', nz(s.memory.cache)], ['usage', memoryEntryJson(s.memory.usage)], ['swap', memoryEntryJson(s.memory.swap)],
      ['kernel', memoryEntryJson(s.memory.kernel)], ['kernelTCP', memoryEntryJson(s.memory.kernelTCP)], ['raw', raw],
    ])],
    ['pids', obj([['current', nz(s.pids.current)], ['limit', nz(s.pids.limit)]])],
    ['blkio', blkio],
    ['hugetlb', hugetlb],
    ['intel_rdt', '{}'],
    ['network_interfaces', 'null'],
  ]);
}

/** One line of `events` output (Go's json.Encoder ends each value with a newline). */
export function eventLine(type: 'stats' | 'oom', id: string, stats?: ContainerStats): string {
  return obj([['type', JSON.stringify(type)], ['id', JSON.stringify(id)], ['data', stats ? statsJson(stats) : undefined]]) + '\n';
}
