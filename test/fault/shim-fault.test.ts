// Fault injection in the shim: build/fault/containerd-shim-tsrun-v2 runs a shim whose library
// and task service SIGKILL the whole shim at a named step (runtime/fault.ts) of Create, Start
// or Delete, under a private containerd 1.6 started with TSRUN_FAULT_AT set. containerd must
// then clean up through the `delete` subcommand and leave nothing: no shim, container process,
// overlay mount, cgroup or runtime state; and the namespace's next container works.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, makeBundle, REPO, shimDaemons, stopDaemon } from '../helpers/harness.js';
import { privateContainerdConfig, removeCtrObjects, unmountBelow, removeCgroupTrees } from '../helpers/stack.js';
import { ociImage } from '../helpers/oci-image.js';

const FAULT_DIR = join(REPO, 'build/fault');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const skip = needsRoot || (!existsSync('/usr/bin/containerd') && 'containerd is not installed (make test-deps installs it)')
  || (!existsSync(join(FAULT_DIR, 'tsrun-shim.cjs')) && 'build/fault/tsrun-shim.cjs is not built');


describe('the shim killed at each step of Create, Start, Delete (containerd 1.6)', { skip }, () => {
  const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'tsrun-shim-fault-'));
  const namespace = `tsrun-shim-fault-${process.pid}`;
  const tsrunState = `/run/containerd/tsrun/${namespace}`;
  let daemon: ChildProcess | undefined;
  let rootfs = '';
  let image = '';
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;

  const ctr = (args: string[]) => spawnSync('/usr/bin/ctr', ['-a', join(dir, 'containerd.sock'), '-n', namespace, ...args], { encoding: 'utf8', timeout: 60_000, env });
  const startContainerd = async (faultAt: string) => {
    daemon = spawn('unshare', ['--net', '--', '/usr/bin/containerd', '--config', join(dir, 'config.toml')], {
      stdio: 'ignore',
      // the fault build's launcher first; its shim finds the executor through TSRUN_EXECUTOR
      env: { ...env, PATH: `${FAULT_DIR}:/usr/sbin:/usr/bin:/sbin:/bin`, TSRUN_FAULT_AT: faultAt, TSRUN_EXECUTOR: join(REPO, 'bin/tsrun-executor') },
    });
    for (let i = 0; i < 300 && ctr(['version']).status !== 0; i++) await sleep(100);
    assert.equal(ctr(['version']).status, 0, 'containerd did not come up');
  };
  const stopContainerd = () => stopDaemon(daemon);
  const cgroupParents = () => readdirSync('/sys/fs/cgroup').map((h) => join('/sys/fs/cgroup', h, namespace)).filter((p) => existsSync(p));

  before(async () => {
    privateContainerdConfig(dir, 2);
    rootfs = join(makeBundle(), 'rootfs');
    await startContainerd('');
    image = `docker.io/library/tsrun-shim-fault:${process.pid}`;
    const imp = ctr(['images', 'import', ociImage(dir, rootfs, image)]);
    assert.equal(imp.status, 0, imp.stderr);
  });

  after(async () => {
    if (!dir) return;
    removeCtrObjects(ctr, namespace);
    await stopContainerd();
    unmountBelow(dir);
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(rootfs, '..'), { recursive: true, force: true });
    removeCgroupTrees(cgroupParents());
    rmSync(tsrunState, { recursive: true, force: true });
  });

  // the task service's own points, and two of the library's inside the shim's Create and Delete
  // The group's sockets (native/shim-launcher.c): gone once no shim serves the namespace.
  const groupSockets = () => {
    const hex = createHash('sha256').update(`${join(dir, 'containerd.sock')}/${namespace}/tsrun-namespace`).digest('hex');
    return ['', '.ctl', '.lock'].map((x) => `/run/containerd/s/${hex}${x}`).filter((p) => existsSync(p));
  };

  // the task service's own points, two of the library's inside the shim's Create and Delete, and
  // the daemon dying before it listens (no record of the container yet: the launcher's `delete`)
  for (const step of ['shim-daemon:1', 'shim-create:1', 'create:3', 'shim-create:2', 'shim-start:1', 'delete:1', 'shim-delete:1']) {
    test(`SIGKILL at ${step}: containerd cleans up through delete, nothing is left, the next container runs`, async () => {
      await stopContainerd();
      await startContainerd(step);
      const id = `f-${step.replace(':', '-')}-${process.pid}`;
      const r = ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '--rm', image, id, '/bin/sh', '-c', 'exit 0']);
      assert.notEqual(r.status, 0, `the shim did not die at ${step}`);
      for (let i = 0; i < 100 && (ctr(['tasks', 'ls', '-q']).stdout !== '' || shimDaemons(namespace).length > 0); i++) await sleep(100);
      assert.equal(ctr(['tasks', 'ls', '-q']).stdout, '');
      assert.deepEqual(shimDaemons(namespace), []);
      ctr(['containers', 'rm', id]);
      const bundle = join(dir, 'state', 'io.containerd.runtime.v2.task', namespace, id);
      const leftMounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(bundle) || l.includes(`/${id}/`));
      for (let i = 0; i < 50 && leftMounts().length > 0; i++) await sleep(100);
      assert.deepEqual(leftMounts(), [], 'mounts left');
      assert.deepEqual(existsSync(tsrunState) ? readdirSync(tsrunState) : [], [], 'runtime state left');
      for (const p of cgroupParents()) {
        assert.deepEqual(readdirSync(p, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name), [], `${p} has container cgroups left`);
      }
      // (a zombie is gone: its parent, containerd as the nearest subreaper, reaps it when it gets to it)
      const procs = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(`/${namespace}/${id}`) && !readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.startsWith('Z');
        } catch { return false; }
      });
      for (let i = 0; i < 50 && procs().length > 0; i++) await sleep(100);
      assert.deepEqual(procs(), [], 'container processes left');
      assert.deepEqual(groupSockets(), [], 'the dead shim\'s sockets left');
      // the same namespace goes on (no fault point is hit again: a new containerd without it)
      await stopContainerd();
      await startContainerd('');
      const ok = ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '--rm', image, `${id}-ok`, '/bin/sh', '-c', 'exit 6']);
      assert.equal(ok.status, 6, ok.stderr);
    });
  }

  test('nothing is left', async () => {
    for (let i = 0; i < 50 && shimDaemons(namespace).length > 0; i++) await sleep(100);
    assert.deepEqual(shimDaemons(namespace), []);
    assert.deepEqual(groupSockets(), []);
    for (const p of cgroupParents()) rmdirSync(p);
  });
});
