import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileInitPlan, type InitPlanInput } from '../../runtime/plan/compile.js';
import { MountOption, Tag, type PlanRecord } from '../../runtime/plan/records.js';
import { defaultSpec } from '../../runtime/spec/default-config.js';
import { realHostView } from '../../runtime/host-view.js';

const rootfs = mkdtempSync(join(tmpdir(), 'tsrun-plan-pidns-'));
process.on('exit', () => rmSync(rootfs, { recursive: true, force: true }));

function compile(edit: (spec: any) => void): PlanRecord[] {
  const spec: any = defaultSpec({ rootless: false });
  spec.process.terminal = false;
  edit(spec);
  const input: InitPlanInput = {
    host: realHostView, id: 'c1', spec, bundle: '/b', rootfs, execFifo: '/run/tsrun/c1/exec.fifo', cgroupProcs: [],
    cgroups: { version: 1, paths: {} }, noPivot: false, noNewKeyring: false, preserveFds: 0, foreground: false, hookBarrier: false,
  };
  return compileInitPlan(input);
}

const joinPid = (spec: any) => {
  spec.linux.namespaces = spec.linux.namespaces.map((ns: any) => (ns.type === 'pid' ? { type: 'pid', path: '/proc/42/ns/pid' } : ns));
};
const procMounts = (plan: PlanRecord[]) => plan.filter((r): r is Extract<PlanRecord, { tag: typeof Tag.MOUNT }> => r.tag === Tag.MOUNT && r.fstype === 'proc');

test('a joined pid namespace gets the two-stage init: PIDNS_LATE among the executor\'s records, procfs for that namespace', () => {
  const plan = compile((s) => {
    joinPid(s);
    s.mounts.push({ destination: '/other-proc', type: 'proc', source: 'proc', options: ['hidepid=2'] });
  });
  const at = plan.findIndex((r) => r.tag === Tag.PIDNS_LATE);
  assert.ok(at > 0 && at < plan.findIndex((r) => r.tag === Tag.ROOTFS));
  assert.equal(plan.filter((r) => r.tag === Tag.PIDNS_LATE).length, 1);
  const procs = procMounts(plan);
  assert.equal(procs.length, 2);
  for (const m of procs) assert.ok(m.options & MountOption.ProcOfJoinedPidns, m.target);
  // Not a bind of /proc, which keeps its meaning.
  assert.ok(plan.some((r) => r.tag === Tag.NS_JOIN && r.flag === 0x20000000));
});

test('no PIDNS_LATE for a pid namespace of the container\'s own, nor with a user namespace of its own', () => {
  for (const plan of [
    compile(() => undefined),
    compile((s) => {
      joinPid(s);
      s.linux.namespaces.push({ type: 'user' });
      s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    }),
  ]) {
    assert.ok(!plan.some((r) => r.tag === Tag.PIDNS_LATE));
    for (const m of procMounts(plan)) assert.equal(m.options & MountOption.ProcOfJoinedPidns, 0);
  }
});

test('a seccomp listener with a joined pid namespace is refused with a clear error', () => {
  assert.throws(() => compile((s) => {
    joinPid(s);
    s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] };
  }), /seccomp notify \(listenerPath\) is not supported for a container that joins the pid namespace of another/);
});
