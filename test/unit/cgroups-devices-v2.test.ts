// Installing the v2 device filter, against a bpf(2) double: the order of the calls (new
// program attached before the old ones are detached), fds closed on every path, errors.
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { applyDeviceRules, canSkipDeviceFilterError } from '../../runtime/cgroups/devices-v2.js';
import { generateDeviceFilter } from '../../runtime/cgroups/device-filter.js';
import { parseDeviceRule } from '../../runtime/cgroups/devices.js';
import { cgroupManager } from '../../runtime/cgroups/index.js';
import { FakeCgroupTree } from '../helpers/fake-cgroup-tree.js';
import { BpfError, setBpfForTesting, type Bpf } from '../../runtime/sys/bpf.js';
import type { LinuxDeviceCgroup } from '../../runtime/cgroups/types.js';

/** Records every call; the kernel state is a list of attached program ids per cgroup. */
class FakeBpf implements Bpf {
  calls: string[] = [];
  attached: number[];
  open = new Set<number>();
  private nextFd = 100;
  private nextId = 50;
  private progOfFd = new Map<number, number>();
  loaded: Buffer[] = [];
  hidden = new Set<number>();
  fail: Partial<Record<'load' | 'attach' | 'detach' | 'open', string>> = {};

  constructor(attached: number[] = []) {
    this.attached = [...attached];
  }
  private fd(kind: string, prog?: number): number {
    const fd = this.nextFd++;
    this.open.add(fd);
    if (prog !== undefined) this.progOfFd.set(fd, prog);
    this.calls.push(`${kind} -> fd ${fd}`);
    return fd;
  }
  openCgroup(path: string): number {
    if (this.fail.open) throw new BpfError(`cannot get dir FD for ${path}: ${this.fail.open}`, 'ENOENT');
    return this.fd(`open ${path}`);
  }
  close(fd: number): void {
    assert.ok(this.open.delete(fd), `close of fd ${fd}, which is not open`);
    this.calls.push(`close ${fd}`);
  }
  attachedCgroupDevicePrograms(cgroupFd: number): number[] {
    this.calls.push(`query ${cgroupFd}`);
    return [...this.attached];
  }
  loadCgroupDeviceProgram(program: Buffer, license: string): number {
    if (this.fail.load) throw new BpfError(`BPF_PROG_LOAD (BPF_PROG_TYPE_CGROUP_DEVICE) failed: ${this.fail.load}`, 'EACCES');
    assert.equal(license, 'Apache');
    this.loaded.push(program);
    return this.fd('load', this.nextId++);
  }
  programFd(id: number): number | undefined {
    if (this.hidden.has(id)) {
      this.calls.push(`get ${id} -> hidden`);
      return undefined;
    }
    return this.fd(`get ${id}`, id);
  }
  attachCgroupDevice(cgroupFd: number, programFd: number): void {
    if (this.fail.attach) throw new BpfError(`failed to call BPF_PROG_ATTACH (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI): ${this.fail.attach}`, 'EINVAL');
    this.calls.push(`attach ${cgroupFd} ${programFd}`);
    this.attached.push(this.progOfFd.get(programFd)!);
  }
  detachCgroupDevice(cgroupFd: number, programFd: number): void {
    if (this.fail.detach) throw new BpfError(`failed to call BPF_PROG_DETACH (BPF_CGROUP_DEVICE): ${this.fail.detach}`, 'EPERM');
    this.calls.push(`detach ${cgroupFd} ${programFd}`);
    const id = this.progOfFd.get(programFd)!;
    this.attached = this.attached.filter((x) => x !== id);
  }
}

const RULES: LinuxDeviceCgroup[] = [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }];

test('replacing filters: the new program is attached before the old ones are detached', () => {
  const b = new FakeBpf([7, 8]);
  applyDeviceRules('/sys/fs/cgroup/c1', RULES, b);
  assert.deepEqual(b.calls, [
    'open /sys/fs/cgroup/c1 -> fd 100',
    'query 100',
    'load -> fd 101',
    'attach 100 101',
    'close 101',
    'get 7 -> fd 102', 'detach 100 102', 'close 102',
    'get 8 -> fd 103', 'detach 100 103', 'close 103',
    'close 100',
  ]);
  assert.deepEqual(b.attached, [50], 'only the new program is left');
  assert.deepEqual(b.loaded[0], generateDeviceFilter(RULES.map(parseDeviceRule)).program);
  assert.equal(b.open.size, 0);
});

