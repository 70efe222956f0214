// Test support (not used by the runtime): a fake cgroup file system in a temp dir that behaves
// enough like the kernel for the drivers' unit tests. Mount table, /proc/self/cgroup text,
// per-controller files created on mkdir, rmdir that refuses busy dirs, and a kill() that makes
// SIGKILLed pids leave every cgroup.procs.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { posix } from 'node:path';
import { layoutFromMountinfo } from '../../runtime/cgroups/layout.js';
import type { CgroupHost, CgroupLayout } from '../../runtime/cgroups/types.js';

export interface FakeTreeOptions {
  mode: 'v1' | 'hybrid' | 'v2';
  /** v1 hierarchies, each a list of co-mounted controllers (default: one per controller). */
  v1Hierarchies?: string[][];
  /** /proc/self/cgroup paths per v1 controller key (default "/"); v2/hybrid: key "". */
  own?: Record<string, string>;
  /** v2 controllers available at the root (default cpuset cpu io memory hugetlb pids rdma). */
  v2Controllers?: string[];
  /** blkio/io use BFQ file names (blkio.bfq.weight, io.bfq.weight). */
  bfq?: boolean;
  /** Files the fake kernel leaves out (base names, e.g. "memory.memsw.limit_in_bytes"). */
  omit?: string[];
}

const DEFAULT_V1 = ['cpuset', 'cpu', 'cpuacct', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'hugetlb', 'net_cls', 'net_prio', 'name=systemd'];
const UNLIMITED = '9223372036854771712';

export class FakeCgroupTree {
  readonly base: string;
  readonly root: string;
  readonly layout: CgroupLayout;
  readonly mountinfo: string;
  readonly procSelfCgroup: string;
  readonly writes: Array<[string, string]> = [];
  readonly kills: Array<[number, NodeJS.Signals | number]> = [];
  private readonly mountControllers = new Map<string, string[]>();

