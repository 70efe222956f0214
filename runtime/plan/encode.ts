import { PLAN_MAGIC, PLAN_VERSION, Tag, type PlanRecord } from './records.js';

/** Grows one buffer for the whole plan: plans are small and written once. */
class Writer {
  private buf = Buffer.allocUnsafe(4096);
  length = 0;
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u16(v: number): void { this.ensure(2); this.buf.writeUInt16LE(v, this.length); this.length += 2; }
  u32(v: number): void { this.ensure(4); this.buf.writeUInt32LE(v >>> 0, this.length); this.length += 4; }
  i32(v: number): void { this.ensure(4); this.buf.writeInt32LE(v, this.length); this.length += 4; }
  u64(v: bigint): void { this.ensure(8); this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.length); this.length += 8; }
  raw(b: Buffer): void { this.ensure(b.length); b.copy(this.buf, this.length); this.length += b.length; }
  bytes(b: Buffer): void { this.u32(b.length); this.raw(b); }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    if (b.includes(0)) throw new Error(`plan string contains a NUL byte: ${JSON.stringify(s)}`);
    if (b.length > 65535) throw new Error(`plan string longer than 65535 bytes`);
    this.bytes(b);
  }
  patchU32(at: number, v: number): void { this.buf.writeUInt32LE(v >>> 0, at); }
  result(): Buffer { return this.buf.subarray(0, this.length); }
}

function payload(w: Writer, r: PlanRecord): void {
  switch (r.tag) {
    case Tag.MODE: w.u32(r.mode); w.u32(r.flags); break;
    case Tag.NS_JOIN: w.u32(r.flag); w.str(r.path); break;
    case Tag.NS_CLONE: case Tag.NS_UNSHARE: w.u32(r.flags); break;
    case Tag.TIMENS_OFFSETS: case Tag.UID_MAP: case Tag.GID_MAP: w.str(r.content); break;
    case Tag.CGROUP_PROCS: case Tag.EXEC_FIFO: case Tag.MASK_PATH: case Tag.READONLY_PATH: case Tag.CWD: case Tag.IDMAP_USERNS_PATH: w.str(r.path); break;
    case Tag.IDMAP_USERNS: w.str(r.uidMap); w.str(r.gidMap); break;
    case Tag.MOUNT_IDMAP: w.u32(r.userns); w.u32(r.recursive ? 1 : 0); break;
    case Tag.ROOTFS: w.str(r.path); w.u64(r.propagation); w.u32(r.flags); break;
    case Tag.MOUNT:
      w.str(r.source); w.str(r.target); w.str(r.fstype); w.u64(r.flags); w.str(r.data);
      w.u32(r.create); w.u32(r.options); w.u64(r.propagation); w.u64(r.attrSet); w.u64(r.attrClear);
      break;
    case Tag.SYMLINK: case Tag.SYMLINK_REPLACE: w.str(r.target); w.str(r.path); break;
    case Tag.MKNOD: w.str(r.path); w.u32(r.mode); w.u32(r.major); w.u32(r.minor); w.u32(r.uid); w.u32(r.gid); break;
    case Tag.BIND_DEVICE: w.str(r.hostPath); w.str(r.path); break;
    case Tag.MKDIR: w.str(r.path); w.u32(r.mode); break;
    case Tag.IDMAP_TOOLS: w.u32(r.setgroupsDeny ? 1 : 0); w.str(r.newuidmap); w.str(r.newgidmap); break;
    case Tag.CHANGE_ROOT: w.u32(r.how); break;
    case Tag.ROOT_READONLY: case Tag.NO_NEW_PRIVS: case Tag.RELEASE_BARRIER: case Tag.PIDNS_LATE: break;
    case Tag.SYSCTL: w.str(r.key); w.str(r.value); break;
    case Tag.HOSTNAME: case Tag.DOMAINNAME: w.str(r.name); break;
    case Tag.RLIMIT: w.u32(r.resource); w.u64(r.soft); w.u64(r.hard); break;
    case Tag.OOM_SCORE_ADJ: w.i32(r.value); break;
    case Tag.PERSONALITY: w.u64(r.persona); break;
    case Tag.SCHEDULER:
      w.u32(r.policy); w.i32(r.nice); w.u32(r.priority); w.u64(r.flags); w.u64(r.runtime); w.u64(r.deadline); w.u64(r.period);
      break;
    case Tag.IOPRIO: w.u32(r.ioClass); w.u32(r.level); break;
    case Tag.CPU_AFFINITY: w.bytes(r.mask); break;
    case Tag.USER:
      w.u32(r.uid); w.u32(r.gid); w.u32(r.umask); w.u32(r.additionalGids.length);
      for (const g of r.additionalGids) w.u32(g);
      break;
    case Tag.CAPS: w.u64(r.bounding); w.u64(r.effective); w.u64(r.permitted); w.u64(r.inheritable); w.u64(r.ambient); break;
    case Tag.SESSION_KEYRING: w.str(r.name); break;
    case Tag.LSM_LABEL: w.u32(r.kind); w.str(r.label); break;
    case Tag.ENV: case Tag.ARG: w.str(r.value); break;
    case Tag.PRESERVE_FDS: w.u32(r.count); break;
    case Tag.SECCOMP: w.u32(r.flags); w.bytes(r.program); break;
    case Tag.HOOK_BARRIER: w.u32(r.point); break;
    case Tag.HOOK_CREATE_CONTAINER: case Tag.HOOK_START_CONTAINER:
      w.u32(r.index); w.u32(r.timeout); w.str(r.path);
      w.u32(r.args.length); for (const a of r.args) w.str(a);
      w.u32(r.env ? 1 : 0); w.u32(r.env?.length ?? 0); for (const e of r.env ?? []) w.str(e);
      w.str(r.stateHead); w.str(r.stateTail);
      break;
    case Tag.CONSOLE: w.u32(r.fd); w.u32(r.rows); w.u32(r.cols); w.u32(r.flags); break;
    case Tag.SECCOMP_LISTENER:
      w.str(r.path); w.str(r.json); w.u32(r.pidOffsets.length);
      for (const o of r.pidOffsets) w.u32(o);
      break;
    default: {
      const never: never = r;
      throw new Error(`unknown plan record ${JSON.stringify(never)}`);
    }
  }
}

function record(w: Writer, tag: number, body: (w: Writer) => void): void {
  w.u16(tag);
  w.u16(0);
  const lengthAt = w.length;
  w.u32(0);
  const start = w.length;
  body(w);
  w.patchU32(lengthAt, w.length - start);
}

export function encodePlan(plan: readonly PlanRecord[]): Buffer {
  const w = new Writer();
  w.raw(Buffer.from(PLAN_MAGIC, 'latin1'));
  w.u32(PLAN_VERSION);
  const bodyLengthAt = w.length;
  w.u32(0);
  const start = w.length;
  for (const r of plan) record(w, r.tag, (w2) => payload(w2, r));
  w.patchU32(bodyLengthAt, w.length - start);
  return w.result();
}

/** A sync-socket message: the record framing without the plan header. */
export function encodeMessage(tag: number, body?: Buffer): Buffer {
  const b = Buffer.alloc(8 + (body?.length ?? 0));
  b.writeUInt16LE(tag, 0);
  b.writeUInt32LE(body?.length ?? 0, 4);
  if (body) body.copy(b, 8);
  return b;
}
