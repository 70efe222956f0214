// bpf(2) for cgroup v2 device filters: load a BPF_PROG_TYPE_CGROUP_DEVICE program, attach it
// to a cgroup, list and detach the ones attached before. Like syscalls.ts, koffi is loaded on
// first use only, so that only a v2 device filter pays for it.
import { closeSync, constants as fsc, openSync } from 'node:fs';
import { TsrunError } from '../errors.js';
import { koffi as loadKoffi } from './koffi.js';

/** A failed system call, with the errno name callers can test ("EPERM"). */
export class BpfError extends TsrunError {
  constructor(message: string, readonly errno: string) {
    super(message);
    this.name = 'BpfError';
  }
}

export interface Bpf {
  /** BPF_PROG_LOAD; returns the program fd. A rejected program's error carries the verifier's log. */
  loadCgroupDeviceProgram(program: Buffer, license: string): number;
  /** The ids of the BPF_CGROUP_DEVICE programs attached to the cgroup (BPF_PROG_QUERY). */
  attachedCgroupDevicePrograms(cgroupFd: number): number[];
  /** An fd for a program id; undefined when an LSM refuses it to us (EPERM, EACCES) or it is gone. */
  programFd(id: number): number | undefined;
  /** BPF_PROG_ATTACH with BPF_CGROUP_DEVICE and BPF_F_ALLOW_MULTI. */
  attachCgroupDevice(cgroupFd: number, programFd: number): void;
  /** BPF_PROG_DETACH of that program. */
  detachCgroupDevice(cgroupFd: number, programFd: number): void;
  /** open(path, O_DIRECTORY | O_RDONLY). */
  openCgroup(path: string): number;
  close(fd: number): void;
}

const BPF_PROG_LOAD = 5;
const BPF_PROG_ATTACH = 8;
const BPF_PROG_DETACH = 9;
const BPF_PROG_GET_FD_BY_ID = 13;
const BPF_PROG_QUERY = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
const BPF_CGROUP_DEVICE = 6;
const BPF_F_ALLOW_MULTI = 2;
const RLIMIT_MEMLOCK = 8;
const ATTR_SIZE = 128;
const LOG_SIZE = 256 * 1024;

const SYS_BPF: Partial<Record<string, number>> = { x64: 321, arm64: 280 };

