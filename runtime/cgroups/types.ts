// Types shared by the cgroup drivers. The OCI resource types are loose local copies of
// linux.resources from the runtime spec (only the fields the drivers read); integers may
// arrive as bigint when a spec loader keeps int64 precision.

import type { SystemdBus } from './systemd.js';

export type Int = number | bigint;

export interface LinuxDeviceCgroup {
  allow: boolean;
  type?: string;
  major?: Int | null;
  minor?: Int | null;
  access?: string;
}

export interface LinuxMemory {
  limit?: Int;
  reservation?: Int;
  swap?: Int;
  kernel?: Int;
  kernelTCP?: Int;
  swappiness?: Int;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  checkBeforeUpdate?: boolean;
}

export interface LinuxCPU {
  shares?: Int;
  quota?: Int;
  burst?: Int;
  period?: Int;
  realtimeRuntime?: Int;
  realtimePeriod?: Int;
  cpus?: string;
  mems?: string;
  idle?: Int;
}

export interface LinuxPids {
  limit: Int;
}

export interface LinuxWeightDevice {
  major: Int;
  minor: Int;
  weight?: Int;
  leafWeight?: Int;
}

export interface LinuxThrottleDevice {
  major: Int;
  minor: Int;
  rate: Int;
}

export interface LinuxBlockIO {
  weight?: Int;
  leafWeight?: Int;
  weightDevice?: LinuxWeightDevice[];
  throttleReadBpsDevice?: LinuxThrottleDevice[];
  throttleWriteBpsDevice?: LinuxThrottleDevice[];
  throttleReadIOPSDevice?: LinuxThrottleDevice[];
  throttleWriteIOPSDevice?: LinuxThrottleDevice[];
}

export interface LinuxHugepageLimit {
  pageSize: string;
  limit: Int;
}

export interface LinuxNetwork {
  classID?: Int;
  priorities?: Array<{ name: string; priority: Int }>;
}

export interface LinuxRdma {
  hcaHandles?: Int;
  hcaObjects?: Int;
}

/** OCI linux.resources (loose). */
export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCPU;
  pids?: LinuxPids;
  blockIO?: LinuxBlockIO;
  hugepageLimits?: LinuxHugepageLimit[];
  network?: LinuxNetwork;
  rdma?: Record<string, LinuxRdma>;
  unified?: Record<string, string>;
  [other: string]: unknown;
}

export interface CgroupConfig {
  /** linux.cgroupsPath: absolute = under each hierarchy's root; relative = under tsrun's own cgroup. */
  cgroupsPath?: string;
  /** Container id: the cgroup name when cgroupsPath is unset. */
  id: string;
  /** The resources the container starts with (create() uses cpuset/realtime values, as runc's Apply does). */
  resources?: LinuxResources;
  /** --systemd-cgroup: a transient systemd scope, cgroupsPath "slice:prefix:name". */
  systemd: boolean;
  /** The spec's annotations: org.systemd.property.* ones become unit properties (systemd driver). */
  annotations?: Record<string, string>;
  /** Rootless: permission errors creating the cgroup are tolerated when no cgroupsPath was given. */
  rootless?: boolean;
  /** Rootless --systemd-cgroup: the user's systemd's own cgroup (systemd-user.ts userManagerCgroup). */
  userManager?: string;
}

export interface CgroupManager {
  readonly version: 1 | 2;
  /** controller -> absolute dir. v1: "cpu", "memory", ..., "name=systemd", and "" for the unified dir on a hybrid host; v2: {"": dir}. */
  readonly paths: Record<string, string>;
  /** mkdir -p every dir (remembering which ones it created); v1 cpuset gets cpus/mems; v2 enables controllers in the ancestors. */
  create(): void;
  /**
   * Writes the limits. Device rules are written when resources.devices is present (the full
   * list, runc's defaults included): v1 starts a new cgroup from "deny all" and changes a
   * running one by the difference only; v2 replaces the cgroup's BPF device filter. Returns
   * warnings (settings that were not applied) for the caller to log.
   */
  apply(resources: LinuxResources | undefined): string[];
  /** The cgroup.procs files the executor writes the init pid into (one per distinct dir; call after create()). */
  procsFiles(): string[];
  /** All pids in the container cgroup, recursively over sub-cgroups. */
  pids(): number[];
  /** Signals every process in the cgroup (frozen meanwhile, as runc does). */
  killAll(signal: NodeJS.Signals | number): void;
  /** Freezes every process of the container and waits until the kernel says frozen (pause). */
  freeze(): void;
  /** Thaws the container (resume); harmless when it is not frozen. */
  thaw(): void;
  /** SIGKILLs stragglers, waits until they are gone, removes the dirs. Idempotent. */
  destroy(): Promise<void>;
  /**
   * Only drivers that need the init's pid before it runs (systemd: a scope is started with the
   * pid in it): called with the init created but not yet released. Returns warnings.
   */
  attach?(pid: number): Promise<string[]>;
  /** Only the systemd driver: tells systemd new limits before apply() writes them (update). */
  applyUnitProperties?(resources: LinuxResources): Promise<string[]>;
  exists(): boolean;
  /**
   * runc's look at the cgroup before a container is made in it: frozen (the init would freeze as
   * it joins) throws runc's error; one that already holds processes gives runc's warnings.
   */
  checkBeforeCreate(): string[];
}

/** A cgroup file system mount from /proc/self/mountinfo. */
export interface CgroupMount {
  /** Where it is mounted, e.g. /sys/fs/cgroup/memory. */
  mountpoint: string;
  /** The cgroup that is the root of this mount (mountinfo field 4), usually "/". */
  root: string;
  fstype: 'cgroup' | 'cgroup2';
  /** v1: the controllers (and "name=..." hierarchies) of the mount; v2: empty. */
  controllers: string[];
}

export interface CgroupLayout {
  mode: 'v1' | 'hybrid' | 'v2';
  /** The hierarchies' parent dir (runc's cgroup root), normally /sys/fs/cgroup. */
  root: string;
  /** v1 and hybrid: controller -> its first mount. */
  v1: Record<string, CgroupMount>;
  /** v2: the mount at root; hybrid: the cgroup2 mount at root/unified. */
  unified?: CgroupMount;
}

/**
 * The host seen by a driver. Everything defaults to the real machine; unit tests point it
 * at a fake tree and observe what the driver does.
 */
export interface CgroupHost {
  layout?: CgroupLayout;
  /** Whether systemd is the init (as sd_booted: /run/systemd/system is a directory). */
  systemdRunning?: boolean;
  /** Text of /proc/1/cgroup (where systemd's own cgroups are, v1). */
  pid1Cgroup?: string;
  /** Replaces the D-Bus connection to systemd (tests talk to a fake systemd). */
  systemdBus?: () => Promise<SystemdBus>;
  /** Text of /proc/self/cgroup. */
  procSelfCgroup?: string;
  /** Our own pid: never frozen or killed. */
  selfPid?: number;
  /** Called after each successful write (tests record the exact sequence). */
  onWrite?: (file: string, value: string) => void;
  /** Called after the driver creates a cgroup dir (tests populate it as the kernel would). */
  onMkdir?: (dir: string) => void;
  /** Replaces rmdir (a fake cgroup dir holds regular files that must go first). */
  rmdir?: (dir: string) => void;
  /** Replaces process.kill. */
  kill?: (pid: number, signal: NodeJS.Signals | number) => void;
  /** Open written files with O_TRUNC (fake trees, so a read-back shows the last value; files are never created). */
  fakeFiles?: boolean;
}
