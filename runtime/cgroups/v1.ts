// The cgroup v1 driver (runc 1.1's cgroupfs "fs" manager): one dir per mounted hierarchy.
// On a hybrid host the unified (cgroup2) dir is joined too, under the key "".
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { TsrunError } from '../errors.js';
import { BaseManager, isPermissionError, type ManagerOptions } from './common.js';
import { big } from './convert.js';
import { parseDeviceRule } from './devices.js';
import { writeDeviceRulesV1 } from './devices-v1.js';
import { CgroupFs, CgroupWriteError, sleep } from './fsio.js';
import type { LinuxResources, LinuxThrottleDevice } from './types.js';

type Ctx = { fs: CgroupFs; warnings: string[]; rootless: boolean };

/** One resource family: whether the resources ask for anything, and how to write it. */
interface V1Family {
  controller: string;
  isSet(r: LinuxResources): boolean;
  set(dir: string, r: LinuxResources, ctx: Ctx): void;
}

const isNonZero = (v: bigint | undefined): v is bigint => v !== undefined && v !== 0n;

// ---- cpuset ----

function isCpusetSet(r: LinuxResources): boolean {
  return !!r.cpu?.cpus || !!r.cpu?.mems;
}

function setCpusetV1(dir: string, r: LinuxResources, { fs }: Ctx): void {
  if (r.cpu?.cpus) fs.write(dir, 'cpuset.cpus', r.cpu.cpus);
  if (r.cpu?.mems) fs.write(dir, 'cpuset.mems', r.cpu.mems);
}

/** A new cpuset cgroup starts with empty cpus/mems and takes no task: copy them from the parent. */
function cpusetCopyIfNeeded(fs: CgroupFs, dir: string, parent: string): void {
  const empty = (s: string) => s.trim() === '';
  const cpus = fs.read(dir, 'cpuset.cpus');
  const mems = fs.read(dir, 'cpuset.mems');
  if (empty(cpus)) fs.write(dir, 'cpuset.cpus', fs.read(parent, 'cpuset.cpus').trim());
  if (empty(mems)) fs.write(dir, 'cpuset.mems', fs.read(parent, 'cpuset.mems').trim());
}

// ---- devices ----

let inUserNs: boolean | undefined;
export function runningInUserNs(): boolean {
  if (inUserNs === undefined) {
    try {
      const m = readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/);
      inUserNs = !(m.length === 3 && m[0] === '0' && m[1] === '0' && m[2] === '4294967295');
    } catch {
      inUserNs = false;
    }
  }
  return inUserNs;
}

function setDevicesV1(dir: string, r: LinuxResources, ctx: Ctx): void {
  if (runningInUserNs()) return; // the device cgroup cannot be written from a user namespace (runc skips it too)
  writeDeviceRulesV1(ctx.fs, dir, (r.devices ?? []).map((d, i) => parseDeviceRule(d, i)));
}

// ---- memory ----

function isMemorySetV1(r: LinuxResources): boolean {
  const m = r.memory;
  if (!m) return false;
  return isNonZero(big(m.limit, 'memory.limit')) || isNonZero(big(m.swap, 'memory.swap'))
    || isNonZero(big(m.reservation, 'memory.reservation')) || m.disableOOMKiller === true
    || (m.swappiness !== undefined && m.swappiness !== null && big(m.swappiness, 'memory.swappiness') !== -1n);
}

function readUint(fs: CgroupFs, dir: string, file: string): bigint {
  const text = fs.read(dir, file).trim();
  if (!/^\d+$/.test(text)) throw new TsrunError(`unable to parse ${JSON.stringify(posix.join(dir, file))}: ${JSON.stringify(text)} is not an unsigned integer`);
  return BigInt(text);
}

function setMemoryLimitV1(fs: CgroupFs, dir: string, v: bigint): void {
  if (v === 0n) return;
  try {
    fs.write(dir, 'memory.limit_in_bytes', v.toString());
  } catch (err) {
    if (!(err instanceof CgroupWriteError) || err.errno !== 'EBUSY') throw err;
    // EBUSY: the new limit is below what the cgroup already uses.
    const usage = readUint(fs, dir, 'memory.usage_in_bytes');
    const peak = readUint(fs, dir, 'memory.max_usage_in_bytes');
    throw new TsrunError(`unable to set memory limit to ${v} (current usage: ${usage}, peak usage: ${peak})`);
  }
}

function setSwapV1(fs: CgroupFs, dir: string, v: bigint): void {
  if (v !== 0n) fs.write(dir, 'memory.memsw.limit_in_bytes', v.toString());
}