  constructor(readonly opts: FakeTreeOptions) {
    this.base = mkdtempSync(posix.join(tmpdir(), 'tsrun-test-cgfake-'));
    this.root = posix.join(this.base, 'sys/fs/cgroup');
    mkdirSync(this.root, { recursive: true });
    const lines: string[] = [`20 1 0:20 / ${this.root} rw,relatime - tmpfs tmpfs rw,mode=755`];
    const own: string[] = [];
    let id = 30;
    if (opts.mode === 'v2') {
      lines.push(`${id} 20 0:${id} / ${this.root} rw - cgroup2 cgroup2 rw,nsdelegate`);
      this.mountControllers.set(this.root, ['*v2']);
      this.populateV2(this.root, opts.v2Controllers ?? ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma'], true);
      own.push(`0::${opts.own?.[''] ?? '/'}`);
    } else {
      const hier = opts.v1Hierarchies ?? DEFAULT_V1.map((c) => [c]);
      let n = hier.length;
      for (const ctrls of hier) {
        const name = ctrls.map((c) => c.replace(/^name=/, '')).join(',');
        const mp = posix.join(this.root, name);
        mkdirSync(mp);
        lines.push(`${id} 20 0:${id} / ${mp} rw,relatime - cgroup cgroup rw,${ctrls.join(',')}`);
        this.mountControllers.set(mp, ctrls);
        this.populateV1(mp, true);
        own.push(`${n--}:${ctrls.join(',')}:${ctrls.map((c) => opts.own?.[c]).find((p) => p !== undefined) ?? '/'}`);
        id++;
      }
      if (opts.mode === 'hybrid') {
        const mp = posix.join(this.root, 'unified');
        mkdirSync(mp);
        lines.push(`${id} 20 0:${id} / ${mp} rw,relatime - cgroup2 cgroup2 rw`);
        this.mountControllers.set(mp, ['*v2']);
        this.populateV2(mp, ['hugetlb'], true);
      }
      own.push(`0::${opts.own?.[''] ?? '/'}`);
    }
    this.mountinfo = lines.join('\n') + '\n';
    this.procSelfCgroup = own.join('\n') + '\n';
    this.layout = layoutFromMountinfo(this.mountinfo, this.root);
  }

  private put(dir: string, file: string, content: string): void {
    if (this.opts.omit?.includes(file)) return;
    writeFileSync(posix.join(dir, file), content);
  }

  private mountOf(dir: string): string {
    let best = '';
    for (const mp of this.mountControllers.keys()) if ((dir === mp || dir.startsWith(mp + '/')) && mp.length > best.length) best = mp;
    return best;
  }

  /** The files the kernel shows in a v1 cgroup dir of the hierarchy. */
  private populateV1(dir: string, isRoot: boolean): void {
    for (const f of ['cgroup.procs', 'tasks', 'notify_on_release', 'cgroup.clone_children']) this.put(dir, f, f === 'notify_on_release' || f === 'cgroup.clone_children' ? '0\n' : '');
    for (const c of this.mountControllers.get(this.mountOf(dir)) ?? []) {
      switch (c) {
        case 'cpuset':
          this.put(dir, 'cpuset.cpus', isRoot ? '0-3\n' : '\n');
          this.put(dir, 'cpuset.mems', isRoot ? '0\n' : '\n');
          break;
        case 'memory':
          for (const f of ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes', 'memory.soft_limit_in_bytes']) this.put(dir, f, UNLIMITED + '\n');
          this.put(dir, 'memory.swappiness', '60\n');
          this.put(dir, 'memory.oom_control', 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n');
          this.put(dir, 'memory.usage_in_bytes', '0\n');
          this.put(dir, 'memory.max_usage_in_bytes', '0\n');
          break;
        case 'cpu':
          this.put(dir, 'cpu.shares', '1024\n');
          this.put(dir, 'cpu.cfs_period_us', '100000\n');
          this.put(dir, 'cpu.cfs_quota_us', '-1\n');
          this.put(dir, 'cpu.cfs_burst_us', '0\n');
          this.put(dir, 'cpu.idle', '0\n');
          this.put(dir, 'cpu.rt_period_us', '1000000\n');
          this.put(dir, 'cpu.rt_runtime_us', isRoot ? '950000\n' : '0\n');
          break;
        case 'devices':
          this.put(dir, 'devices.allow', '');
          this.put(dir, 'devices.deny', '');
          this.put(dir, 'devices.list', 'a *:* rwm\n');
          break;
        case 'pids':
          if (!isRoot) this.put(dir, 'pids.max', 'max\n');
          break;
        case 'blkio':
          if (!isRoot) {
            this.put(dir, this.opts.bfq ? 'blkio.bfq.weight' : 'blkio.weight', '100\n');
            this.put(dir, this.opts.bfq ? 'blkio.bfq.weight_device' : 'blkio.weight_device', '');
          }
          for (const f of ['read_bps_device', 'write_bps_device', 'read_iops_device', 'write_iops_device']) this.put(dir, `blkio.throttle.${f}`, '');
          break;
        case 'freezer':
          if (!isRoot) this.put(dir, 'freezer.state', 'THAWED\n');
          break;
        case 'hugetlb':
          for (const s of ['2MB', '1GB']) {
            this.put(dir, `hugetlb.${s}.limit_in_bytes`, UNLIMITED + '\n');
            this.put(dir, `hugetlb.${s}.rsvd.limit_in_bytes`, UNLIMITED + '\n');
          }
          break;
        case 'net_cls':
          this.put(dir, 'net_cls.classid', '0\n');
          break;
        case 'net_prio':
          this.put(dir, 'net_prio.ifpriomap', '');
          break;
      }
    }
  }

  /** v2 core files, plus the files of the controllers the parent enabled for its children. */
  private populateV2(dir: string, controllers: string[], isRoot: boolean): void {
    this.put(dir, 'cgroup.procs', '');
    this.put(dir, 'cgroup.controllers', controllers.join(' ') + '\n');
    this.put(dir, 'cgroup.subtree_control', isRoot && this.opts.mode === 'v2' ? controllers.join(' ') + '\n' : '\n');
    this.put(dir, 'cgroup.type', 'domain\n');
    if (isRoot) return;
    this.put(dir, 'cgroup.events', 'populated 0\nfrozen 0\n');
    this.put(dir, 'cgroup.freeze', '0\n');
    this.put(dir, 'cgroup.kill', '');
    for (const c of controllers) {
      switch (c) {
        case 'memory':
          for (const f of ['memory.max', 'memory.swap.max', 'memory.high']) this.put(dir, f, 'max\n');
          this.put(dir, 'memory.low', '0\n');
          break;
        case 'cpu':
          this.put(dir, 'cpu.weight', '100\n');
          this.put(dir, 'cpu.max', 'max 100000\n');
          this.put(dir, 'cpu.max.burst', '0\n');
          this.put(dir, 'cpu.idle', '0\n');
          break;
        case 'pids':
          this.put(dir, 'pids.max', 'max\n');
          break;
        case 'io':
          if (this.opts.bfq) this.put(dir, 'io.bfq.weight', 'default 100\n');
          this.put(dir, 'io.weight', 'default 100\n');
          this.put(dir, 'io.max', '');
          break;
        case 'cpuset':
          this.put(dir, 'cpuset.cpus', '\n');
          this.put(dir, 'cpuset.mems', '\n');
          break;
        case 'hugetlb':
          for (const s of ['2MB', '1GB']) {
            this.put(dir, `hugetlb.${s}.max`, 'max\n');
            this.put(dir, `hugetlb.${s}.rsvd.max`, 'max\n');
          }
          break;
        case 'rdma':
          this.put(dir, 'rdma.max', '');
          break;
      }
    }
  }

  /** The controllers a parent's cgroup.subtree_control enables ("+a +b" or "a b"). */
  private enabledIn(dir: string): string[] {
    let text = '';
    try {
      text = readFileSync(posix.join(dir, 'cgroup.subtree_control'), 'utf8');
    } catch {
      return [];
    }
    return text.split(/\s+/).filter(Boolean).map((t) => t.replace(/^\+/, ''));
  }

  /** The fake kernel's reaction to mkdir in a cgroup file system. */
  onMkdir(dir: string): void {
    const mp = this.mountOf(dir);
    if (this.mountControllers.get(mp)?.[0] === '*v2') this.populateV2(dir, this.enabledIn(posix.dirname(dir)), false);
    else this.populateV1(dir, false);
  }

  /** rmdir of a cgroup: EBUSY with tasks or children, else the files vanish with the dir. */
  rmdir(dir: string): void {
    statSync(dir); // ENOENT as the kernel would
    const procs = (() => {
      try {
        return readFileSync(posix.join(dir, 'cgroup.procs'), 'utf8').trim();
      } catch {
        return '';
      }
    })();
    const entries = readdirSync(dir, { withFileTypes: true });
    if (procs !== '' || entries.some((e) => e.isDirectory())) {
      throw Object.assign(new Error(`EBUSY: resource busy or locked, rmdir '${dir}'`), { code: 'EBUSY', syscall: 'rmdir', path: dir });
    }
    for (const e of entries) unlinkSync(posix.join(dir, e.name));
    rmdirSync(dir);
  }

  /** Records the signal; SIGKILL removes the pid from every cgroup.procs of the tree. */
  kill(pid: number, signal: NodeJS.Signals | number): void {
    this.kills.push([pid, signal]);
    if (signal !== 'SIGKILL' && signal !== 9) return;
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = posix.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name === 'cgroup.procs') {
          const rest = readFileSync(p, 'utf8').split('\n').filter((l) => l !== '' && Number(l) !== pid);
          writeFileSync(p, rest.map((l) => l + '\n').join(''));
        }
      }
    };
    walk(this.root);
  }

