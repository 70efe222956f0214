/**
 * Name → number tables for the values config.json spells as strings. Numbers are Linux's
 * (include/uapi/linux/capability.h, include/uapi/asm-generic/resource.h as used on x86_64).
 */

/** A lookup table without a prototype, so that names like "constructor" are not found in it. */
function table(entries: Record<string, number>): Record<string, number> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, number>, entries));
}

/** Capability bit numbers, CAP_CHOWN (0) .. CAP_CHECKPOINT_RESTORE (40): the set of kernel 5.9 through 6.x. */
export const CAPABILITY_NUMBERS: Record<string, number> = table({
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
});

/** The highest capability number in CAPABILITY_NUMBERS (CAP_LAST_CAP of the kernels we know). */
export const LAST_CAPABILITY = 40;

/** setrlimit(2) resource numbers (x86_64; the generic numbering). */
export const RLIMIT_NUMBERS: Record<string, number> = table({
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
});

/** Largest uint64 as a double: JSON's 18446744073709551615 parses to exactly this (2^64). */
export const UINT64_MAX_AS_NUMBER = 18446744073709551615;
