// The plan's records as TypeScript values. native/PLAN-FORMAT.md is the definition; this file
// and native/plan.c follow it.

export const PLAN_MAGIC = 'TSRNPLAN';
export const PLAN_VERSION = 1;

export const Tag = {
  MODE: 1,
  NS_JOIN: 10,
  NS_CLONE: 11,
  TIMENS_OFFSETS: 12,
  UID_MAP: 13,
  GID_MAP: 14,
  CGROUP_PROCS: 15,
  EXEC_FIFO: 16,
  NS_UNSHARE: 17,
  IDMAP_USERNS: 18,
  IDMAP_USERNS_PATH: 19,
  ROOTFS: 20,
  MOUNT: 21,
  SYMLINK: 22,
  MKNOD: 23,
  BIND_DEVICE: 24,
  MKDIR: 25,
  MKDIR_LATE: 37,
  REMOUNT_READONLY: 38,
  MOUNT_IDMAP: 26,
  SYMLINK_REPLACE: 27,
  CHANGE_ROOT: 30,
  ROOT_READONLY: 31,
  MASK_PATH: 32,
  READONLY_PATH: 33,
  SYSCTL: 34,
  HOSTNAME: 35,
  DOMAINNAME: 36,
  RLIMIT: 40,
  OOM_SCORE_ADJ: 41,
  PERSONALITY: 42,
  SCHEDULER: 43,
  IOPRIO: 44,
  CPU_AFFINITY: 45,
  NO_NEW_PRIVS: 46,
  USER: 47,
  CAPS: 48,
  SESSION_KEYRING: 49,
  LSM_LABEL: 50,
  CONSOLE: 51,
  CWD: 60,
  ENV: 61,
  ARG: 62,
  PRESERVE_FDS: 63,
  SECCOMP: 64,
  HOOK_BARRIER: 65,
  HOOK_CREATE_CONTAINER: 70,
  HOOK_START_CONTAINER: 71,
  SECCOMP_LISTENER: 66,
  RELEASE_BARRIER: 67,
  PIDNS_LATE: 68,
  IDMAP_TOOLS: 69,
} as const;

/** HOOK_POINT values: C's HOOK_BARRIER after the mounts, E's RELEASE_BARRIER. */
export const HOOK_POINT_MOUNTS = 0;
export const RELEASE_POINT = 1;

export const Msg = {
  PID: 100,
  READY: 101,
  ERROR: 102,
  HOOK_POINT: 103,
  LOG: 104,
  /** host pid of C2, the container's init, with PIDNS_LATE (before READY) */
  INIT_PID: 105,
  CONTINUE: 200,
} as const;

/** CONSOLE flags bit0: bind the slave over /dev/console (container init, as runc does). */
export const CONSOLE_BIND_DEV = 1;
/** CONSOLE flags bit1: clear ONLCR on the pty before the process runs (runc does it for a tty it proxies). */
export const CONSOLE_CLEAR_ONLCR = 2;

/**
 * Who takes the pty's master: the caller, over --console-socket; tsrun, which proxies it; or the library's caller (the
 * shim), which copies it on as containerd's runc shim does a master it receives over a console socket (ONLCR kept).
 */
export type ConsoleTaker = 'socket' | 'proxy' | 'master';

/**
 * The executor's fds: 0-2, the preserved fds, the sync socket, then the console socket when
 * there is a CONSOLE record.
 */
export function consoleSocketFd(preserveFds: number): number {
  return 3 + preserveFds + 1;
}

export const enum PlanMode { Init = 0, Exec = 1 }
export const enum ChangeRoot { PivotRoot = 0, MoveAndChroot = 1, ChrootOnly = 2 }
export const enum MountCreate { MustExist = 0, Directory = 1, File = 2 }
export const MountOption = { Bind: 1, Remount: 2, RecursiveAttrs: 4, SourceInContainer: 8, ProcOfJoinedPidns: 16, OrdinaryDirectory: 32 } as const;

export interface MountStep {
  source: string;
  target: string;
  fstype: string;
  flags: bigint;
  data: string;
  create: MountCreate;
  options: number;
  propagation: bigint;
  attrSet: bigint;
  attrClear: bigint;
}