function setMemoryV1(dir: string, r: LinuxResources, { fs, warnings }: Ctx): void {
  const m = r.memory ?? {};
  const memory = big(m.limit, 'memory.limit') ?? 0n;
  let swap = big(m.swap, 'memory.swap') ?? 0n;
  // Memory unlimited and swap unset: swap unlimited too (when the kernel has swap accounting).
  if (memory === -1n && swap === 0n && fs.exists(posix.join(dir, 'memory.memsw.limit_in_bytes'))) swap = -1n;

  let done = false;
  if (memory !== 0n && swap !== 0n) {
    // memsw must stay >= memory at every step: raise swap first when it grows.
    const cur = readUint(fs, dir, 'memory.limit_in_bytes');
    if (swap === -1n || cur < swap) {
      setSwapV1(fs, dir, swap);
      setMemoryLimitV1(fs, dir, memory);
      done = true;
    }
  }
  if (!done) {
    setMemoryLimitV1(fs, dir, memory);
    setSwapV1(fs, dir, swap);
  }

  if (m.kernel !== undefined || m.kernelTCP !== undefined) warnings.push('kernel memory settings are ignored and will be removed');
  const reservation = big(m.reservation, 'memory.reservation') ?? 0n;
  if (reservation !== 0n) fs.write(dir, 'memory.soft_limit_in_bytes', reservation.toString());
  if (m.disableOOMKiller === true) fs.write(dir, 'memory.oom_control', '1');
  const swappiness = big(m.swappiness, 'memory.swappiness');
  if (swappiness !== undefined && swappiness !== -1n) {
    if (swappiness < 0n || swappiness > 100n) {
      throw new TsrunError(`invalid memory swappiness value: ${swappiness} (valid range is 0-100)`);
    }
    fs.write(dir, 'memory.swappiness', swappiness.toString());
  }
}

// ---- cpu ----

function isCpuSetV1(r: LinuxResources): boolean {
  const c = r.cpu;
  if (!c) return false;
  return isNonZero(big(c.shares, 'cpu.shares')) || isNonZero(big(c.quota, 'cpu.quota')) || isNonZero(big(c.period, 'cpu.period'))
    || c.burst !== undefined && c.burst !== null || c.idle !== undefined && c.idle !== null || isRtSet(r);
}

function isRtSet(r: LinuxResources): boolean {
  return isNonZero(big(r.cpu?.realtimeRuntime, 'cpu.realtimeRuntime')) || isNonZero(big(r.cpu?.realtimePeriod, 'cpu.realtimePeriod'));
}

/** cpu.rt_period_us / cpu.rt_runtime_us, in an order the kernel accepts. */
function setRtSchedV1(fs: CgroupFs, dir: string, r: LinuxResources): void {
  const runtime = big(r.cpu?.realtimeRuntime, 'cpu.realtimeRuntime') ?? 0n;
  const period = big(r.cpu?.realtimePeriod, 'cpu.realtimePeriod') ?? 0n;
  let periodLater = false;
  if (period !== 0n) {
    try {
      fs.write(dir, 'cpu.rt_period_us', period.toString());
    } catch (err) {
      // The new period may be rejected until the runtime is lowered: retry after it.
      if (!(err instanceof CgroupWriteError) || err.errno !== 'EINVAL' || runtime === 0n) throw err;
      periodLater = true;
    }
  }
  if (runtime !== 0n) {
    fs.write(dir, 'cpu.rt_runtime_us', runtime.toString());
    if (periodLater) fs.write(dir, 'cpu.rt_period_us', period.toString());
  }
}

