// runc's mount option vocabulary, turned into mount(2) flags, propagation flags,
// mount_setattr(2) attributes and leftover filesystem data.

export const MS = {
  RDONLY: 1n, NOSUID: 2n, NODEV: 4n, NOEXEC: 8n, SYNCHRONOUS: 16n, REMOUNT: 32n, MANDLOCK: 64n,
  DIRSYNC: 128n, NOSYMFOLLOW: 256n, NOATIME: 1024n, NODIRATIME: 2048n, BIND: 4096n, MOVE: 8192n,
  REC: 16384n, SILENT: 32768n, UNBINDABLE: 1n << 17n, PRIVATE: 1n << 18n, SLAVE: 1n << 19n,
  SHARED: 1n << 20n, RELATIME: 1n << 21n, STRICTATIME: 1n << 24n, LAZYTIME: 1n << 25n,
} as const;

export const MOUNT_ATTR = {
  RDONLY: 0x1n, NOSUID: 0x2n, NODEV: 0x4n, NOEXEC: 0x8n, ATIME_MASK: 0x70n, RELATIME: 0x0n,
  NOATIME: 0x10n, STRICTATIME: 0x20n, NODIRATIME: 0x80n, IDMAP: 0x100000n, NOSYMFOLLOW: 0x200000n,
} as const;

/** option -> [clear?, flag] */
const FLAG_OPTIONS: Record<string, [boolean, bigint]> = {
  acl: [false, 1n << 16n], async: [true, MS.SYNCHRONOUS], atime: [true, MS.NOATIME], bind: [false, MS.BIND], defaults: [false, 0n],
  dev: [true, MS.NODEV], diratime: [true, MS.NODIRATIME], dirsync: [false, MS.DIRSYNC], exec: [true, MS.NOEXEC],
  iversion: [false, 1n << 23n], lazytime: [false, MS.LAZYTIME], loud: [true, MS.SILENT], mand: [false, MS.MANDLOCK],
  noatime: [false, MS.NOATIME], nodev: [false, MS.NODEV], nodiratime: [false, MS.NODIRATIME],
  noexec: [false, MS.NOEXEC], noiversion: [true, 1n << 23n], nolazytime: [true, MS.LAZYTIME],
  noacl: [true, 1n << 16n], nomand: [true, MS.MANDLOCK], norelatime: [true, MS.RELATIME], nostrictatime: [true, MS.STRICTATIME],
  nosuid: [false, MS.NOSUID], nosymfollow: [false, MS.NOSYMFOLLOW], rbind: [false, MS.BIND | MS.REC],
  relatime: [false, MS.RELATIME], remount: [false, MS.REMOUNT], ro: [false, MS.RDONLY], rw: [true, MS.RDONLY],
  silent: [false, MS.SILENT], strictatime: [false, MS.STRICTATIME], suid: [true, MS.NOSUID],
  sync: [false, MS.SYNCHRONOUS], symfollow: [true, MS.NOSYMFOLLOW],
};

const PROPAGATION_OPTIONS: Record<string, bigint> = {
  private: MS.PRIVATE, rprivate: MS.PRIVATE | MS.REC, shared: MS.SHARED, rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE, rslave: MS.SLAVE | MS.REC, unbindable: MS.UNBINDABLE, runbindable: MS.UNBINDABLE | MS.REC,
};

/** option -> [clear?, attribute]; atime-family options replace the whole atime field. */
const RECURSIVE_OPTIONS: Record<string, [boolean, bigint]> = {
  rro: [false, MOUNT_ATTR.RDONLY], rrw: [true, MOUNT_ATTR.RDONLY], rnosuid: [false, MOUNT_ATTR.NOSUID],
  rsuid: [true, MOUNT_ATTR.NOSUID], rnodev: [false, MOUNT_ATTR.NODEV], rdev: [true, MOUNT_ATTR.NODEV],
  rnoexec: [false, MOUNT_ATTR.NOEXEC], rexec: [true, MOUNT_ATTR.NOEXEC], rnodiratime: [false, MOUNT_ATTR.NODIRATIME],
  rdiratime: [true, MOUNT_ATTR.NODIRATIME], rnosymfollow: [false, MOUNT_ATTR.NOSYMFOLLOW],
  rsymfollow: [true, MOUNT_ATTR.NOSYMFOLLOW],
};
const RECURSIVE_ATIME: Record<string, bigint | null> = {
  rrelatime: MOUNT_ATTR.RELATIME, rnorelatime: null, rnoatime: MOUNT_ATTR.NOATIME, ratime: null,
  rstrictatime: MOUNT_ATTR.STRICTATIME, rnostrictatime: null,
};

/** Every option name tsrun understands, for the features document. */
export function knownMountOptions(): string[] {
  return [...Object.keys(FLAG_OPTIONS), ...Object.keys(PROPAGATION_OPTIONS), ...Object.keys(RECURSIVE_OPTIONS), ...Object.keys(RECURSIVE_ATIME), 'idmap', 'ridmap'].sort();
}

export interface ParsedMountOptions {
  flags: bigint;
  propagation: bigint[];
  attrSet: bigint;
  attrClear: bigint;
  data: string[];
  idmap: 'none' | 'idmap' | 'ridmap';
  tmpcopyup: boolean;
}

export function parseMountOptions(options: readonly string[] | undefined): ParsedMountOptions {
  const out: ParsedMountOptions = { flags: 0n, propagation: [], attrSet: 0n, attrClear: 0n, data: [], idmap: 'none', tmpcopyup: false };
  for (const option of options ?? []) {
    const flag = FLAG_OPTIONS[option];
    if (flag) {
      out.flags = flag[0] ? out.flags & ~flag[1] : out.flags | flag[1];
      continue;
    }
    const propagation = PROPAGATION_OPTIONS[option];
    if (propagation !== undefined) { out.propagation.push(propagation); continue; }
    const recursive = RECURSIVE_OPTIONS[option];
    if (recursive) {
      if (recursive[0]) { out.attrClear |= recursive[1]; out.attrSet &= ~recursive[1]; }
      else { out.attrSet |= recursive[1]; out.attrClear &= ~recursive[1]; }
      continue;
    }
    if (option in RECURSIVE_ATIME) {
      const atime = RECURSIVE_ATIME[option];
      out.attrClear |= MOUNT_ATTR.ATIME_MASK;
      out.attrSet &= ~MOUNT_ATTR.ATIME_MASK;
      if (atime !== null && atime !== undefined) out.attrSet |= atime;
      continue;
    }
    if (option === 'idmap' || option === 'ridmap') { out.idmap = option; continue; }
    if (option === 'tmpcopyup') { out.tmpcopyup = true; continue; }
    out.data.push(option);
  }
  return out;
}

export const ROOTFS_PROPAGATION: Record<string, bigint> = {
  '': 0n, ...PROPAGATION_OPTIONS,
};
