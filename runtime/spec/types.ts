/**
 * TypeScript types for an OCI runtime-spec 1.2 config.json, as tsrun accepts it after validation
 * (runtime/spec/load.ts). Property names are the spec's; type names follow the Go bindings
 * (specs-go) so that reading runc's source maps onto them.
 *
 * Numbers: JSON numbers are JS doubles. Values of uint64/int64 fields above 2^53 lose precision; in
 * particular 18446744073709551615 (2^64-1, "unlimited" for rlimits) arrives as 18446744073709551616.
 * Consumers that turn such a field into a 64-bit integer must clamp (see the note on POSIXRlimit).
 *
 * `null` values of object properties are removed before validation (Go's decoder treats a JSON null
 * exactly like a missing property), so optional properties are either absent or of their type.
 * Unknown properties are kept (the spec's Extensibility rule): every object may carry more than is
 * declared here. The types are type aliases rather than interfaces so that they are assignable to
 * looser local types with index signatures (e.g. runtime/cgroups/types.ts LinuxResources).
 */

/** The root of config.json. */
export type Spec = {
  /** SemVer of the runtime-spec the bundle complies with, e.g. "1.0.2-dev". */
  ociVersion: string;
  process?: Process;
  root?: Root;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux?: Linux;
  /** Other platforms' sections: ignored by tsrun, only checked to be objects. */
  solaris?: Record<string, unknown>;
  windows?: Record<string, unknown>;
  vm?: Record<string, unknown>;
  zos?: Record<string, unknown>;
};

// ---------------------------------------------------------------- process

export type Process = {
  terminal?: boolean;
  consoleSize?: Box;
  user?: User;
  args?: string[];
  /** Windows only. */
  commandLine?: string;
  env?: string[];
  /** Absolute path inside the container. */
  cwd: string;
  capabilities?: LinuxCapabilities;
  rlimits?: POSIXRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  /** -1000..1000. */
  oomScoreAdj?: number;
  scheduler?: Scheduler;
  selinuxLabel?: string;
  ioPriority?: LinuxIOPriority;
  execCPUAffinity?: CPUAffinity;
};

/** Console size in characters. */
export type Box = {
  height: number;
  width: number;
};

export type User = {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
  /** Windows only. */
  username?: string;
};

/** Capability names such as "CAP_KILL" (validated against runtime/spec/tables.ts CAPABILITY_NUMBERS). */
export type LinuxCapabilities = {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
};

/**
 * A resource limit. `type` is a name from RLIMIT_NUMBERS. `soft`/`hard` are uint64: any value of
 * 2^64-1 or more (JSON 18446744073709551615 reads as 2^64) means RLIM_INFINITY.
 */
export type POSIXRlimit = {
  type: string;
  soft: number;
  hard: number;
};

export type LinuxSchedulerPolicy =
  | 'SCHED_OTHER' | 'SCHED_FIFO' | 'SCHED_RR' | 'SCHED_BATCH' | 'SCHED_ISO' | 'SCHED_IDLE' | 'SCHED_DEADLINE';

export type LinuxSchedulerFlag =
  | 'SCHED_FLAG_RESET_ON_FORK'
  | 'SCHED_FLAG_RECLAIM'
  | 'SCHED_FLAG_DL_OVERRUN'
  | 'SCHED_FLAG_KEEP_POLICY'
  | 'SCHED_FLAG_KEEP_PARAMS'
  | 'SCHED_FLAG_UTIL_CLAMP_MIN'
  | 'SCHED_FLAG_UTIL_CLAMP_MAX';

export type Scheduler = {
  policy: LinuxSchedulerPolicy;
  nice?: number;
  priority?: number;
  flags?: LinuxSchedulerFlag[];
  /** Nanoseconds (SCHED_DEADLINE). */
  runtime?: number;
  deadline?: number;
  period?: number;
};

export type IOPriorityClass = 'IOPRIO_CLASS_RT' | 'IOPRIO_CLASS_BE' | 'IOPRIO_CLASS_IDLE';

export type LinuxIOPriority = {
  class: IOPriorityClass;
  /** 0 (highest) .. 7 (lowest). */
  priority: number;
};

/** CPU lists such as "0-3,7". */
export type CPUAffinity = {
  initial?: string;
  final?: string;
};