function setCpuV1(dir: string, r: LinuxResources, { fs, warnings }: Ctx): void {
  const c = r.cpu ?? {};
  const shares = big(c.shares, 'cpu.shares') ?? 0n;
  if (shares !== 0n) {
    fs.write(dir, 'cpu.shares', shares.toString());
    const got = readUint(fs, dir, 'cpu.shares');
    if (shares > got) throw new TsrunError(`the maximum allowed cpu-shares is ${got}`);
    if (shares < got) throw new TsrunError(`the minimum allowed cpu-shares is ${got}`);
  }

  const quota = big(c.quota, 'cpu.quota') ?? 0n;
  const period = big(c.period, 'cpu.period') ?? 0n;
  const burst = big(c.burst, 'cpu.burst');
  // The kernel checks quota/period/burst against each other and the parent: when the quota is
  // also being set, a rejected period or burst (EINVAL) is retried after it.
  let periodLater = false;
  if (period !== 0n) {
    try {
      fs.write(dir, 'cpu.cfs_period_us', period.toString());
    } catch (err) {
      if (!(err instanceof CgroupWriteError) || err.errno !== 'EINVAL' || quota === 0n) throw err;
      periodLater = true;
    }
  }
  let burstLater = false;
  if (burst !== undefined) {
    try {
      fs.write(dir, 'cpu.cfs_burst_us', burst.toString());
    } catch (err) {
      if (err instanceof CgroupWriteError && err.errno === 'ENOENT') {
        warnings.push('cpu burst is not supported by this kernel (no cpu.cfs_burst_us): ignored');
      } else if (!(err instanceof CgroupWriteError) || err.errno !== 'EINVAL' || quota === 0n) {
        throw err;
      } else {
        burstLater = true;
      }
    }
  }
  if (quota !== 0n) {
    fs.write(dir, 'cpu.cfs_quota_us', quota.toString());
    if (periodLater) fs.write(dir, 'cpu.cfs_period_us', period.toString());
    if (burstLater && burst !== undefined) fs.write(dir, 'cpu.cfs_burst_us', burst.toString());
  }

  const idle = big(c.idle, 'cpu.idle');
  if (idle !== undefined) fs.write(dir, 'cpu.idle', idle.toString());

  setRtSchedV1(fs, dir, r);
}

// ---- pids ----

function pidsLimit(r: LinuxResources): bigint {
  return big(r.pids?.limit, 'pids.limit') ?? 0n;
}

/** 0 = leave alone (runc 1.1), negative = "max". */
function setPidsV1(dir: string, r: LinuxResources, { fs }: Ctx): void {
  const limit = pidsLimit(r);
  if (limit === 0n) return;
  fs.write(dir, 'pids.max', limit > 0n ? limit.toString() : 'max');
}

// ---- blkio ----

function isBlkioSet(r: LinuxResources): boolean {
  const b = r.blockIO;
  if (!b) return false;
  return isNonZero(big(b.weight, 'blockIO.weight')) || isNonZero(big(b.leafWeight, 'blockIO.leafWeight'))
    || !!b.weightDevice?.length || !!b.throttleReadBpsDevice?.length || !!b.throttleWriteBpsDevice?.length
    || !!b.throttleReadIOPSDevice?.length || !!b.throttleWriteIOPSDevice?.length;
}

const BLKIO_THROTTLES = [
  ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
  ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
  ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
  ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
] as const;

export function throttleParts(td: LinuxThrottleDevice, what: string): { dev: string; rate: bigint } {
  const major = big(td.major, `${what}.major`);
  const minor = big(td.minor, `${what}.minor`);
  return { dev: `${major}:${minor}`, rate: big(td.rate, `${what}.rate`) ?? 0n };
}

function setBlkioV1(dir: string, r: LinuxResources, { fs }: Ctx): void {
  const b = r.blockIO ?? {};
  // CFQ's blkio.weight when the kernel has it, else BFQ's blkio.bfq.weight.
  const cfq = fs.exists(posix.join(dir, 'blkio.weight'));
  const weightFile = cfq ? 'blkio.weight' : 'blkio.bfq.weight';
  const weightDeviceFile = cfq ? 'blkio.weight_device' : 'blkio.bfq.weight_device';
  const weight = big(b.weight, 'blockIO.weight') ?? 0n;
  if (weight !== 0n) fs.write(dir, weightFile, weight.toString());
  const leaf = big(b.leafWeight, 'blockIO.leafWeight') ?? 0n;
  if (leaf !== 0n) fs.write(dir, 'blkio.leaf_weight', leaf.toString());
  for (const [i, wd] of (b.weightDevice ?? []).entries()) {
    const dev = `${big(wd.major, `blockIO.weightDevice[${i}].major`)}:${big(wd.minor, `blockIO.weightDevice[${i}].minor`)}`;
    const w = big(wd.weight, `blockIO.weightDevice[${i}].weight`) ?? 0n;
    const lw = big(wd.leafWeight, `blockIO.weightDevice[${i}].leafWeight`) ?? 0n;
    if (w !== 0n) fs.write(dir, weightDeviceFile, `${dev} ${w}`);
    if (lw !== 0n) fs.write(dir, 'blkio.leaf_weight_device', `${dev} ${lw}`);
  }
  for (const [key, file] of BLKIO_THROTTLES) {
    for (const [i, td] of (b[key] ?? []).entries()) {
      const { dev, rate } = throttleParts(td, `blockIO.${key}[${i}]`);
      fs.write(dir, file, `${dev} ${rate}`);
    }
  }
}

// ---- hugetlb ----

