// What the v1 and v2 drivers share: creating dirs level by level, killing, destroying.
import { posix } from 'node:path';
import { TsrunError } from '../errors.js';
import { CgroupFs, errnoFrom, removeCgroupDirs, removeCgroupTree, sleep } from './fsio.js';
import type { CgroupManager, LinuxResources } from './types.js';

/** What a manager stores in the container's state dir. */
export interface SavedCgroup {
  version: 1 | 2;
  paths: Record<string, string>;
  /** Dirs this manager created (leaves and ancestors); ancestors are removed on destroy when empty. */
  created: string[];
  rootless?: boolean;
}

export interface ManagerOptions {
  rootless: boolean;
  /** linux.cgroupsPath was given (rootless permission errors are only tolerated without one). */
  explicitPath: boolean;
  /** Resources known at creation time (cpuset / realtime settings are written by create()). */
  initial?: LinuxResources;
}

export function isPermissionError(err: unknown): boolean {
  const code = errnoFrom(err);
  return code === 'EPERM' || code === 'EACCES' || code === 'EROFS';
}

export abstract class BaseManager implements CgroupManager {
  abstract readonly version: 1 | 2;
  readonly paths: Record<string, string>;
  /** Every dir created by this manager, in creation order (serialize() hands out this very array). */
  protected readonly created: string[];

  constructor(
    protected readonly fs: CgroupFs,
    paths: Record<string, string>,
    /** Hierarchy mountpoints: never removed, never created. */
    protected readonly mountpoints: Set<string>,
    protected readonly opts: ManagerOptions,
    created: string[] = [],
  ) {
    this.paths = paths;
    this.created = [...created];
  }

  abstract create(): void;
  abstract apply(resources: LinuxResources | undefined): string[];
  abstract exists(): boolean;
  abstract freeze(): Promise<void>;
  abstract thaw(): void;
  abstract isFrozen(): boolean;
  /** Freezes the cgroup and waits until it is frozen: false when it could not be (and it is thawed again). */
  protected abstract freezeAndWait(): Promise<boolean>;
  /** Kills every process at once where the kernel can (v2 cgroup.kill): true when done. */
  protected killAtOnce(): boolean { return false; }

  checkBeforeCreate(): string[] {
    const warnings: string[] = [];
    // As runc, only the primary hierarchy is counted on v1 (sub-cgroups included). runc 1.1 warned
    // and ran the container; runc 1.2 and later refuse, and so does tsrun.
    const n = this.exists() ? this.pids().length : 0;
    if (n > 0) throw new TsrunError(`container's cgroup is not empty: ${n} process(es) found`);
    if (this.isFrozen()) throw new TsrunError('container\'s cgroup unexpectedly frozen');
    return warnings;
  }
  /** The dir whose tree pids() reads. */
  protected abstract primaryDir(): string | undefined;

  /** Unique existing-or-not leaf dirs. */
  protected leafDirs(): string[] {
    return [...new Set(Object.values(this.paths))];
  }

  procsFiles(): string[] {
    return this.leafDirs().map((d) => posix.join(d, 'cgroup.procs'));
  }

  pids(): number[] {
    const dir = this.primaryDir();
    return dir ? [...new Set(this.fs.allProcs(dir))] : [];
  }

  /** Pids in any of the leaf dirs (a half-set-up container may be missing from some). */
  protected everyPid(): number[] {
    const all = new Set<number>();
    for (const d of this.leafDirs()) for (const p of this.fs.allProcs(d)) all.add(p);
    return [...all];
  }

  /** Signals every pid, with the cgroup frozen meanwhile so that nothing forks (never one we are in). */
  async killAll(signal: NodeJS.Signals | number): Promise<void> {
    const self = this.fs.selfPid;
    const before = this.everyPid();
    if (before.length === 0) return;
    const containsSelf = before.includes(self);
    if (!containsSelf && (signal === 'SIGKILL' || signal === 9) && this.killAtOnce()) return;
    const frozen = !containsSelf && await this.freezeAndWait();
    try {
      const pids = frozen ? this.everyPid() : before;
      for (const pid of pids) if (pid !== self) this.fs.kill(pid, signal);
    } finally {
      if (frozen) this.thaw();
    }
  }

  /**
   * mkdir each missing level from the mountpoint down to dir, recording the ones made.
   * `each` runs for every level below the mountpoint (created or not), parent first.
   */
  protected mkdirLevels(dir: string, mountpoint: string, each?: (level: string, parent: string, created: boolean) => void): void {
    if (dir !== mountpoint && !dir.startsWith(mountpoint + '/')) {
      throw new TsrunError(`cgroup path ${JSON.stringify(dir)} is not below its hierarchy ${JSON.stringify(mountpoint)}`);
    }
    const rest = dir.slice(mountpoint.length).split('/').filter((s) => s !== '');
    let cur = mountpoint;
    for (const part of rest) {
      const parent = cur;
      cur = posix.join(cur, part);
      const made = this.fs.mkdir(cur);
      if (made) this.created.push(cur);
      each?.(cur, parent, made);
    }
  }

  /** Writes pid into every leaf's cgroup.procs (the systemd driver, once the scope exists). */
  join(pid: number): void {
    for (const dir of this.leafDirs()) this.fs.write(dir, 'cgroup.procs', String(pid));
  }

  /** SIGKILLs stragglers and waits until they have left the cgroup (about 5 s at most). */
  async evacuate(): Promise<void> {
    const self = this.fs.selfPid;
    let waited = 0;
    let delay = 5;
    for (let round = 0; ; round++) {
      const left = this.everyPid().filter((p) => p !== self);
      if (left.length === 0) break;
      if (waited >= 5000) {
        throw new TsrunError(`failed to destroy cgroup: processes ${left.join(', ')} are still in ${JSON.stringify(this.primaryDir() ?? '')}`);
      }
      if (round === 0) await this.killAll('SIGKILL');
      else for (const p of left) this.fs.kill(p, 'SIGKILL');
      await sleep(delay);
      waited += delay;
      delay = Math.min(delay * 2, 100);
    }
  }

  async destroy(): Promise<void> {
    const leaves = this.leafDirs();
    // Mostly nothing is left in them (the init's exit took the rest of its pid namespace, which
    // runc counts on): the dirs go at once, without reading every hierarchy's cgroup.procs first.
    // The first that will not (EBUSY: processes) has the stragglers killed, and the rest retried.
    const removedAtOnce = leaves.every((dir) => {
      if (this.mountpoints.has(dir)) return true;
      try { removeCgroupTree(this.fs, dir); return true; } catch { return false; }
    });
    if (!removedAtOnce) await this.evacuate();
    const leafSet = new Set(leaves);
    const ancestors = this.created.filter((d) => !leafSet.has(d));
    await removeCgroupDirs(this.fs, removedAtOnce ? [] : leaves, ancestors, this.mountpoints);
    const still = this.created.filter((d) => this.fs.exists(d));
    this.created.splice(0, this.created.length, ...still);
  }

  /**
   * The state to save. It shares the manager's paths and created-dirs list, so a state saved
   * before create() and written out again afterwards records the dirs create() made.
   */
  serialize(): SavedCgroup {
    const out: SavedCgroup = { version: this.version, paths: this.paths, created: this.created };
    if (this.opts.rootless) out.rootless = true;
    return out;
  }
}