  /** The kernel's reaction to a write: records it, and stores what the kernel would show. */
  afterWrite(file: string, value: string): void {
    this.writes.push([file, value]);
    const name = posix.basename(file);
    if (value === '-1' && /^memory\.(memsw\.)?limit_in_bytes$/.test(name)) writeFileSync(file, UNLIMITED + '\n');
  }

  /** Puts pids into a cgroup dir as if they had joined. */
  addProcs(dir: string, pids: number[]): void {
    writeFileSync(posix.join(dir, 'cgroup.procs'), pids.map((p) => `${p}\n`).join(''));
  }

  read(path: string): string {
    return readFileSync(path, 'utf8');
  }

  /** A host for cgroupManager(cfg, host) on this tree. */
  host(extra: Partial<CgroupHost> = {}): CgroupHost {
    return {
      layout: this.layout,
      procSelfCgroup: this.procSelfCgroup,
      selfPid: 1,
      fakeFiles: true,
      onWrite: (f, v) => this.afterWrite(f, v),
      onMkdir: (d) => this.onMkdir(d),
      rmdir: (d) => this.rmdir(d),
      kill: (p, s) => this.kill(p, s),
      ...extra,
    };
  }

  /** Writes relative to the tree root (for compact assertions). */
  relWrites(): Array<[string, string]> {
    return this.writes.map(([f, v]) => [posix.relative(this.root, f), v]);
  }

  clearWrites(): void {
    this.writes.length = 0;
  }

  cleanup(): void {
    rmSync(this.base, { recursive: true, force: true });
  }
}
