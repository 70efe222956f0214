// Issue 15: plan decisions that make tsrun behave as runc does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileInitPlan, type InitPlanInput } from '../../runtime/plan/compile.js';
import { MountOption, Tag, type PlanRecord } from '../../runtime/plan/records.js';
import { defaultSpec } from '../../runtime/spec/default-config.js';
import { joinSubCgroups, parseSubCgroups } from '../../runtime/plan/exec-plan.js';
import { realHostView } from '../../runtime/host-view.js';

const rootfs = mkdtempSync(join(tmpdir(), 'tsrun-plan-parity-'));
process.on('exit', () => rmSync(rootfs, { recursive: true, force: true }));

export function input(edit?: (spec: any) => void, extra: Partial<InitPlanInput> = {}): InitPlanInput {
  const spec: any = defaultSpec({ rootless: false });
  spec.process.terminal = false;
  edit?.(spec);
  return {
    host: realHostView, id: 'c1', spec, bundle: '/b', rootfs, execFifo: '/run/tsrun/c1/exec.fifo', cgroupProcs: ['/sys/fs/cgroup/memory/c1/cgroup.procs'],
    cgroups: { version: 1, paths: { memory: '/sys/fs/cgroup/memory/c1', cpu: '/sys/fs/cgroup/cpu/c1' } },
    noPivot: false, noNewKeyring: false, preserveFds: 0, foreground: false, hookBarrier: false, ...extra,
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const find = (plan: PlanRecord[], tag: number): any[] => plan.filter((r) => r.tag === tag);

test('proc and sysfs mounts (and the bind of /sys that stands for sysfs) need an ordinary directory as target', () => {
  const kernfs = (plan: PlanRecord[]) => find(plan, Tag.MOUNT).filter((m) => m.options & MountOption.OrdinaryDirectory).map((m) => `${m.fstype} ${m.target}`);
  assert.deepEqual(kernfs(compileInitPlan(input())), ['proc /proc', 'sysfs /sys']);
  const userns = compileInitPlan(input((s) => {
    s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'network');
    s.linux.namespaces.push({ type: 'user' });
    s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  }));
  assert.deepEqual(kernfs(userns), ['proc /proc', 'bind /sys']);
});

test('the environment is built as runc\'s init builds it (Setenv in order): a repeated name keeps its first place and its last value', () => {
  const plan = compileInitPlan(input((s) => { s.process.env = ['PATH=/bin', 'A=1', 'TERM=xterm', 'A=2', 'PATH=/usr/bin']; }));
  assert.deepEqual(find(plan, Tag.ENV).map((r) => r.value), ['PATH=/usr/bin', 'A=2', 'TERM=xterm', 'HOME=/']);
});

test('a cwd is made after the root change (MKDIR_LATE 0755), before the group-6 records; "/" needs none', () => {
  const plan = compileInitPlan(input((s) => { s.process.cwd = '/work/dir'; s.root.readonly = true; s.hostname = 'h'; }));
  const tags = plan.map((r) => r.tag);
  const at = tags.indexOf(Tag.MKDIR_LATE);
  assert.equal(tags[at - 1], Tag.CHANGE_ROOT);
  assert.ok(at < tags.indexOf(Tag.HOSTNAME) && at < tags.indexOf(Tag.ROOT_READONLY));
  assert.deepEqual(find(plan, Tag.MKDIR_LATE), [{ tag: Tag.MKDIR_LATE, path: '/work/dir', mode: 0o755 }]);
  assert.deepEqual(find(compileInitPlan(input((s) => { s.process.cwd = '/'; })), Tag.MKDIR_LATE), []);
});

test('a read-only /dev is mounted writable and remounted read-only after the root change (REMOUNT_READONLY)', () => {
  const plan = compileInitPlan(input((s) => { s.mounts.find((m: any) => m.destination === '/dev').options.push('ro'); s.root.readonly = true; }));
  const dev = find(plan, Tag.MOUNT).find((m) => m.target === '/dev');
  assert.equal(dev.flags & 1n, 0n);
  const tags = plan.map((r) => r.tag);
  assert.ok(tags.indexOf(Tag.REMOUNT_READONLY) > tags.indexOf(Tag.CHANGE_ROOT));
  assert.ok(tags.indexOf(Tag.REMOUNT_READONLY) < tags.indexOf(Tag.ROOT_READONLY));
  assert.deepEqual(find(plan, Tag.REMOUNT_READONLY), [{ tag: Tag.REMOUNT_READONLY, path: '/dev', flags: 2n | 0x1000000n }]);
  assert.deepEqual(find(compileInitPlan(input()), Tag.REMOUNT_READONLY), []);
});

test('exec --cgroup arguments read as runc 1.1 reads them, joined below the container\'s cgroups and never out of them', () => {
  assert.deepEqual(parseSubCgroups(['sub']), { '': 'sub' });
  assert.deepEqual(parseSubCgroups(['memory:a', 'pids,memory:b']), { memory: 'b', pids: 'b' });
  assert.deepEqual(parseSubCgroups([':x']), { '': 'x' });
  assert.throws(() => parseSubCgroups(['a:b:c']), /^TsrunError: invalid --cgroup argument: a:b:c$/);
  assert.throws(() => parseSubCgroups(['a', 'b']), /^TsrunError: invalid --cgroup argument: a \(missing <controller>: prefix\)$/);
  const paths = { memory: '/sys/fs/cgroup/memory/c1', pids: '/sys/fs/cgroup/pids/c1', '': '/sys/fs/cgroup/unified/c1' };
  assert.deepEqual(joinSubCgroups(paths, { '': 'x/y' }), { memory: '/sys/fs/cgroup/memory/c1/x/y', pids: '/sys/fs/cgroup/pids/c1/x/y', '': '/sys/fs/cgroup/unified/c1/x/y' });
  assert.deepEqual(joinSubCgroups(paths, { memory: 's' }), { ...paths, memory: '/sys/fs/cgroup/memory/c1/s' });
  assert.throws(() => joinSubCgroups(paths, { cpu: 's' }), /unknown controller cpu in SubCgroupPaths/);
  assert.throws(() => joinSubCgroups(paths, { memory: '../other' }), /outside the container's cgroup/);
});

test('with a new user namespace the IPC namespace is unshared by the init (NS_UNSHARE), not cloned', () => {
  const plan = compileInitPlan(input((s) => {
    s.linux.namespaces.push({ type: 'user' });
    s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  }));
  const CLONE_NEWIPC = 0x08000000;
  assert.equal(find(plan, Tag.NS_CLONE)[0].flags & CLONE_NEWIPC, 0);
  assert.equal(find(plan, Tag.NS_UNSHARE)[0].flags & CLONE_NEWIPC, CLONE_NEWIPC);
  assert.equal(find(compileInitPlan(input()), Tag.NS_CLONE)[0].flags & CLONE_NEWIPC, CLONE_NEWIPC);
});
