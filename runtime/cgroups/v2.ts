// The cgroup v2 driver (runc 1.1's "fs2" manager): one dir in the unified hierarchy.
import { posix } from 'node:path';
import { TsrunError } from '../errors.js';
import { BaseManager, isPermissionError, type ManagerOptions } from './common.js';
import { big, convertBlkioWeightToIoWeight, convertCpuSharesToWeight, convertMemorySwapToV2, numToStr } from './convert.js';
import { applyDeviceRules, canSkipDeviceFilterError } from './devices-v2.js';
import { CgroupFs, CgroupWriteError, errnoFrom, sleep } from './fsio.js';
import { checkPageSize, rdmaLines, runningInUserNs, throttleParts } from './v1.js';
import { BpfError } from '../sys/bpf.js';
import type { LinuxResources } from './types.js';

type Ctx = { fs: CgroupFs; warnings: string[] };

/** The v2 device filter, for callers that change a running container's rules (update). */
export { applyDeviceRules } from './devices-v2.js';

interface V2Family {
  /** The controller that must be enabled for the family's files ("" = pseudo-controller / core). */
  controller: string;
  isSet(r: LinuxResources): boolean;
  set(dir: string, r: LinuxResources, ctx: Ctx): void;
}

const isNonZero = (v: bigint | undefined): v is bigint => v !== undefined && v !== 0n;

// ---- pids ----

function setPidsV2(dir: string, r: LinuxResources, { fs }: Ctx): void {
  const limit = big(r.pids?.limit, 'pids.limit') ?? 0n;
  if (limit === 0n) return; // 0 = leave alone (runc 1.1)
  fs.write(dir, 'pids.max', limit < 0n ? 'max' : limit.toString());
}

// ---- memory ----

function isMemorySetV2(r: LinuxResources): boolean {
  const m = r.memory;
  return !!m && (isNonZero(big(m.limit, 'memory.limit')) || isNonZero(big(m.swap, 'memory.swap')) || isNonZero(big(m.reservation, 'memory.reservation')));
}

function setMemoryV2(dir: string, r: LinuxResources, { fs }: Ctx): void {
  const m = r.memory ?? {};
  const limit = big(m.limit, 'memory.limit') ?? 0n;
  const swapTotal = big(m.swap, 'memory.swap') ?? 0n;
  if (m.checkBeforeUpdate) checkMemoryUsage(dir, limit, swapTotal, fs);
  const swap = convertMemorySwapToV2(swapTotal, limit);
  let swapStr = numToStr(swap);
  // memory == memory+swap: no swap at all.
  if (swapStr === '' && swap === 0n && swapTotal > 0n) swapStr = '0';
  // Never write "" to memory.swap.max (it would mean 0).
  if (swapStr !== '') fs.write(dir, 'memory.swap.max', swapStr);
  const max = numToStr(limit);
  if (max !== '') fs.write(dir, 'memory.max', max);
  const low = numToStr(big(m.reservation, 'memory.reservation') ?? 0n);
  if (low !== '') fs.write(dir, 'memory.low', low);
}

/**
 * memory.checkBeforeUpdate: refuse a limit at or below what the cgroup already uses (runc's
 * check and words), rather than have the kernel reclaim or OOM-kill to get under it. Best
 * effort, as runc: no readable memory.current, no check.
 */
function checkMemoryUsage(dir: string, limit: bigint, swapTotal: bigint, fs: Ctx['fs']): void {
  if (limit <= 0n && swapTotal <= 0n) return;
  let usage: bigint;
  try { usage = BigInt(fs.read(dir, 'memory.current').trim()); } catch { return; }
  if (swapTotal > 0n && swapTotal <= usage) throw new TsrunError(`rejecting memory+swap limit ${swapTotal} <= usage ${usage}`);
  if (limit > 0n && limit <= usage) throw new TsrunError(`rejecting memory limit ${limit} <= usage ${usage}`);
}