/** A hugepage size as the kernel names it in hugetlb.<size>.* files: "2MB", "1GB", "64KB". */
export function checkPageSize(size: unknown, index: number): void {
  if (typeof size !== 'string' || !/^\d+[KMG]B$/.test(size)) {
    throw new TsrunError(`invalid hugepage size ${JSON.stringify(size)} at hugepageLimits[${index}] (expected e.g. "2MB" or "1GB")`);
  }
}

function setHugetlbV1(dir: string, r: LinuxResources, { fs }: Ctx): void {
  let rsvd = true;
  for (const [i, h] of (r.hugepageLimits ?? []).entries()) {
    checkPageSize(h.pageSize, i);
    const val = (big(h.limit, `hugepageLimits[${i}].limit`) ?? 0n).toString();
    const prefix = `hugetlb.${h.pageSize}`;
    fs.write(dir, `${prefix}.limit_in_bytes`, val);
    if (!rsvd) continue;
    try {
      fs.write(dir, `${prefix}.rsvd.limit_in_bytes`, val);
    } catch (err) {
      // Kernels before 5.7 have no reservation accounting.
      if (err instanceof CgroupWriteError && err.errno === 'ENOENT') rsvd = false;
      else throw err;
    }
  }
}

// ---- net_cls / net_prio / rdma ----

function setNetClsV1(dir: string, r: LinuxResources, { fs }: Ctx): void {
  const id = big(r.network?.classID, 'network.classID') ?? 0n;
  if (id !== 0n) fs.write(dir, 'net_cls.classid', id.toString());
}

function setNetPrioV1(dir: string, r: LinuxResources, { fs }: Ctx): void {
  for (const [i, p] of (r.network?.priorities ?? []).entries()) {
    fs.write(dir, 'net_prio.ifpriomap', `${p.name} ${big(p.priority, `network.priorities[${i}].priority`)}`);
  }
}

export function rdmaLines(r: LinuxResources): string[] {
  const out: string[] = [];
  for (const [device, limit] of Object.entries(r.rdma ?? {})) {
    let line = device;
    const h = big(limit.hcaHandles, `rdma.${device}.hcaHandles`);
    const o = big(limit.hcaObjects, `rdma.${device}.hcaObjects`);
    if (h !== undefined) line += ` hca_handle=${h}`;
    if (o !== undefined) line += ` hca_object=${o}`;
    out.push(line);
  }
  return out;
}

function setRdma(dir: string, r: LinuxResources, { fs }: Ctx): void {
  for (const line of rdmaLines(r)) fs.write(dir, 'rdma.max', line);
}

/** In runc's order of subsystems. */
const V1_FAMILIES: V1Family[] = [
  { controller: 'cpuset', isSet: isCpusetSet, set: setCpusetV1 },
  { controller: 'devices', isSet: (r) => r.devices !== undefined, set: setDevicesV1 },
  { controller: 'memory', isSet: isMemorySetV1, set: setMemoryV1 },
  { controller: 'cpu', isSet: isCpuSetV1, set: setCpuV1 },
  { controller: 'pids', isSet: (r) => pidsLimit(r) !== 0n, set: setPidsV1 },
  { controller: 'blkio', isSet: isBlkioSet, set: setBlkioV1 },
  { controller: 'hugetlb', isSet: (r) => !!r.hugepageLimits?.length, set: setHugetlbV1 },
  { controller: 'net_cls', isSet: (r) => isNonZero(big(r.network?.classID, 'network.classID')), set: setNetClsV1 },
  { controller: 'net_prio', isSet: (r) => !!r.network?.priorities?.length, set: setNetPrioV1 },
  { controller: 'rdma', isSet: (r) => Object.keys(r.rdma ?? {}).length > 0, set: setRdma },
];

/** Hierarchies joined best-effort (runc's NameGroup with Join): failures there are ignored. */
const JOIN_ONLY = (sub: string) => sub === '' || sub === 'misc' || sub.startsWith('name=');

export class V1Manager extends BaseManager {
  readonly version = 1 as const;

  /** mountOf: controller key -> its hierarchy's mountpoint; protect: every cgroup mountpoint (never removed). */
  constructor(fs: CgroupFs, paths: Record<string, string>, private readonly mountOf: Record<string, string>, protect: string[], opts: ManagerOptions, created?: string[]) {
    super(fs, paths, new Set([...Object.values(mountOf), ...protect]), opts, created);
  }