test('a first filter: nothing to detach; programs an LSM hides from us are left attached', () => {
  const first = new FakeBpf();
  applyDeviceRules('/c', RULES, first);
  assert.deepEqual(first.calls, ['open /c -> fd 100', 'query 100', 'load -> fd 101', 'attach 100 101', 'close 101', 'close 100']);
  const b = new FakeBpf([7, 9]);
  b.hidden.add(7);
  applyDeviceRules('/c', RULES, b);
  assert.deepEqual(b.attached, [7, 50]);
  assert.equal(b.open.size, 0);
});

test('failures: nothing detached before the new program is in, every fd closed, clear errors', () => {
  const load = new FakeBpf([7]);
  load.fail.load = 'permission denied: verifier log:\nR0 !read_ok';
  assert.throws(() => applyDeviceRules('/c', RULES, load), /BPF_PROG_LOAD \(BPF_PROG_TYPE_CGROUP_DEVICE\) failed: permission denied: verifier log:\nR0 !read_ok/);
  assert.deepEqual(load.attached, [7], 'the old filter still protects the cgroup');
  assert.equal(load.open.size, 0);

  const attach = new FakeBpf([7]);
  attach.fail.attach = 'invalid argument';
  assert.throws(() => applyDeviceRules('/c', RULES, attach), /BPF_PROG_ATTACH .*: invalid argument/);
  assert.deepEqual(attach.attached, [7]);
  assert.equal(attach.open.size, 0);

  const detach = new FakeBpf([7]);
  detach.fail.detach = 'operation not permitted';
  assert.throws(() => applyDeviceRules('/c', RULES, detach), /removing the old device filter \(program 7\): failed to call BPF_PROG_DETACH \(BPF_CGROUP_DEVICE\): operation not permitted/);
  assert.deepEqual(detach.attached, [7, 50], 'both attached: stricter than either, never looser');
  assert.equal(detach.open.size, 0);

  // Rules that cannot be compiled never reach the kernel.
  const bad = new FakeBpf([7]);
  assert.throws(() => applyDeviceRules('/c', [{ allow: true, type: 'x', access: 'r' }], bad), /invalid cgroup device type "x"/);
  assert.throws(() => applyDeviceRules('/c', [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'r' }], bad), /cannot punch hole/);
  assert.deepEqual(bad.calls, []);
});

test('runc skips bpf failures only in a user namespace or when every rule allows rwm', () => {
  assert.equal(canSkipDeviceFilterError(RULES, true), true);
  assert.equal(canSkipDeviceFilterError(RULES, false), false);
  assert.equal(canSkipDeviceFilterError([{ allow: true, access: 'rwm' }, { allow: true, type: 'c', major: 1, access: 'mwr' }], false), true);
  assert.equal(canSkipDeviceFilterError([{ allow: true, type: 'c', major: 1, access: 'rw' }], false), false);
});

test('the v2 driver installs the filter for device rules, and only for them', (t) => {
  const tree = new FakeCgroupTree({ mode: 'v2' });
  const b = new FakeBpf();
  setBpfForTesting(b);
  t.after(() => {
    setBpfForTesting(undefined);
    tree.cleanup();
  });
  const m = cgroupManager({ id: 'c1', systemd: false }, tree.host());
  m.create();
  assert.deepEqual(m.apply({ pids: { limit: 3 } }), []);
  assert.deepEqual(b.calls, [], 'no device rules: bpf(2) is not used');
  assert.deepEqual(m.apply({ devices: RULES }), [], 'no warning any more');
  assert.equal(b.calls[0], `open ${tree.root}/c1 -> fd 100`);
  assert.deepEqual(b.attached, [50]);
  assert.throws(() => m.apply({ devices: [{ allow: true, type: 'x', access: 'r' }] }), /invalid cgroup device type "x"/);
  // A bpf failure is an error for restrictive rules (we are not in a user namespace here)...
  b.fail.load = 'operation not permitted';
  if (!isInUserNs()) assert.throws(() => m.apply({ devices: RULES }), /BPF_PROG_LOAD .* failed: operation not permitted/);
  // ...and ignored, as runc does, when the rules allow everything anyway.
  assert.deepEqual(m.apply({ devices: [{ allow: true, access: 'rwm' }] }), []);
  assert.equal(b.open.size, 0);
});

function isInUserNs(): boolean {
  try {
    const m = readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/);
    return !(m[0] === '0' && m[1] === '0' && m[2] === '4294967295');
  } catch {
    return false;
  }
}