/** v1-only memory settings: runc 1.1 ignores them on v2; we say so. */
function memoryWarningsV2(r: LinuxResources, warnings: string[]): void {
  const m = r.memory;
  if (!m) return;
  if (m.kernel !== undefined || m.kernelTCP !== undefined) warnings.push('kernel memory settings are ignored and will be removed');
  const sw = big(m.swappiness, 'memory.swappiness');
  if (sw !== undefined && sw !== -1n) warnings.push('memory.swappiness is not supported on cgroup v2: ignored');
  if (m.disableOOMKiller === true) warnings.push('memory.disableOOMKiller is not supported on cgroup v2: ignored');
}

// ---- io ----

function isIoSet(r: LinuxResources): boolean {
  const b = r.blockIO;
  return !!b && (isNonZero(big(b.weight, 'blockIO.weight')) || !!b.weightDevice?.length || !!b.throttleReadBpsDevice?.length
    || !!b.throttleWriteBpsDevice?.length || !!b.throttleReadIOPSDevice?.length || !!b.throttleWriteIOPSDevice?.length);
}

function setIoV2(dir: string, r: LinuxResources, { fs, warnings }: Ctx): void {
  const b = r.blockIO ?? {};
  const weight = big(b.weight, 'blockIO.weight') ?? 0n;
  // BFQ takes the v1 weight as is; otherwise io.weight with runc's conversion.
  const bfq = fs.readIfExists(dir, 'io.bfq.weight');
  if (weight !== 0n) {
    if (bfq !== undefined) fs.write(dir, 'io.bfq.weight', weight.toString());
    else fs.write(dir, 'io.weight', convertBlkioWeightToIoWeight(weight).toString());
  }
  if (isNonZero(big(b.leafWeight, 'blockIO.leafWeight'))) warnings.push('blockIO.leafWeight is not supported on cgroup v2: ignored');
  // Per-device BFQ weights (kernel 5.4+): io.bfq.weight then reads "default N" rather than a bare number.
  const bfqPerDevice = bfq !== undefined && !/^\s*\d+\s*$/.test(bfq);
  for (const [i, wd] of (b.weightDevice ?? []).entries()) {
    const w = big(wd.weight, `blockIO.weightDevice[${i}].weight`) ?? 0n;
    if (w === 0n) continue;
    const dev = `${big(wd.major, `blockIO.weightDevice[${i}].major`)}:${big(wd.minor, `blockIO.weightDevice[${i}].minor`)}`;
    if (bfqPerDevice) fs.write(dir, 'io.bfq.weight', `${dev} ${w}`);
    else warnings.push(`blockIO.weightDevice ${dev}: per-device weights need the BFQ scheduler (io.bfq.weight): ignored`);
  }
  const throttles = [
    ['throttleReadBpsDevice', 'rbps'], ['throttleWriteBpsDevice', 'wbps'],
    ['throttleReadIOPSDevice', 'riops'], ['throttleWriteIOPSDevice', 'wiops'],
  ] as const;
  for (const [key, name] of throttles) {
    for (const [i, td] of (b[key] ?? []).entries()) {
      const { dev, rate } = throttleParts(td, `blockIO.${key}[${i}]`);
      fs.write(dir, 'io.max', `${dev} ${name}=${rate}`);
    }
  }
}

// ---- cpu ----

function isCpuSetV2(r: LinuxResources): boolean {
  const c = r.cpu;
  return !!c && (isNonZero(big(c.shares, 'cpu.shares')) || isNonZero(big(c.quota, 'cpu.quota')) || isNonZero(big(c.period, 'cpu.period'))
    || (c.burst !== undefined && c.burst !== null) || (c.idle !== undefined && c.idle !== null));
}