// ---------------------------------------------------------------- root, mounts, hooks

export type Root = {
  /** Absolute, or relative to the bundle. */
  path: string;
  readonly?: boolean;
};

export type Mount = {
  /**
   * Path inside the container. loadBundleSpec makes a relative destination absolute (prefixing "/",
   * as the spec says) and reports a warning, as runc 1.1 does.
   */
  destination: string;
  type?: string;
  /** Device, or for bind mounts a host path: absolute or relative to the bundle. */
  source?: string;
  options?: string[];
  /** Id-mapped mount (options idmap/ridmap); both or neither. */
  uidMappings?: LinuxIDMapping[];
  gidMappings?: LinuxIDMapping[];
};

export type Hook = {
  /** Absolute path of the executable. */
  path: string;
  args?: string[];
  env?: string[];
  /** Seconds, > 0. */
  timeout?: number;
};

export type Hooks = {
  /** Deprecated in favour of createRuntime. */
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
};

export type HookName = keyof Hooks;

// ---------------------------------------------------------------- linux

export type Linux = {
  uidMappings?: LinuxIDMapping[];
  gidMappings?: LinuxIDMapping[];
  sysctl?: Record<string, string>;
  resources?: LinuxResources;
  cgroupsPath?: string;
  namespaces?: LinuxNamespace[];
  devices?: LinuxDevice[];
  seccomp?: LinuxSeccomp;
  rootfsPropagation?: RootfsPropagation;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  intelRdt?: LinuxIntelRdt;
  personality?: LinuxPersonality;
  /** Keyed by clock: "monotonic" or "boottime". */
  timeOffsets?: Record<string, LinuxTimeOffset>;
};

export type LinuxNamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

export type LinuxNamespace = {
  type: LinuxNamespaceType;
  /** Absolute path of a namespace file to join; absent: create a new namespace. */
  path?: string;
};

export type LinuxIDMapping = {
  containerID: number;
  hostID: number;
  size: number;
};

export type LinuxTimeOffset = {
  secs?: number;
  nanosecs?: number;
};

/** The spec's four values, runc's recursive spellings, and "" (unset). */
export type RootfsPropagation =
  | '' | 'shared' | 'slave' | 'private' | 'unbindable' | 'rshared' | 'rslave' | 'rprivate' | 'runbindable';

/** A device node to create in the container. */
export type LinuxDevice = {
  /** c (char), b (block), u (unbuffered char), p (FIFO). */
  type: 'c' | 'b' | 'u' | 'p';
  /** Path inside the container (made absolute by loadBundleSpec, with a warning, if relative). */
  path: string;
  /** Required unless type is "p". */
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
};

// ---------------------------------------------------------------- cgroup resources

export type LinuxResources = {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCPU;
  pids?: LinuxPids;
  blockIO?: LinuxBlockIO;
  hugepageLimits?: LinuxHugepageLimit[];
  network?: LinuxNetwork;
  /** Keyed by RDMA device name. */
  rdma?: Record<string, LinuxRdma>;
  /** cgroup v2 file name → content. */
  unified?: Record<string, string>;
};

/** A device cgroup rule. Absent type/major/minor mean "all" (a, *). */
export type LinuxDeviceCgroup = {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  /** Combination of r, w, m. */
  access?: string;
};

/** Bytes; -1 means unlimited. */
export type LinuxMemory = {
  limit?: number;
  reservation?: number;
  swap?: number;
  kernel?: number;
  kernelTCP?: number;
  /** 0..100; 2^64 (JSON 18446744073709551615, uint64 of -1) means "not set", as in runc. */
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  checkBeforeUpdate?: boolean;
};

export type LinuxCPU = {
  shares?: number;
  /** Microseconds per period; -1 (or any negative) means unlimited. */
  quota?: number;
  burst?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  /** CPU list such as "0-3,7". */
  cpus?: string;
  /** Memory node list such as "0-1". */
  mems?: string;
  /** 1: SCHED_IDLE for the cgroup. */
  idle?: number;
};

export type LinuxPids = {
  /** Maximum number of tasks; 0 or negative means unlimited. */
  limit: number;
};

