// Real plans as the seed corpus of the plan decoder's fuzzer (native/fuzz, `make fuzz-plan`):
// with TSRUN_PLAN_SEEDS=DIR the bodies (header stripped, as plan_decode takes them) are written
// there; without it the test only checks that every seed encodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../helpers/harness.js';
import { compileInitPlan } from '../../runtime/plan/compile.js';
import { compileExecPlan } from '../../runtime/plan/exec-plan.js';
import { encodePlan } from '../../runtime/plan/encode.js';
import { defaultSpec } from '../../runtime/spec/default-config.js';
import { realHostView } from '../../runtime/host-view.js';

const HEADER = 16; // magic, version, body length

function initPlan(edit: (c: any) => void): Buffer {
  const spec: any = JSON.parse(JSON.stringify(defaultSpec({ rootless: false })));
  edit(spec);
  const plan = compileInitPlan({
    host: realHostView, id: 'seed', spec, bundle: '/b', rootfs: '/b/rootfs', execFifo: '/run/tsrun/seed/exec.fifo', cgroupProcs: ['/sys/fs/cgroup/seed/cgroup.procs'],
    cgroups: { version: 2, paths: { '': '/sys/fs/cgroup/seed' } }, noPivot: false, noNewKeyring: false, preserveFds: 0, foreground: false, hookBarrier: false, warnings: [],
  });
  return encodePlan(plan);
}

test('real plans encode and become the decoder fuzzer\'s seeds', () => {
  const docker = JSON.parse(readFileSync(join(REPO, 'test/fixtures/docker-default-seccomp.json'), 'utf8'));
  const seeds: Record<string, Buffer> = {
    default: initPlan(() => undefined),
    userns: initPlan((c) => {
      c.linux.namespaces.push({ type: 'user' });
      c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    }),
    full: initPlan((c) => {
      c.hostname = 'seed';
      c.linux.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '4096' };
      c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }];
      c.process.oomScoreAdj = 100;
      c.linux.seccomp = docker;
      c.mounts.push({ destination: '/data', type: 'bind', source: '/tmp', options: ['rbind', 'ro'] });
      c.linux.devices = [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666 }];
      c.hooks = { createContainer: [{ path: '/bin/true', args: ['true'], env: ['A=b'] }], startContainer: [{ path: '/bin/true' }] };
    }),
    exec: encodePlan(compileExecPlan({
      host: realHostView, process: { args: ['sh', '-c', 'echo hi'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } } as any,
      namespaces: [{ type: 'mount', path: '/proc/1/ns/mnt' }, { type: 'pid', path: '/proc/1/ns/pid' }],
      cgroupProcs: ['/sys/fs/cgroup/seed/cgroup.procs'], preserveFds: 0, foreground: true, home: '/root',
      seccomp: docker,
    })),
  };
  const dir = process.env.TSRUN_PLAN_SEEDS;
  if (dir) mkdirSync(dir, { recursive: true });
  for (const [name, plan] of Object.entries(seeds)) {
    assert.equal(plan.subarray(0, 8).toString(), 'TSRNPLAN');
    assert.equal(plan.readUInt32LE(12), plan.length - HEADER);
    if (dir) writeFileSync(join(dir, `${name}.plan`), plan.subarray(HEADER));
  }
});