function setCpuV2(dir: string, r: LinuxResources, { fs }: Ctx): void {
  const c = r.cpu ?? {};
  const idle = big(c.idle, 'cpu.idle');
  if (idle !== undefined) fs.write(dir, 'cpu.idle', idle.toString());
  const weight = convertCpuSharesToWeight(big(c.shares, 'cpu.shares') ?? 0n);
  if (weight !== 0n) fs.write(dir, 'cpu.weight', weight.toString());

  const quota = big(c.quota, 'cpu.quota') ?? 0n;
  const period = big(c.period, 'cpu.period') ?? 0n;
  const burst = big(c.burst, 'cpu.burst');
  const settingMax = quota !== 0n || period !== 0n;
  let burstLater = false;
  if (burst !== undefined) {
    try {
      fs.write(dir, 'cpu.max.burst', burst.toString());
    } catch (err) {
      // A burst above the current quota is rejected until the new quota is in.
      if (!(err instanceof CgroupWriteError) || err.errno !== 'EINVAL' || quota === 0n) throw err;
      burstLater = true;
    }
  }
  if (settingMax) {
    // "quota period"; a quota <= 0 means no limit, the period defaults to 100000 (100 ms).
    const value = `${quota > 0n ? quota.toString() : 'max'} ${(period === 0n ? 100000n : period).toString()}`;
    fs.write(dir, 'cpu.max', value);
    if (burstLater && burst !== undefined) fs.write(dir, 'cpu.max.burst', burst.toString());
  }
}

function cpuWarningsV2(r: LinuxResources, warnings: string[]): void {
  const c = r.cpu;
  if (c && (isNonZero(big(c.realtimeRuntime, 'cpu.realtimeRuntime')) || isNonZero(big(c.realtimePeriod, 'cpu.realtimePeriod')))) {
    warnings.push('cpu.realtimeRuntime/realtimePeriod are not supported on cgroup v2: ignored');
  }
}

// ---- devices ----

function devicesV2(dir: string, r: LinuxResources): void {
  const rules = r.devices ?? [];
  try {
    applyDeviceRules(dir, rules);
  } catch (err) {
    // Rules that cannot be understood are refused everywhere; only bpf(2) failures may be skipped.
    if (!(err instanceof BpfError) || !canSkipDeviceFilterError(rules, runningInUserNs())) throw err;
  }
}

// ---- cpuset / hugetlb / rdma ----

function setCpusetV2(dir: string, r: LinuxResources, { fs }: Ctx): void {
  if (r.cpu?.cpus) fs.write(dir, 'cpuset.cpus', r.cpu.cpus);
  if (r.cpu?.mems) fs.write(dir, 'cpuset.mems', r.cpu.mems);
}

function setHugetlbV2(dir: string, r: LinuxResources, { fs }: Ctx): void {
  let rsvd = true;
  for (const [i, h] of (r.hugepageLimits ?? []).entries()) {
    checkPageSize(h.pageSize, i);
    const val = (big(h.limit, `hugepageLimits[${i}].limit`) ?? 0n).toString();
    fs.write(dir, `hugetlb.${h.pageSize}.max`, val);
    if (!rsvd) continue;
    try {
      fs.write(dir, `hugetlb.${h.pageSize}.rsvd.max`, val);
    } catch (err) {
      if (err instanceof CgroupWriteError && err.errno === 'ENOENT') rsvd = false;
      else throw err;
    }
  }
}

function setRdmaV2(dir: string, r: LinuxResources, { fs }: Ctx): void {
  for (const line of rdmaLines(r)) fs.write(dir, 'rdma.max', line);
}

// ---- unified ----

const UNIFIED_KEY = /^[a-z][a-z0-9_]*\.[A-Za-z0-9_.]+$/;

function setUnifiedV2(dir: string, r: LinuxResources, { fs }: Ctx): void {
  for (const [key, value] of Object.entries(r.unified ?? {})) {
    if (key.includes('/')) throw new TsrunError(`unified resource ${JSON.stringify(key)} must be a file name (no slashes)`);
    if (!UNIFIED_KEY.test(key) || key.startsWith('.')) {
      throw new TsrunError(`unified resource ${JSON.stringify(key)} must be in the form CONTROLLER.PARAMETER`);
    }
    if (!fs.exists(posix.join(dir, key))) {
      const controller = key.slice(0, key.indexOf('.'));
      const enabled = (fs.readIfExists(dir, 'cgroup.controllers') ?? '').split(/\s+/);
      if (controller !== 'cgroup' && !enabled.includes(controller)) {
        throw new TsrunError(`unified resource ${JSON.stringify(key)} can't be set: controller ${JSON.stringify(controller)} not available`);
      }
      throw new TsrunError(`unified resource ${JSON.stringify(key)} can't be set: no such file ${JSON.stringify(posix.join(dir, key))}`);
    }
    try {
      fs.write(dir, key, value);
    } catch (err) {
      throw new TsrunError(`unable to set unified resource ${JSON.stringify(key)}: ${(err as Error).message}`);
    }
  }
}

