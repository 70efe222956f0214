import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileInitPlan } from '../../runtime/plan/compile.js';
import { encodePlan } from '../../runtime/plan/encode.js';
import { Tag } from '../../runtime/plan/records.js';
import { defaultSpec } from '../../runtime/spec/default-config.js';
import { compileSeccomp } from '../../runtime/seccomp/compile.js';
import { listenerRecord } from '../../runtime/plan/seccomp-listener.js';
import { realHostView } from '../../runtime/host-view.js';

const rootfs = mkdtempSync(join(tmpdir(), 'tsrun-seccomp-plan-'));
mkdirSync(join(rootfs, 'etc'));
writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
process.on('exit', () => rmSync(rootfs, { recursive: true, force: true }));

test('the init plan carries one SECCOMP record after the process records; warnings reach the caller', () => {
  const spec: any = defaultSpec({ rootless: false });
  spec.process.terminal = false;
  spec.linux.seccomp = { defaultAction: 'SCMP_ACT_ERRNO', flags: ['SECCOMP_FILTER_FLAG_LOG'], syscalls: [{ names: ['read', 'bogus_call'], action: 'SCMP_ACT_ALLOW' }] };
  const warnings: string[] = [];
  const plan = compileInitPlan({
    host: realHostView, id: 'c1', spec, bundle: '/b', rootfs, execFifo: '/run/tsrun/c1/exec.fifo', cgroupProcs: [],
    cgroups: { version: 2, paths: { '': '/sys/fs/cgroup/c1' } },
    noPivot: false, noNewKeyring: false, preserveFds: 0, foreground: false, hookBarrier: false, warnings,
  });
  const records = plan.filter((r) => r.tag === Tag.SECCOMP);
  assert.equal(records.length, 1);
  const r = records[0] as any;
  assert.equal(r.flags, 2);
  assert.deepEqual(r.program, compileSeccomp(spec.linux.seccomp).program);
  assert.equal(plan[plan.length - 1], r);
  assert.match(warnings.join('\n'), /"bogus_call"/);
  assert.ok(encodePlan(plan).length > r.program.length);
});

test('no seccomp, no record', () => {
  const spec: any = defaultSpec({ rootless: false });
  spec.process.terminal = false;
  delete spec.linux.seccomp;
  const plan = compileInitPlan({
    host: realHostView, id: 'c1', spec, bundle: '/b', rootfs, execFifo: '/f', cgroupProcs: [], cgroups: { version: 2, paths: { '': '/sys/fs/cgroup/c1' } },
    noPivot: false, noNewKeyring: false, preserveFds: 0, foreground: false, hookBarrier: false,
  });
  assert.equal(plan.some((r) => r.tag === Tag.SECCOMP), false);
});

test('a NOTIFY profile: NEW_LISTENER, then SECCOMP_LISTENER whose JSON takes the pid at its offsets', () => {
  const spec: any = defaultSpec({ rootless: false });
  spec.process.terminal = false;
  spec.annotations = { a: 'é"' };
  spec.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock', listenerMetadata: 'm', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] };
  const plan = compileInitPlan({
    host: realHostView, id: 'c1', spec, bundle: '/b', rootfs, execFifo: '/f', cgroupProcs: [], cgroups: { version: 2, paths: { '': '/sys/fs/cgroup/c1' } },
    noPivot: false, noNewKeyring: false, preserveFds: 0, foreground: false, hookBarrier: false,
  });
  const seccomp = plan.find((r) => r.tag === Tag.SECCOMP) as any;
  assert.equal(seccomp.flags & 8, 8);
  const l = plan[plan.length - 1] as any;
  assert.equal(l.tag, Tag.SECCOMP_LISTENER);
  assert.equal(l.path, '/run/agent.sock');
  // what the executor does: the decimal pid written in at each byte offset
  const bytes = Buffer.from(l.json);
  let out = '', at = 0;
  for (const o of l.pidOffsets) { out += bytes.subarray(at, o).toString() + '4242'; at = o; }
  out += bytes.subarray(at).toString();
  assert.deepEqual(JSON.parse(out), {
    ociVersion: spec.ociVersion, fds: ['seccompFd'], pid: 4242, metadata: 'm',
    state: { ociVersion: spec.ociVersion, id: 'c1', status: 'creating', pid: 4242, bundle: '/b', annotations: { a: 'é"' } },
  });
  // without NOTIFY there is no listener record, even with a listenerPath
  spec.linux.seccomp.syscalls[0].action = 'SCMP_ACT_ERRNO';
  const plain = compileInitPlan({
    host: realHostView, id: 'c1', spec, bundle: '/b', rootfs, execFifo: '/f', cgroupProcs: [], cgroups: { version: 2, paths: { '': '/sys/fs/cgroup/c1' } },
    noPivot: false, noNewKeyring: false, preserveFds: 0, foreground: false, hookBarrier: false,
  });
  assert.equal(plain.some((r) => r.tag === Tag.SECCOMP_LISTENER), false);
});

test("exec's listener document: status running, the init's pid in the state, only the process's pid written in", () => {
  const r = listenerRecord({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/a.sock' }, { ociVersion: '1.2.0', id: 'c', bundle: '/b', status: 'running', initPid: 77 })!;
  assert.equal(r.pidOffsets.length, 1);
  const json = r.json.slice(0, r.pidOffsets[0]) + '88' + r.json.slice(r.pidOffsets[0]);
  assert.deepEqual(JSON.parse(json), { ociVersion: '1.2.0', fds: ['seccompFd'], pid: 88, state: { ociVersion: '1.2.0', id: 'c', status: 'running', pid: 77, bundle: '/b' } });
  assert.equal(listenerRecord({ defaultAction: 'SCMP_ACT_ALLOW' }, { ociVersion: '1', id: 'c', bundle: '/b', status: 'running' }), undefined);
});