function errnoName(n: number): string {
  return Object.entries((require('node:os') as typeof import('node:os')).constants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;
}

function describe(n: number): string {
  const name = errnoName(n);
  const text: Record<string, string> = {
    EPERM: 'operation not permitted', EACCES: 'permission denied', EINVAL: 'invalid argument', ENOSPC: 'no space left on device',
    EBADF: 'bad file descriptor', ENOENT: 'no such file or directory', ENOMEM: 'cannot allocate memory', E2BIG: 'argument list too long',
    ENOSYS: 'function not implemented', EOPNOTSUPP: 'operation not supported',
  };
  // Go's spelling, which runc's messages carry.
  return text[name] ?? name;
}

interface Koffi {
  errno(): number;
  alloc(type: string, n: number): unknown;
  free(p: unknown): void;
  address(p: unknown): bigint;
  view(p: unknown, n: number): ArrayBuffer;
}
type VarFn = (...args: unknown[]) => number | bigint;

/** Memory the kernel reads or writes through a pointer in bpf_attr: native, so it never moves. */
class NativeBuf {
  readonly ptr: unknown;
  readonly view: Buffer;
  constructor(private readonly koffi: Koffi, size: number) {
    this.ptr = koffi.alloc('uint8_t', Math.max(size, 1));
    this.view = Buffer.from(koffi.view(this.ptr, Math.max(size, 1)));
    this.view.fill(0);
  }
  get address(): bigint {
    return this.koffi.address(this.ptr);
  }
  free(): void {
    this.koffi.free(this.ptr);
  }
}

class KoffiBpf implements Bpf {
  private fns: { koffi: Koffi; syscall: VarFn; prlimit: (pid: number, res: number, nw: Buffer | null, old: Buffer | null) => number } | undefined;

  private load() {
    if (this.fns) return this.fns;
    if (SYS_BPF[process.arch] === undefined) throw new BpfError(`bpf(2): unsupported architecture ${process.arch}`, 'ENOSYS');
    const koffi = loadKoffi();
    const libc = koffi.load('libc.so.6');
    this.fns = {
      koffi,
      syscall: libc.func('long syscall(long, ...)'),
      prlimit: libc.func('int prlimit(int, int, void *, _Out_ void *)'),
    };
    return this.fns;
  }

  /** bpf(cmd, attr); returns the result or throws with errno. */
  private bpf(cmd: number, attr: Buffer, what: string): number {
    const { syscall, koffi } = this.load();
    const rc = Number(syscall(SYS_BPF[process.arch]!, 'int', cmd, 'void *', attr, 'uint', ATTR_SIZE));
    if (rc < 0) {
      const e = koffi.errno();
      throw new BpfError(`${what}: ${describe(e)}`, errnoName(e));
    }
    return rc;
  }

  loadCgroupDeviceProgram(program: Buffer, license: string): number {
    const { koffi } = this.load();
    const insns = new NativeBuf(koffi, program.length);
    const lic = new NativeBuf(koffi, Buffer.byteLength(license) + 1);
    program.copy(insns.view);
    lic.view.write(license);
    const attr = (logBuf?: NativeBuf) => {
      const a = Buffer.alloc(ATTR_SIZE);
      a.writeUInt32LE(BPF_PROG_TYPE_CGROUP_DEVICE, 0);
      a.writeUInt32LE(program.length / 8, 4);
      a.writeBigUInt64LE(insns.address, 8);
      a.writeBigUInt64LE(lic.address, 16);
      if (logBuf) {
        a.writeUInt32LE(1, 24); // log_level
        a.writeUInt32LE(LOG_SIZE, 28);
        a.writeBigUInt64LE(logBuf.address, 32);
      }
      return a;
    };
    const what = 'BPF_PROG_LOAD (BPF_PROG_TYPE_CGROUP_DEVICE) failed';
    try {
      try {
        return this.bpf(BPF_PROG_LOAD, attr(), what);
      } catch (err) {
        if (!(err instanceof BpfError)) throw err;
        // Kernels before 5.11 charge programs to RLIMIT_MEMLOCK. Raise it for this load only:
        // the container's executor is started by this process later and must not inherit it.
        if (err.errno === 'EPERM') {
          const retried = this.withUnlimitedMemlock(() => this.bpf(BPF_PROG_LOAD, attr(), what));
          if (retried !== undefined) return retried;
        }
        // Load again with the verifier's log, for an error that says what it did not like.
        const log = new NativeBuf(koffi, LOG_SIZE);
        try {
          return this.bpf(BPF_PROG_LOAD, attr(log), what);
        } catch (err2) {
          const text = log.view.subarray(0, log.view.indexOf(0) < 0 ? LOG_SIZE : log.view.indexOf(0)).toString().trim();
          throw text ? new BpfError(`${(err2 as Error).message}: verifier log:\n${text}`, (err2 as BpfError).errno ?? '') : err2;
        } finally {
          log.free();
        }
      }
    } finally {
      insns.free();
      lic.free();
    }
  }

  /** Runs fn with RLIMIT_MEMLOCK raised to unlimited, then restores it; undefined when it cannot be raised. */
  private withUnlimitedMemlock<T>(fn: () => T): T | undefined {
    const { prlimit } = this.load();
    const old = Buffer.alloc(16);
    const unlimited = Buffer.alloc(16, 0xff);
    if (prlimit(0, RLIMIT_MEMLOCK, unlimited, old) !== 0) return undefined;
    try {
      return fn();
    } finally {
      prlimit(0, RLIMIT_MEMLOCK, old, null);
    }
  }

  attachedCgroupDevicePrograms(cgroupFd: number): number[] {
    const { koffi } = this.load();
    let size = 64;
    for (let attempt = 0; attempt < 10; attempt++) {
      const ids = new NativeBuf(koffi, size * 4);
      try {
        const a = Buffer.alloc(ATTR_SIZE);
        a.writeUInt32LE(cgroupFd, 0);
        a.writeUInt32LE(BPF_CGROUP_DEVICE, 4);
        a.writeBigUInt64LE(ids.address, 16);
        a.writeUInt32LE(size, 24);
        try {
          this.bpf(BPF_PROG_QUERY, a, 'bpf_prog_query(BPF_CGROUP_DEVICE) failed');
        } catch (err) {
          // ENOSPC: more programs than room; prog_cnt now says how many.
          if (err instanceof BpfError && err.errno === 'ENOSPC') {
            size = Math.max(a.readUInt32LE(24), size * 2);
            continue;
          }
          throw err;
        }
        const count = a.readUInt32LE(24);
        return Array.from({ length: count }, (_, i) => ids.view.readUInt32LE(i * 4));
      } finally {
        ids.free();
      }
    }
    throw new BpfError('could not get complete list of CGROUP_DEVICE programs', 'ENOSPC');
  }

  programFd(id: number): number | undefined {
    const a = Buffer.alloc(ATTR_SIZE);
    a.writeUInt32LE(id, 0);
    try {
      return this.bpf(BPF_PROG_GET_FD_BY_ID, a, `cannot fetch program ${id} from its id`);
    } catch (err) {
      if (err instanceof BpfError && ['EPERM', 'EACCES', 'ENOENT'].includes(err.errno)) return undefined;
      throw err;
    }
  }

  private attachAttr(cgroupFd: number, programFd: number, flags: number): Buffer {
    const a = Buffer.alloc(ATTR_SIZE);
    a.writeUInt32LE(cgroupFd, 0);
    a.writeUInt32LE(programFd, 4);
    a.writeUInt32LE(BPF_CGROUP_DEVICE, 8);
    a.writeUInt32LE(flags, 12);
    return a;
  }

  attachCgroupDevice(cgroupFd: number, programFd: number): void {
    this.bpf(BPF_PROG_ATTACH, this.attachAttr(cgroupFd, programFd, BPF_F_ALLOW_MULTI), 'failed to call BPF_PROG_ATTACH (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)');
  }

  detachCgroupDevice(cgroupFd: number, programFd: number): void {
    this.bpf(BPF_PROG_DETACH, this.attachAttr(cgroupFd, programFd, 0), 'failed to call BPF_PROG_DETACH (BPF_CGROUP_DEVICE)');
  }

  openCgroup(path: string): number {
    try {
      return openSync(path, fsc.O_RDONLY | fsc.O_DIRECTORY);
    } catch (err) {
      throw new BpfError(`cannot get dir FD for ${path}: ${(err as Error).message}`, (err as NodeJS.ErrnoException).code ?? '');
    }
  }

  close(fd: number): void {
    closeSync(fd);
  }
}

let instance: Bpf | undefined;

export function bpf(): Bpf {
  return (instance ??= new KoffiBpf());
}

/** Tests replace the real implementation with a double. */
export function setBpfForTesting(b: Bpf | undefined): void {
  instance = b;
}