/** In runc fs2's order. */
const V2_FAMILIES: V2Family[] = [
  { controller: 'pids', isSet: (r) => isNonZero(big(r.pids?.limit, 'pids.limit')), set: setPidsV2 },
  { controller: 'memory', isSet: isMemorySetV2, set: setMemoryV2 },
  { controller: 'io', isSet: isIoSet, set: setIoV2 },
  { controller: 'cpu', isSet: isCpuSetV2, set: setCpuV2 },
  { controller: '', isSet: (r) => r.devices !== undefined, set: devicesV2 },
  { controller: 'cpuset', isSet: (r) => !!r.cpu?.cpus || !!r.cpu?.mems, set: setCpusetV2 },
  { controller: 'hugetlb', isSet: (r) => !!r.hugepageLimits?.length, set: setHugetlbV2 },
  { controller: 'rdma', isSet: (r) => Object.keys(r.rdma ?? {}).length > 0, set: setRdmaV2 },
  { controller: '', isSet: (r) => Object.keys(r.unified ?? {}).length > 0, set: setUnifiedV2 },
];

/** Controllers that only work in a domain cgroup (not in a threaded subtree). */
function needsDomainControllers(r: LinuxResources): boolean {
  return isMemorySetV2(r) || isIoSet(r) || isCpuSetV2(r) || !!r.hugepageLimits?.length;
}

function needsAnyController(r: LinuxResources): boolean {
  return V2_FAMILIES.some((f) => f.controller !== '' && f.isSet(r));
}

export class V2Manager extends BaseManager {
  readonly version = 2 as const;
  /** Rootless without permission and without limits: run without a cgroup, as runc does. */
  private unusable = false;

  constructor(fs: CgroupFs, dir: string, private readonly mountpoint: string, protect: string[], opts: ManagerOptions, created?: string[]) {
    super(fs, { '': dir }, new Set([mountpoint, ...protect]), opts, created);
  }

  get dir(): string {
    return this.paths[''];
  }

  create(): void {
    try {
      this.createPath();
    } catch (err) {
      if (this.opts.rootless && !this.opts.explicitPath && isPermissionError(err)) {
        if (!needsAnyController(this.opts.initial ?? {})) {
          this.unusable = true;
          return;
        }
        throw new TsrunError(`rootless needs no limits + no cgrouppath when no permission is granted for cgroups: ${(err as Error).message}`);
      }
      throw err;
    }
  }

  /**
   * mkdir each level; every level above the leaf gets all its available controllers enabled
   * in cgroup.subtree_control (failures are left for the limit writes to report, as runc does).
   */
  private createPath(): void {
    const r = this.opts.initial ?? {};
    this.enableControllers(this.mountpoint);
    this.mkdirLevels(this.dir, this.mountpoint, (level) => {
      const type = (this.fs.readIfExists(level, 'cgroup.type') ?? '').trim();
      if (type === 'domain invalid') {
        // An ancestor has processes of its own; only thread-aware controllers can work here.
        if (needsDomainControllers(r)) throw new TsrunError(`cannot enter cgroupv2 ${JSON.stringify(level)} with domain controllers -- it is in an invalid state`);
        try {
          this.fs.write(level, 'cgroup.type', 'threaded');
        } catch {
          // best effort, as runc
        }
      } else if (type === 'threaded' || type === 'domain threaded') {
        if (needsDomainControllers(r)) throw new TsrunError(`cannot enter cgroupv2 ${JSON.stringify(level)} with domain controllers -- it is in ${type} mode`);
      }
      if (level !== this.dir) this.enableControllers(level);
    });
  }

