// containerd-shim-tsrun-v2 under a private containerd 1.6.20 (Debian 12) and containerd 2.1 (the
// stack): `ctr run --runtime io.containerd.tsrun.v2` output and exit status, a detached task with
// exec, ps, pause/resume, metrics and kill, two containers served by one shim process, and
// nothing left afterwards (shim processes, runtime state, mounts, cgroups).
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, makeBundle, REPO, shimDaemons, childEnv, stopDaemon } from '../helpers/harness.js';
import { modernStack, containerdFlavours, privateContainerdConfig, removeCtrObjects, unmountBelow, removeCgroupTrees, hostDirs, ctrEvents } from '../helpers/stack.js';
import { ociImage } from '../helpers/oci-image.js';
import * as grpc from '@grpc/grpc-js';
import { task, packJsonAny, OCI_LINUX_RESOURCES_TYPE_URL } from '../../proto/index.js';

const BIN = join(REPO, 'bin');
const fixedDirs = hostDirs(['/run/containerd', '/run/containerd/s', '/run/containerd/tsrun', '/run/containerd/fifo']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const baseEnv = childEnv;


const stack = modernStack();
const flavours = containerdFlavours();

for (const f of flavours) {
  const skip = needsRoot || f.skip;
  describe(`containerd-shim-tsrun-v2 under ${f.name}`, { skip }, () => {
    const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'tsrun-shim-ctrd-'));
    const namespace = `tsrun-shim-${f.configVersion}-${process.pid}`;
    const tsrunState = `/run/containerd/tsrun/${namespace}`;
    let daemon: ChildProcess | undefined;
    let rootfs = '';

    const ctr = (args: string[]) => {
      const r = spawnSync(f.ctr, ['-a', join(dir, 'containerd.sock'), '-n', namespace, ...args], { encoding: 'utf8', timeout: 60_000, env: baseEnv });
      if (r.error) throw r.error;
      return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    const cgroupParents = () => readdirSync('/sys/fs/cgroup').map((h) => join('/sys/fs/cgroup', h, namespace)).filter((p) => existsSync(p));

    let containerdPath = '';
    const startContainerd = async () => {
      daemon = spawn('unshare', ['--net', '--', f.containerd, '--config', join(dir, 'config.toml')], { stdio: ['ignore', 'ignore', 'ignore'], env: { ...baseEnv, PATH: containerdPath } });
      for (let i = 0; i < 300 && ctr(['version']).status !== 0; i++) await sleep(100);
      assert.equal(ctr(['version']).status, 0, 'containerd did not come up');
    };
    const stopContainerd = (signal: NodeJS.Signals) => stopDaemon(daemon, signal);

    /** The namespace's shim socket: sha256(address/namespace/group) as the runc shim names it. */
    const groupSocket = () => join('/run/containerd/s', createHash('sha256').update(`${join(dir, 'containerd.sock')}/${namespace}/tsrun-namespace`).digest('hex'));
    let image = '';
    /** A busybox image built from the rootfs, imported once. */
    const importedImage = () => {
      if (image) return image;
      const name = `docker.io/library/tsrun-shim-test:${process.pid}`;
      const imp = ctr(['images', 'import', ociImage(dir, rootfs, name)]);
      assert.equal(imp.status, 0, imp.stderr);
      return (image = name);
    };

    before(async () => {
      privateContainerdConfig(dir, f.configVersion);
      // containerd finds io.containerd.tsrun.v2 as containerd-shim-tsrun-v2 on its PATH: ours first.
      const path = `${BIN}:${f.configVersion === 3 ? `${stack.stack?.bin}:` : ''}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
      containerdPath = path;
      await startContainerd();
      rootfs = join(makeBundle(), 'rootfs');
    });

    after(async () => {
      if (!dir) return;
      removeCtrObjects(ctr, namespace);
      await stopContainerd('SIGTERM');
      unmountBelow(dir, rootfs);
      rmSync(dir, { recursive: true, force: true });
      if (rootfs) rmSync(join(rootfs, '..'), { recursive: true, force: true });
      removeCgroupTrees(cgroupParents());
      rmSync(tsrunState, { recursive: true, force: true });
      fixedDirs.remove();
    });

    test('ctr run --rm: output and exit status', () => {
      const r = ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '--rm', '--rootfs', rootfs, `run-${process.pid}`, '/bin/sh', '-c', 'echo out; echo err >&2; exit 3']);
      assert.equal(r.status, 3, r.stderr);
      assert.equal(r.stdout, 'out\n');
      assert.equal(r.stderr, 'err\n');
    });

    test('--log-uri file:// and binary:// (a logger reading fds 3 and 4, closing 5)', () => {
      const file = join(dir, 'file.log');
      let r = ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '--log-uri', `file://${file}`, '--rm', '--rootfs', rootfs, `lf-${process.pid}`, '/bin/sh', '-c', 'echo fo; echo fe >&2']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(readFileSync(file, 'utf8'), 'fo\nfe\n');
      const logger = join(dir, 'logger.sh');
      const logged = join(dir, 'logged.txt');
      writeFileSync(logger, `#!/bin/sh\nexec 5>&-\necho "$* $CONTAINER_ID" > ${logged}\ncat <&3 >> ${logged}\ncat <&4 >> ${logged}\n`, { mode: 0o755 });
      const id = `lb-${process.pid}`;
      r = ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '--log-uri', `binary://${logger}?k=v`, '--rm', '--rootfs', rootfs, id, '/bin/sh', '-c', 'echo bo; echo be >&2; exit 2']);
      assert.equal(r.status, 2, r.stderr);
      for (let i = 0; i < 50 && !readFileSync(logged, 'utf8').includes('be'); i++) spawnSync('sleep', ['0.1']);
      assert.equal(readFileSync(logged, 'utf8'), `k v ${id}\nbo\nbe\n`);
    });

    test('an imported image: the overlay rootfs containerd sends is mounted, and unmounted at delete', async () => {
      const image = importedImage();
      const id = `img-${process.pid}`;
      const r = ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '--rm', image, id, '/bin/sh', '-c', 'awk \'$5 == "/" { for (i = 7; i <= NF; i++) if ($i == "-") print $(i + 1) }\' /proc/self/mountinfo; exit 5']);
      assert.equal(r.status, 5, r.stderr);
      assert.equal(r.stdout, 'overlay\n');
      // containerd may list the task as gone while its `delete` still runs
      const rootfsMounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`/${id}/rootfs`));
      for (let i = 0; i < 100 && rootfsMounts().length > 0; i++) await sleep(100);
      assert.deepEqual(rootfsMounts(), []);
      // ctr's own FIFOs for the task (client side: a `ctr tasks rm` would have removed them; containerd
      // deleted the task itself here, as it does whatever the shim)
      for (const d of readdirSync('/run/containerd/fifo')) {
        const fifoDir = join('/run/containerd/fifo', d);
        try { if (readdirSync(fifoDir).some((n) => n.startsWith(`${id}-`))) rmSync(fifoDir, { recursive: true, force: true }); } catch { /* gone */ }
      }
    });

    /** `ctr events` from now on: its lines so far, and stop(). */
    const events = () => ctrEvents(f.ctr, join(dir, 'containerd.sock'), namespace, baseEnv, ctr);

    test('an OOM: /tasks/oom arrives before the exit, status 137', async () => {
      const ev = await events();
      const id = `oom-${process.pid}`;
      try {
        const r = ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '--memory-limit', String(32 << 20), '--rm', '--rootfs', rootfs, id, '/bin/sh', '-c', 'tail /dev/zero']);
        assert.equal(r.status, 137, r.stderr);
        const topics = () => ev.topics(id);
        for (let i = 0; i < 50 && !topics().includes('/tasks/delete'); i++) await sleep(100);
        assert.deepEqual(topics(), ['/tasks/create', '/tasks/start', '/tasks/oom', '/tasks/exit', '/tasks/delete']);
        assert.match(ev.lines().find((l) => l.includes('/tasks/exit') && l.includes(id)) ?? '', /"exit_status":137/);
      } finally {
        ev.stop();
      }
    });

    test('two detached tasks share one shim: exec, ps, pause/resume, metrics, kill', async () => {
      const ids = [`d1-${process.pid}`, `d2-${process.pid}`];
      try {
        for (const id of ids) {
          const r = ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '-d', '--rootfs', rootfs, id, '/bin/sleep', '4331']);
          assert.equal(r.status, 0, r.stderr);
        }
        assert.equal(shimDaemons(namespace).length, 1, 'one shim serves the namespace');
        assert.ok(existsSync(groupSocket()), 'the socket is named as the runc shim names it');
        const [id] = ids;
        const ex = ctr(['tasks', 'exec', '--exec-id', 'e1', id, '/bin/sh', '-c', 'echo in; exit 4']);
        assert.deepEqual([ex.status, ex.stdout], [4, 'in\n'], ex.stderr);
        assert.equal(ctr(['tasks', 'ps', id]).stdout.trim().split('\n').length, 2);
        assert.equal(ctr(['tasks', 'pause', id]).status, 0);
        assert.match(ctr(['tasks', 'ls']).stdout, new RegExp(`${id}\\s+\\d+\\s+PAUSED`));
        assert.equal(ctr(['tasks', 'resume', id]).status, 0);
        assert.match(ctr(['tasks', 'ls']).stdout, new RegExp(`${id}\\s+\\d+\\s+RUNNING`));
        const m = ctr(['tasks', 'metrics', id]);
        assert.equal(m.status, 0, m.stderr);
        assert.match(m.stdout, /pids\.current\s+1/);
        for (const i of ids) assert.equal(ctr(['tasks', 'kill', '-s', 'KILL', i]).status, 0);
        for (let i = 0; i < 100 && (ctr(['tasks', 'ls']).stdout.match(/STOPPED/g) ?? []).length < 2; i++) await sleep(100);
        assert.equal((ctr(['tasks', 'ls']).stdout.match(/STOPPED/g) ?? []).length, 2);
      } finally {
        for (const id of ids) {
          assert.equal(ctr(['tasks', 'rm', '-f', id]).status, 0);
          assert.equal(ctr(['containers', 'rm', id]).status, 0);
        }
      }
    });

    test('ctr tasks checkpoint (the Checkpoint RPC, CRIU 4.2 on containerd\'s PATH): images written, the task goes on; with --exit it is gone', { skip: f.configVersion === 3 ? false : 'ctr 1.6 sends checkpoint options (--exit, --image-path) only for runtimes named io.containerd.runc.*; shim-containerd-checkpoint.test.ts covers 1.6' }, async () => {
      const id = `ckpt-${process.pid}`;
      const images = mkdtempSync(join(tmpdir(), 'tsrun-shim-criu-'));
      const removeCheckpointImages = (cid: string) => {
        for (const ref of ctr(['images', 'ls', '-q']).stdout.split('\n')) if (ref.startsWith(`containerd.io/checkpoint/${cid}:`)) ctr(['images', 'rm', ref]);
      };
      // CRIU probes TCP repair over loopback at start: containerd's private network namespace needs lo up.
      assert.equal(spawnSync('nsenter', ['-t', String(daemon!.pid), '-n', 'ip', 'link', 'set', 'lo', 'up']).status, 0);
      try {
        // ctr's FIFOs for stdio: the container gets the shim's pipes, which CRIU dumps as pipes.
        assert.equal(ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '-d', '--rootfs', rootfs, id, '/bin/sh', '-c', 'while true; do sleep 0.1; done']).status, 0);
        const criuErrors = (stderr: string) => {
          const log = /path= (\S+)/.exec(stderr)?.[1];
          try { return readFileSync(log!, 'utf8').split('\n').filter((l) => l.includes('Error')).join('\n'); } catch { return ''; }
        };
        let r = ctr(['tasks', 'checkpoint', '--image-path', join(images, 'a'), id]);
        assert.equal(r.status, 0, `${r.stderr}${criuErrors(r.stderr)}`);
        assert.ok(existsSync(join(images, 'a', 'inventory.img')), readdirSync(images).join(' '));
        assert.match(ctr(['tasks', 'ls']).stdout, new RegExp(`${id}\\s+\\d+\\s+RUNNING`));
        // ctr also records each checkpoint as an image named by the id and the minute: a second
        // one within the same minute would be "already exists".
        removeCheckpointImages(id);
        r = ctr(['tasks', 'checkpoint', '--exit', '--image-path', join(images, 'b'), id]);
        assert.equal(r.status, 0, `${r.stderr}${criuErrors(r.stderr)}`);
        assert.ok(existsSync(join(images, 'b', 'inventory.img')));
        for (let i = 0; i < 100 && !/STOPPED/.test(ctr(['tasks', 'ls']).stdout); i++) await sleep(100);
        assert.match(ctr(['tasks', 'ls']).stdout, new RegExp(`${id}\\s+\\d+\\s+STOPPED`));
        assert.equal(ctr(['tasks', 'rm', id]).status, 0);
        assert.equal(ctr(['containers', 'rm', id]).status, 0);
      } finally {
        ctr(['tasks', 'rm', '-f', id]);
        ctr(['containers', 'rm', id]);
        removeCheckpointImages(id);
        rmSync(images, { recursive: true, force: true });
      }
    });

    for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
      test(`containerd restarted (${signal}) while two tasks run: they keep running, and exec, kill, delete still work`, async () => {
        const ids = [`r1-${signal}-${process.pid}`, `r2-${signal}-${process.pid}`];
        try {
          for (const id of ids) {
            const r = ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '-d', '--rootfs', rootfs, id, '/bin/sleep', '4332']);
            assert.equal(r.status, 0, r.stderr);
          }
          const shims = shimDaemons(namespace);
          assert.equal(shims.length, 1);
          const pidsBefore = ctr(['tasks', 'ls']).stdout;
          await stopContainerd(signal);
          await startContainerd();
          assert.deepEqual(shimDaemons(namespace), shims, 'the same shim serves on');
          const ls = ctr(['tasks', 'ls']).stdout;
          for (const id of ids) assert.match(ls, new RegExp(`${id}\\s+\\d+\\s+RUNNING`), ls);
          const sorted = (t: string) => t.split('\n').sort().join('\n');
          assert.equal(sorted(ls), sorted(pidsBefore), 'the same pids');
          const ex = ctr(['tasks', 'exec', '--exec-id', 'after', ids[0], '/bin/sh', '-c', 'echo back; exit 6']);
          assert.deepEqual([ex.status, ex.stdout], [6, 'back\n'], ex.stderr);
          assert.equal(ctr(['tasks', 'kill', '-s', 'KILL', ids[0]]).status, 0);
          for (let i = 0; i < 100 && !new RegExp(`${ids[0]}\\s+\\d+\\s+STOPPED`).test(ctr(['tasks', 'ls']).stdout); i++) await sleep(100);
          assert.match(ctr(['tasks', 'ls']).stdout, new RegExp(`${ids[0]}\\s+\\d+\\s+STOPPED`));
          // a new container joins the shim that outlived containerd
          const r = ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '--rm', '--rootfs', rootfs, `r3-${signal}-${process.pid}`, '/bin/sh', '-c', 'exit 7']);
          assert.equal(r.status, 7, r.stderr);
          assert.deepEqual(shimDaemons(namespace), shims);
        } finally {
          for (const id of ids) {
            ctr(['tasks', 'kill', '-s', 'KILL', id]);
            for (let i = 0; i < 50 && !new RegExp(`${id}\\s+\\d+\\s+STOPPED`).test(ctr(['tasks', 'ls']).stdout); i++) await sleep(100);
            const rm = ctr(['tasks', 'rm', id]);
            assert.equal(rm.status, 0, rm.stderr);
            assert.equal(ctr(['containers', 'rm', id]).status, 0);
          }
        }
        for (let i = 0; i < 50 && shimDaemons(namespace).length > 0; i++) await sleep(100);
        assert.deepEqual(shimDaemons(namespace), [], 'the shim exits with its last container');
      });
    }

    test('--runtime-config-path: a tsrun options file (root, io_uid/io_gid, shim_cgroup, binary_name ignored)', async () => {
      const id = `opts-${process.pid}`;
      const root = join(dir, 'tsrun-root');
      const cg = `tsrun-shimcg-${process.pid}`;
      const cgDir = join('/sys/fs/cgroup/pids', cg);
      mkdirSync(cgDir);
      const conf = join(dir, 'tsrun-shim.toml');
      writeFileSync(conf, `# containerd-shim-tsrun-v2 options\nRoot = "${root}"\nio_uid = 1234\nio_gid = 2345\nShimCgroup = "/${cg}"\nBinaryName = "runc"\n`);
      try {
        const r = ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '--runtime-config-path', conf, '-d', '--rootfs', rootfs, id, '/bin/sleep', '4333']);
        assert.equal(r.status, 0, r.stderr);
        assert.ok(existsSync(join(root, namespace, id)), 'the state is under the options\' root');
        const [shim] = shimDaemons(namespace);
        assert.match(readFileSync(`/proc/${shim}/cgroup`, 'utf8'), new RegExp(`:pids:/${cg}\n`), 'the shim joined shim_cgroup');
        const ex = ctr(['tasks', 'exec', '--exec-id', 'st', id, '/bin/sh', '-c', 'stat -L -c %u:%g /proc/self/fd/1 /proc/self/fd/2']);
        assert.deepEqual([ex.status, ex.stdout], [0, '1234:2345\n1234:2345\n'], ex.stderr);
        assert.equal(ctr(['tasks', 'kill', '-s', 'KILL', id]).status, 0);
        for (let i = 0; i < 100 && !new RegExp(`${id}\\s+\\d+\\s+STOPPED`).test(ctr(['tasks', 'ls']).stdout); i++) await sleep(100);
      } finally {
        assert.equal(ctr(['tasks', 'rm', '-f', id]).status, 0);
        assert.equal(ctr(['containers', 'rm', id]).status, 0);
        for (let i = 0; i < 50 && shimDaemons(namespace).length > 0; i++) await sleep(100);
        rmdirSync(cgDir);
      }
      assert.deepEqual(readdirSync(join(root, namespace)), []);
    });

    // gRPC through containerd (1.7, and 2.1 opt-in): shim-containerd-grpc.test.ts

    test('update: containerd\'s Tasks.Update (as CRI\'s UpdateContainerResources calls it) reaches the cgroup', async () => {
      const id = `upd-${process.pid}`;
      assert.equal(ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '--memory-limit', String(64 << 20), '-d', '--rootfs', rootfs, id, '/bin/sleep', '4335']).status, 0);
      // ctr's spec mounts no cgroupfs in the container: the host's view (cgroupsPath /<namespace>/<id>)
      const limit = () => readFileSync(join('/sys/fs/cgroup/memory', namespace, id, 'memory.limit_in_bytes'), 'utf8').trim();
      try {
        assert.equal(limit(), String(64 << 20));
        // ctr has no `tasks update`: containerd's gRPC API directly (its UpdateTaskRequest has the shim's field numbers)
        const def = {
          Update: {
            path: '/containerd.services.tasks.v1.Tasks/Update', requestStream: false, responseStream: false,
            requestSerialize: (v: task.UpdateTaskRequestInit) => Buffer.from(task.UpdateTaskRequest.encode(v)), requestDeserialize: (b: Buffer) => task.UpdateTaskRequest.decode(b),
            responseSerialize: () => Buffer.alloc(0), responseDeserialize: () => ({}),
          },
        };
        const Client = grpc.makeGenericClientConstructor(def, 'Tasks');
        const client = new Client(`unix://${join(dir, 'containerd.sock')}`, grpc.credentials.createInsecure()) as unknown as { Update: Function; close(): void };
        const md = new grpc.Metadata();
        md.set('containerd-namespace', namespace);
        await new Promise((resolve, reject) => client.Update({ id, resources: packJsonAny(OCI_LINUX_RESOURCES_TYPE_URL, { memory: { limit: 96 << 20 } }) }, md, (err: Error | null) => (err ? reject(err) : resolve(undefined))));
        client.close();
        assert.equal(limit(), String(96 << 20));
      } finally {
        ctr(['tasks', 'kill', '-s', 'KILL', id]);
        for (let i = 0; i < 50 && !new RegExp(`${id}\\s+\\d+\\s+STOPPED`).test(ctr(['tasks', 'ls']).stdout); i++) await sleep(100);
        assert.equal(ctr(['tasks', 'rm', id]).status, 0);
        assert.equal(ctr(['containers', 'rm', id]).status, 0);
      }
    });

    // ctr sets the size after Start: the container may look before it arrives (0 0)
    // (busybox's stty then complains on stderr, prints nothing and exits 0)
    const SIZE_SCRIPT = 'tty; i=0; until s=$(stty size 2>/dev/null); [ -n "$s" ] || [ $i -gt 100 ]; do sleep 0.1; i=$((i+1)); done; echo "$s"; exit 4';
    test('-t: a terminal (tty, its size, the exit status)', () => {
      const id = `tty-${process.pid}`;
      const cmd = [f.ctr, '-a', join(dir, 'containerd.sock'), '-n', namespace, 'run', '--runtime', 'io.containerd.tsrun.v2', '-t', '--rm', '--rootfs', rootfs, id, '/bin/sh', '-c', SIZE_SCRIPT];
      // script(1) gives ctr the terminal it needs on its stdin
      const r = spawnSync('script', ['-qec', `stty cols 91 rows 33; ${cmd.map((a) => `'${a}'`).join(' ')}`, '/dev/null'], { encoding: 'utf8', timeout: 60_000, env: baseEnv });
      assert.equal(r.status, 4, r.stdout + r.stderr);
      assert.match(r.stdout, /\/dev\/pts\/\d+\r*\n33 91\r*\n/);
    });

    test('two namespaces at once: a shim each, both serve, both exit with their last container', async () => {
      const other = `${namespace}-b`;
      const ids = [`ns-a-${process.pid}`, `ns-b-${process.pid}`];
      const inNs = (ns: string, args: string[]) => spawnSync(f.ctr, ['-a', join(dir, 'containerd.sock'), '-n', ns, ...args], { encoding: 'utf8', timeout: 60_000, env: baseEnv });
      try {
        assert.equal(inNs(namespace, ['run', '--runtime', 'io.containerd.tsrun.v2', '-d', '--rootfs', rootfs, ids[0], '/bin/sleep', '4336']).status, 0);
        assert.equal(inNs(other, ['run', '--runtime', 'io.containerd.tsrun.v2', '-d', '--rootfs', rootfs, ids[1], '/bin/sleep', '4336']).status, 0);
        assert.equal(shimDaemons(namespace).length, 1);
        assert.equal(shimDaemons(other).length, 1);
        assert.notDeepEqual(shimDaemons(namespace), shimDaemons(other));
        assert.match(inNs(namespace, ['tasks', 'ls']).stdout, new RegExp(`${ids[0]}\\s+\\d+\\s+RUNNING`));
        assert.match(inNs(other, ['tasks', 'ls']).stdout, new RegExp(`${ids[1]}\\s+\\d+\\s+RUNNING`));
        assert.doesNotMatch(inNs(other, ['tasks', 'ls']).stdout, new RegExp(ids[0]));
        const ex = inNs(other, ['tasks', 'exec', '--exec-id', 'x', ids[1], '/bin/sh', '-c', 'exit 5']);
        assert.equal(ex.status, 5, ex.stderr);
      } finally {
        for (const [ns, id] of [[namespace, ids[0]], [other, ids[1]]]) {
          inNs(ns, ['tasks', 'kill', '-s', 'KILL', id]);
          for (let i = 0; i < 50 && !new RegExp(`${id}\\s+\\d+\\s+STOPPED`).test(inNs(ns, ['tasks', 'ls']).stdout); i++) await sleep(100);
          assert.equal(inNs(ns, ['tasks', 'rm', id]).status, 0);
          assert.equal(inNs(ns, ['containers', 'rm', id]).status, 0);
        }
      }
      for (let i = 0; i < 50 && shimDaemons(other).length + shimDaemons(namespace).length > 0; i++) await sleep(100);
      assert.deepEqual([shimDaemons(namespace), shimDaemons(other)], [[], []]);
      assert.equal(inNs(other, ['namespaces', 'rm', other]).status, 0);
      rmSync(`/run/containerd/tsrun/${other}`, { recursive: true, force: true });
      for (const p of readdirSync('/sys/fs/cgroup').map((h) => join('/sys/fs/cgroup', h, other)).filter((p) => existsSync(p))) {
        assert.deepEqual(readdirSync(p, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name), [], `${p} has container cgroups left`);
        rmdirSync(p);
      }
    });

    test('a killed shim: containerd cleans up through `delete` (container, state, socket)', async () => {
      const id = `killed-${process.pid}`;
      // from the image: the overlay the shim mounted must go too
      assert.equal(ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '-d', importedImage(), id, '/bin/sleep', '4331']).status, 0);
      assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`/${id}/rootfs`)).length, 1);
      const pid = Number(/\s(\d+)\s+RUNNING/.exec(ctr(['tasks', 'ls']).stdout)?.[1]);
      assert.ok(pid > 0);
      for (const p of shimDaemons(namespace)) process.kill(p, 'SIGKILL');
      for (let i = 0; i < 100 && ctr(['tasks', 'ls', '-q']).stdout !== ''; i++) await sleep(100);
      assert.equal(ctr(['tasks', 'ls', '-q']).stdout, '');
      assert.equal(ctr(['containers', 'rm', id]).status, 0);
      // its parent (the nearest subreaper, containerd) reaps it soon after
      const gone = () => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z'); } catch { return true; } };
      for (let i = 0; i < 100 && !gone(); i++) await sleep(100);
      assert.ok(gone(), `container process ${pid} survived its shim`);
      // containerd may list the task as gone while its `delete` still runs
      const rootfsMounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`/${id}/rootfs`));
      for (let i = 0; i < 100 && rootfsMounts().length > 0; i++) await sleep(100);
      assert.deepEqual(rootfsMounts(), []);
      // ctr's own FIFOs for the task (client side: a `ctr tasks rm` would have removed them; containerd
      // deleted the task itself here, as it does whatever the shim)
      for (const d of readdirSync('/run/containerd/fifo')) {
        const fifoDir = join('/run/containerd/fifo', d);
        try { if (readdirSync(fifoDir).some((n) => n.startsWith(`${id}-`))) rmSync(fifoDir, { recursive: true, force: true }); } catch { /* gone */ }
      }
    });

    test('nothing is left: shim processes, state, mounts, cgroups', async () => {
      for (let i = 0; i < 50 && shimDaemons(namespace).length > 0; i++) await sleep(100);
      assert.deepEqual(shimDaemons(namespace), []);
      assert.equal(ctr(['tasks', 'ls', '-q']).stdout, '');
      assert.deepEqual(existsSync(tsrunState) ? readdirSync(tsrunState) : [], []);
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(namespace));
      assert.deepEqual(mounts, []);
      // the group's socket went with its shim (stale ones are removed by `delete`)
      // (other sessions' shims come and go there: only ours is looked for)
      for (const f of [groupSocket(), `${groupSocket()}.ctl`, `${groupSocket()}.lock`]) assert.equal(existsSync(f), false, `${f} is left in /run/containerd/s`);
      for (const p of cgroupParents()) {
        const children = readdirSync(p, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
        assert.deepEqual(children, [], `${p} still has container cgroups`);
      }
    });
  });
}
