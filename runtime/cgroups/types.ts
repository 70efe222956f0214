// Types shared by the cgroup drivers.

import type { DBusConnection } from '../dbus/connection.js';
import type {
  LinuxResources as SpecResources, LinuxDeviceCgroup as SpecDeviceCgroup, LinuxMemory as SpecMemory, LinuxCPU as SpecCPU,
  LinuxPids as SpecPids, LinuxBlockIO as SpecBlockIO,
} from '../spec/types.js';

export type Int = number | bigint;

/**
 * linux.resources as the drivers take it: the spec's own type (spec/types.ts, the one
 * definition), with every integer also accepted as a bigint, as 64-bit values arrive from
 * protobuf (the shim's Update) and from `update`'s flags.
 */
type Widen<T> = T extends number ? Int
  : T extends ReadonlyArray<infer U> ? Array<Widen<U>>
  : T extends object ? { [K in keyof T]: Widen<T[K]> }
  : T;

/** A device rule's type is checked by the drivers themselves (update and the shim pass any string). */
export type LinuxDeviceCgroup = Omit<Widen<SpecDeviceCgroup>, 'type'> & { type?: string };
export type LinuxResources = Omit<Widen<SpecResources>, 'devices'> & { devices?: LinuxDeviceCgroup[] };
export type LinuxMemory = Widen<SpecMemory>;
export type LinuxCPU = Widen<SpecCPU>;
export type LinuxPids = Widen<SpecPids>;
export type LinuxBlockIO = Widen<SpecBlockIO>;
export type LinuxThrottleDevice = NonNullable<LinuxBlockIO['throttleReadBpsDevice']>[number];
export type LinuxWeightDevice = NonNullable<LinuxBlockIO['weightDevice']>[number];

/** A connection to systemd: its private socket (direct) or the system bus. */
export interface SystemdBus {
  conn: DBusConnection;
  direct: boolean;
  /** Done with it for one operation: a connection of its own is closed, a Runtime's shared one kept. */
  release(): void;
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
  killAll(signal: NodeJS.Signals | number): Promise<void>;
  /** Freezes every process of the container and waits until the kernel says frozen (pause). */
  freeze(): Promise<void>;
  /** Thaws the container (resume); harmless when it is not frozen. */
  thaw(): void;
  /**
   * Whether the container's cgroup is frozen itself (runc's GetFreezerState): not when only an
   * ancestor is; a freeze under way (v1 FREEZING) counts, a missing cgroup does not.
   */
  isFrozen(): boolean;
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