  private enableControllers(dir: string): void {
    const available = (this.fs.readIfExists(dir, 'cgroup.controllers') ?? '').split(/\s+/).filter(Boolean);
    const enabled = new Set((this.fs.readIfExists(dir, 'cgroup.subtree_control') ?? '').split(/\s+/).filter(Boolean));
    const missing = available.filter((c) => !enabled.has(c));
    if (missing.length === 0) return;
    try {
      this.fs.write(dir, 'cgroup.subtree_control', missing.map((c) => '+' + c).join(' '));
    } catch {
      for (const c of missing) {
        try {
          this.fs.write(dir, 'cgroup.subtree_control', '+' + c);
        } catch {
          // not delegated to us, or processes in an inner node: the limit writes will tell
        }
      }
    }
  }

  apply(resources: LinuxResources | undefined): string[] {
    const warnings: string[] = [];
    const r = resources ?? {};
    if (this.unusable) {
      if (needsAnyController(r)) throw new TsrunError('rootless needs no limits + no cgrouppath when no permission is granted for cgroups');
      return warnings;
    }
    const ctx: Ctx = { fs: this.fs, warnings };
    memoryWarningsV2(r, warnings);
    cpuWarningsV2(r, warnings);
    if (r.network && (isNonZero(big(r.network.classID, 'network.classID')) || r.network.priorities?.length)) {
      warnings.push('network classID/priorities (net_cls, net_prio) do not exist on cgroup v2: ignored');
    }
    for (const fam of V2_FAMILIES) {
      if (!fam.isSet(r)) continue;
      try {
        fam.set(this.dir, r, ctx);
      } catch (err) {
        // Rootless, device rules are not expected to work (bpf(2) needs privileges): runc ignores their errors.
        if (this.opts.rootless && fam.set === devicesV2) continue;
        throw this.explain(err, fam.controller);
      }
    }
    return warnings;
  }

  /** A missing file usually means the controller is not enabled for this cgroup: say so. */
  private explain(err: unknown, controller: string): unknown {
    if (!(err instanceof CgroupWriteError) || errnoFrom(err) !== 'ENOENT' || controller === '') return err;
    const enabled = (this.fs.readIfExists(this.dir, 'cgroup.controllers') ?? '').split(/\s+/);
    if (enabled.includes(controller)) return err;
    return new TsrunError(`${err.message} (the ${controller} controller is not enabled for ${JSON.stringify(this.dir)}; check cgroup.subtree_control of its parent)`);
  }

  override procsFiles(): string[] {
    return this.unusable ? [] : super.procsFiles();
  }

  exists(): boolean {
    return this.fs.exists(this.dir);
  }

  protected primaryDir(): string | undefined {
    return this.dir;
  }

  async freeze(): Promise<void> {
    if (!await this.freezeAndWait()) throw new TsrunError(`cannot pause the container: ${this.dir} did not report "frozen 1"`);
  }

  thaw(): void {
    try {
      this.fs.write(this.dir, 'cgroup.freeze', '0');
    } catch {
      // gone, or no freezer
    }
  }

  isFrozen(): boolean {
    return this.fs.readIfExists(this.dir, 'cgroup.freeze')?.trim() === '1';
  }

  /** cgroup.freeze = 1, then wait (up to ~1 s) for cgroup.events to say "frozen 1". */
  protected async freezeAndWait(): Promise<boolean> {
    try {
      this.fs.write(this.dir, 'cgroup.freeze', '1');
      for (let i = 0; i < 100; i++) {
        const events = this.fs.readIfExists(this.dir, 'cgroup.events') ?? '';
        if (/^frozen 1$/m.test(events)) return true;
        await sleep(10);
      }
    } catch {
      // no freezer (kernel < 5.2): say not frozen
    }
    this.thaw();
    return false;
  }

  /** cgroup.kill (5.14+) kills the whole subtree atomically. */
  protected override killAtOnce(): boolean {
    if (!this.fs.exists(posix.join(this.dir, 'cgroup.kill'))) return false;
    try {
      this.fs.write(this.dir, 'cgroup.kill', '1');
      return true;
    } catch {
      return false;
    }
  }

}