export type LinuxBlockIO = {
  weight?: number;
  leafWeight?: number;
  weightDevice?: LinuxWeightDevice[];
  throttleReadBpsDevice?: LinuxThrottleDevice[];
  throttleWriteBpsDevice?: LinuxThrottleDevice[];
  throttleReadIOPSDevice?: LinuxThrottleDevice[];
  throttleWriteIOPSDevice?: LinuxThrottleDevice[];
};

/** At least one of weight and leafWeight is present. */
export type LinuxWeightDevice = {
  major: number;
  minor: number;
  weight?: number;
  leafWeight?: number;
};

export type LinuxThrottleDevice = {
  major: number;
  minor: number;
  rate: number;
};

export type LinuxHugepageLimit = {
  /** e.g. "2MB", "1GB", "64KB". */
  pageSize: string;
  limit: number;
};

export type LinuxNetwork = {
  classID?: number;
  priorities?: LinuxInterfacePriority[];
};

export type LinuxInterfacePriority = {
  name: string;
  priority: number;
};

/** At least one of the two is present. */
export type LinuxRdma = {
  hcaHandles?: number;
  hcaObjects?: number;
};

// ---------------------------------------------------------------- seccomp

export type LinuxSeccompAction =
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_LOG'
  | 'SCMP_ACT_NOTIFY';

export type Arch =
  | 'SCMP_ARCH_X86'
  | 'SCMP_ARCH_X86_64'
  | 'SCMP_ARCH_X32'
  | 'SCMP_ARCH_ARM'
  | 'SCMP_ARCH_AARCH64'
  | 'SCMP_ARCH_MIPS'
  | 'SCMP_ARCH_MIPS64'
  | 'SCMP_ARCH_MIPS64N32'
  | 'SCMP_ARCH_MIPSEL'
  | 'SCMP_ARCH_MIPSEL64'
  | 'SCMP_ARCH_MIPSEL64N32'
  | 'SCMP_ARCH_PPC'
  | 'SCMP_ARCH_PPC64'
  | 'SCMP_ARCH_PPC64LE'
  | 'SCMP_ARCH_S390'
  | 'SCMP_ARCH_S390X'
  | 'SCMP_ARCH_PARISC'
  | 'SCMP_ARCH_PARISC64'
  | 'SCMP_ARCH_RISCV64'
  | 'SCMP_ARCH_LOONGARCH64'
  | 'SCMP_ARCH_M68K'
  | 'SCMP_ARCH_SH'
  | 'SCMP_ARCH_SHEB';

export type LinuxSeccompFlag =
  | 'SECCOMP_FILTER_FLAG_TSYNC'
  | 'SECCOMP_FILTER_FLAG_LOG'
  | 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'
  | 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV';

export type LinuxSeccompOperator =
  | 'SCMP_CMP_NE'
  | 'SCMP_CMP_LT'
  | 'SCMP_CMP_LE'
  | 'SCMP_CMP_EQ'
  | 'SCMP_CMP_GE'
  | 'SCMP_CMP_GT'
  | 'SCMP_CMP_MASKED_EQ';

export type LinuxSeccomp = {
  defaultAction: LinuxSeccompAction;
  /** errno for SCMP_ACT_ERRNO / SCMP_ACT_TRACE; default EPERM. */
  defaultErrnoRet?: number;
  architectures?: Arch[];
  flags?: LinuxSeccompFlag[];
  /** Unix socket for SCMP_ACT_NOTIFY. */
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: LinuxSyscall[];
};

export type LinuxSyscall = {
  /** At least one name. */
  names: string[];
  action: LinuxSeccompAction;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
};

export type LinuxSeccompArg = {
  /** 0..5. */
  index: number;
  value: number;
  valueTwo?: number;
  op: LinuxSeccompOperator;
};

// ---------------------------------------------------------------- misc linux

export type LinuxIntelRdt = {
  closID?: string;
  l3CacheSchema?: string;
  /** Starts with "MB:", no newline. */
  memBwSchema?: string;
  enableCMT?: boolean;
  enableMBM?: boolean;
};

export type LinuxPersonalityDomain = 'LINUX' | 'LINUX32';

export type LinuxPersonality = {
  domain: LinuxPersonalityDomain;
  /** No flag values are defined by the spec. */
  flags?: string[];
};