export type PlanRecord =
  | { tag: typeof Tag.MODE; mode: PlanMode; flags: number }
  | { tag: typeof Tag.NS_JOIN; flag: number; path: string }
  | { tag: typeof Tag.NS_CLONE; flags: number }
  | { tag: typeof Tag.TIMENS_OFFSETS; content: string }
  | { tag: typeof Tag.UID_MAP | typeof Tag.GID_MAP; content: string }
  | { tag: typeof Tag.CGROUP_PROCS; path: string }
  | { tag: typeof Tag.EXEC_FIFO; path: string }
  | { tag: typeof Tag.NS_UNSHARE; flags: number }
  /** A user namespace made (or opened) by the executor only to id-map mounts; numbered from 0 in plan order. */
  | { tag: typeof Tag.IDMAP_USERNS; uidMap: string; gidMap: string }
  | { tag: typeof Tag.IDMAP_USERNS_PATH; path: string }
  /** Makes the bind MOUNT right after it id-mapped with user namespace `userns`. */
  | { tag: typeof Tag.MOUNT_IDMAP; userns: number; recursive: boolean }
  | { tag: typeof Tag.ROOTFS; path: string; propagation: bigint; flags: number }
  | ({ tag: typeof Tag.MOUNT } & MountStep)
  | { tag: typeof Tag.SYMLINK | typeof Tag.SYMLINK_REPLACE; target: string; path: string }
  | { tag: typeof Tag.MKNOD; path: string; mode: number; major: number; minor: number; uid: number; gid: number }
  | { tag: typeof Tag.BIND_DEVICE; hostPath: string; path: string }
  | { tag: typeof Tag.MKDIR | typeof Tag.MKDIR_LATE; path: string; mode: number }
  /** A mount made writable to be filled first (a read-only /dev), made read-only after the root change. */
  | { tag: typeof Tag.REMOUNT_READONLY; path: string; flags: bigint }
  | { tag: typeof Tag.CHANGE_ROOT; how: ChangeRoot }
  | { tag: typeof Tag.ROOT_READONLY }
  | { tag: typeof Tag.MASK_PATH | typeof Tag.READONLY_PATH; path: string }
  | { tag: typeof Tag.SYSCTL; key: string; value: string }
  | { tag: typeof Tag.HOSTNAME | typeof Tag.DOMAINNAME; name: string }
  | { tag: typeof Tag.RLIMIT; resource: number; soft: bigint; hard: bigint }
  | { tag: typeof Tag.OOM_SCORE_ADJ; value: number }
  | { tag: typeof Tag.PERSONALITY; persona: bigint }
  | { tag: typeof Tag.SCHEDULER; policy: number; nice: number; priority: number; flags: bigint; runtime: bigint; deadline: bigint; period: bigint }
  | { tag: typeof Tag.IOPRIO; ioClass: number; level: number }
  | { tag: typeof Tag.CPU_AFFINITY; mask: Buffer }
  | { tag: typeof Tag.NO_NEW_PRIVS }
  | { tag: typeof Tag.USER; uid: number; gid: number; umask: number; additionalGids: number[] }
  | { tag: typeof Tag.CAPS; bounding: bigint; effective: bigint; permitted: bigint; inheritable: bigint; ambient: bigint }
  | { tag: typeof Tag.SESSION_KEYRING; name: string }
  | { tag: typeof Tag.LSM_LABEL; kind: number; label: string }
  | { tag: typeof Tag.CWD; path: string }
  | { tag: typeof Tag.ENV | typeof Tag.ARG; value: string }
  | { tag: typeof Tag.PRESERVE_FDS; count: number }
  | { tag: typeof Tag.SECCOMP; flags: number; program: Buffer }
  | { tag: typeof Tag.HOOK_BARRIER; point: number }
  /** E stops after sending PID until tsrun says CONTINUE (HOOK_POINT 1). */
  | { tag: typeof Tag.RELEASE_BARRIER }
  /** The joined pid namespace is entered after the root change, by a second init (C2). */
  | { tag: typeof Tag.PIDNS_LATE }
  /** An unprivileged executor: setgroups denied before gid_map, helpers ('' = none) where a direct write is refused. */
  | { tag: typeof Tag.IDMAP_TOOLS; setgroupsDeny: boolean; newuidmap: string; newgidmap: string }
  /** A hook the container init runs itself; its stdin is stateHead + the init's own pid + stateTail. */
  | ({ tag: typeof Tag.HOOK_CREATE_CONTAINER | typeof Tag.HOOK_START_CONTAINER } & InitHook)
  /** The pty: made in the container, master sent over the socket at `fd`, slave as stdio. */
  | { tag: typeof Tag.CONSOLE; fd: number; rows: number; cols: number; flags: number }
  /** Where the executor sends the seccomp listener fd; the pid is written into json at pidOffsets (bytes). */
  | { tag: typeof Tag.SECCOMP_LISTENER; path: string; json: string; pidOffsets: number[] };

export interface InitHook {
  index: number;
  /** seconds, 0 for none */
  timeout: number;
  path: string;
  args: string[];
  /** undefined: the hook gets the container process's environment, as in runc */
  env?: string[];
  stateHead: string;
  stateTail: string;
}

export type Plan = PlanRecord[];