  create(): void {
    const r = this.opts.initial ?? {};
    // cpuset first: every level needs cpus/mems before a task can join below it.
    const order = Object.keys(this.paths).sort((a, b) => (a === 'cpuset' ? -1 : b === 'cpuset' ? 1 : 0));
    const done = new Set<string>();
    for (const sub of order) {
      const dir = this.paths[sub];
      const mount = this.mountOf[sub];
      if (done.has(dir)) continue;
      try {
        if (!mount) throw new TsrunError(`no mountpoint known for cgroup ${JSON.stringify(dir)}`);
        if (sub === 'cpuset') {
          this.mkdirLevels(dir, mount, (level, parent) => {
            if (level === dir) setCpusetV1(dir, r, this.ctx([]));
            cpusetCopyIfNeeded(this.fs, level, parent);
          });
        } else {
          this.mkdirLevels(dir, mount);
          // Realtime bandwidth must be there before a SCHED_RR/FIFO task joins.
          if (sub === 'cpu' && isRtSet(r)) setRtSchedV1(this.fs, dir, r);
        }
        done.add(dir);
      } catch (err) {
        if (JOIN_ONLY(sub)) {
          delete this.paths[sub]; // best effort, as runc: not joined then
          continue;
        }
        if (this.opts.rootless && !this.opts.explicitPath && isPermissionError(err)) {
          delete this.paths[sub];
          continue;
        }
        throw err;
      }
    }
  }

  private ctx(warnings: string[]): Ctx {
    return { fs: this.fs, warnings, rootless: this.opts.rootless };
  }

  apply(resources: LinuxResources | undefined): string[] {
    const warnings: string[] = [];
    const r = resources ?? {};
    if (r.unified && Object.keys(r.unified).length > 0) {
      throw new TsrunError('invalid configuration: cannot use unified on cgroup v1');
    }
    const ctx = this.ctx(warnings);
    for (const fam of V1_FAMILIES) {
      if (!fam.isSet(r)) continue;
      const dir = this.paths[fam.controller];
      try {
        if (!dir) throw new TsrunError(`cannot set ${fam.controller} limit: container could not join or create cgroup`);
        fam.set(dir, r, ctx);
      } catch (err) {
        // Device rules are not expected to work rootless (runc ignores their errors there).
        if (this.opts.rootless && fam.controller === 'devices') continue;
        throw err;
      }
    }
    return warnings;
  }

  exists(): boolean {
    const dir = this.primaryDir();
    return dir !== undefined && this.fs.exists(dir);
  }

  protected primaryDir(): string | undefined {
    for (const sub of ['devices', 'freezer', 'pids', 'memory', 'cpu', 'cpuacct', 'cpuset', 'blkio', 'name=systemd', '']) {
      if (this.paths[sub]) return this.paths[sub];
    }
    return Object.values(this.paths)[0];
  }

  async freeze(): Promise<void> {
    const dir = this.paths.freezer;
    if (!dir || !this.fs.exists(dir)) throw new TsrunError('cannot toggle freezer: cgroups not configured for container');
    if (!await this.freezeAndWait()) throw new TsrunError(`cannot pause the container: ${dir} did not reach FROZEN`);
  }

  thaw(): void {
    const dir = this.paths.freezer;
    if (!dir) return;
    try {
      this.fs.write(dir, 'freezer.state', 'THAWED');
    } catch {
      // the cgroup may be gone
    }
  }

  /** FROZEN by its own freezer.state, not only through an ancestor (self_freezing), as runc reads it. */
  isFrozen(): boolean {
    const dir = this.paths.freezer;
    if (!dir) return false;
    const state = this.fs.readIfExists(dir, 'freezer.state')?.trim();
    if (state === 'FREEZING') return true;
    if (state !== 'FROZEN') return false;
    const self = this.fs.readIfExists(dir, 'freezer.self_freezing');
    return self === undefined || self.trim() === '1';
  }

  /**
   * runc's v1 freeze: write FROZEN until the state reads FROZEN (FREEZING means "again"), with a
   * thaw and a pause now and then so that processes that keep forking cannot starve it.
   */
  protected async freezeAndWait(): Promise<boolean> {
    const dir = this.paths.freezer;
    if (!dir || !this.fs.exists(dir)) return false;
    try {
      for (let i = 0; i < 200; i++) {
        if (i % 50 === 49) {
          this.fs.write(dir, 'freezer.state', 'THAWED');
          await sleep(10);
        }
        this.fs.write(dir, 'freezer.state', 'FROZEN');
        const state = this.fs.read(dir, 'freezer.state').trim();
        if (state === 'FROZEN') return true;
        if (state !== 'FREEZING') break;
      }
    } catch {
      // fall through: thaw and say not frozen
    }
    this.thaw();
    return false;
  }

}
