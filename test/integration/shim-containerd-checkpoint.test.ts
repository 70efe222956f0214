// Checkpoint and restore through containerd itself, with ordinary FIFO stdio (no --null-io):
// `ctr run -d` a counting loop from an imported image, `ctr containers checkpoint --task` (the
// checkpoint goes into containerd's content store as an image), the task and container removed,
// then `ctr containers restore --live` from that image. Under a private containerd 1.6.20
// (Debian) and containerd 2.1 (the stack), with io.containerd.tsrun.v2 and, beside it, containerd's
// runc shim driving runc 1.3: the loop counts on from where it was checkpointed, the tasks' events
// come in the same order for both, and nothing of tsrun's is left.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, makeBundle, REPO, shimDaemons, cgroupDirsNamed, childEnv, stopDaemon } from '../helpers/harness.js';
import { modernStack, containerdFlavours, privateContainerdConfig, removeCtrObjects, unmountBelow, hostDirs } from '../helpers/stack.js';
import { ociImage } from '../helpers/oci-image.js';

const BIN = join(REPO, 'bin');
const fixedDirs = hostDirs(['/run/containerd', '/run/containerd/s', '/run/containerd/tsrun', '/run/containerd/fifo', '/run/containerd/runc']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const baseEnv = childEnv;

const stack = modernStack();
const flavours = containerdFlavours();

const LOOP = 'i=0; while true; do i=$((i+1)); echo $i; echo $i > /count; sleep 0.1; done';

for (const f of flavours) {
  const skip = needsRoot || f.skip || (stack.stack ? false : 'needs CRIU 4.2 and runc 1.3 from the stack');
  describe(`checkpoint and restore through ${f.name}`, { skip }, () => {
    const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'tsrun-ctrd-criu-'));
    const namespace = `tsrun-criu-${f.configVersion}-${process.pid}`;
    const tsrunState = `/run/containerd/tsrun/${namespace}`;
    let daemon: ChildProcess | undefined;
    let rootfs = '';
    let image = '';

    const ctr = (args: string[]) => {
      const r = spawnSync(f.ctr, ['-a', join(dir, 'containerd.sock'), '-n', namespace, ...args], { encoding: 'utf8', timeout: 120_000, env: baseEnv });
      if (r.error) throw r.error;
      return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    const ok = (args: string[]) => {
      const r = ctr(args);
      assert.equal(r.status, 0, `ctr ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };

    before(async () => {
      privateContainerdConfig(dir, f.configVersion);
      // CRIU 4.2 and runc 1.3 from the stack for both containerds (Debian's criu 3.17 cannot run on
      // this kernel); containerd 1.6 keeps its own runc shim, given runc 1.3 by name.
      const tools = join(dir, 'tools');
      mkdirSync(tools);
      for (const name of ['criu', 'runc']) symlinkSync(join(stack.stack!.bin, name), join(tools, name));
      const path = `${BIN}:${tools}:${f.configVersion === 3 ? `${stack.stack!.bin}:` : ''}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
      // containerd unpacks a checkpoint image for a restore into a temporary directory it never
      // removes (runc's shim or tsrun's alike): in the test's directory, not /tmp.
      const temp = join(dir, 'tmp');
      mkdirSync(temp);
      const env: NodeJS.ProcessEnv = { ...baseEnv, PATH: path, TMPDIR: temp };
      delete env.XDG_RUNTIME_DIR;
      daemon = spawn('unshare', ['--net', '--', f.containerd, '--config', join(dir, 'config.toml')], { stdio: ['ignore', 'ignore', 'ignore'], env });
      for (let i = 0; i < 300 && ctr(['version']).status !== 0; i++) await sleep(100);
      assert.equal(ctr(['version']).status, 0, 'containerd did not come up');
      // CRIU probes TCP repair over loopback: containerd's private network namespace needs lo up.
      assert.equal(spawnSync('nsenter', ['-t', String(daemon.pid), '-n', 'ip', 'link', 'set', 'lo', 'up']).status, 0);
      rootfs = join(makeBundle(), 'rootfs');
      image = `docker.io/library/tsrun-criu-test:${process.pid}`;
      ok(['images', 'import', ociImage(dir, rootfs, image)]);
    });

    after(async () => {
      if (!dir) return;
      removeCtrObjects(ctr, namespace);
      await stopDaemon(daemon);
      unmountBelow(dir, rootfs);
      rmSync(dir, { recursive: true, force: true });
      if (rootfs) rmSync(join(rootfs, '..'), { recursive: true, force: true });
      for (const h of readdirSync('/sys/fs/cgroup')) {
        const p = join('/sys/fs/cgroup', h, namespace);
        if (existsSync(p)) spawnSync('find', [p, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
      }
      rmSync(tsrunState, { recursive: true, force: true });
      // the runc shim's runc root for this namespace (it keeps it, as tsrun's shim keeps its own)
      rmSync(`/run/containerd/runc/${namespace}`, { recursive: true, force: true });
      fixedDirs.remove();
    });

    /** One checkpoint/restore round trip; returns the task events containerd published, in order. */
    const roundTrip = async (runtime: 'io.containerd.tsrun.v2' | 'io.containerd.runc.v2', id: string) => {
      const events = spawn(f.ctr, ['-a', join(dir, 'containerd.sock'), '-n', namespace, 'events'], { stdio: ['ignore', 'pipe', 'ignore'], env: baseEnv });
      let seen = '';
      events.stdout!.on('data', (d: Buffer) => { seen += d.toString(); });
      await sleep(300);
      const ref = `docker.io/library/tsrun-criu-checkpoint:${id}`;
      const countFile = () => join(dir, 'state', 'io.containerd.runtime.v2.task', namespace, id, 'rootfs', 'count');
      const count = () => { try { return Number(readFileSync(countFile(), 'utf8').trim() || 0); } catch { return 0; } };
      const runcBinary = runtime === 'io.containerd.runc.v2' ? ['--runc-binary', stack.stack!.runc] : [];
      try {
        ok(['run', '--runtime', runtime, ...runcBinary, '-d', image, id, '/bin/sh', '-c', LOOP]);
        for (let i = 0; i < 200 && count() < 10; i++) await sleep(100);
        const before = count();
        assert.ok(before >= 10, `counted to ${before}`);
        const criuLog = (stderr: string) => {
          const log = /path= (\S+)/.exec(stderr)?.[1];
          try { return readFileSync(log!, 'utf8').split('\n').filter((l) => l.includes('Error')).join('\n'); } catch { return ''; }
        };
        const r = ctr(['containers', 'checkpoint', '--task', id, ref]);
        assert.equal(r.status, 0, `${r.stderr}${criuLog(r.stderr)}`);
        assert.match(ok(['images', 'ls', '-q']), new RegExp(ref.replace(/[.:/]/g, '\\$&')));
        // The container ran on through the checkpoint (containerd pauses it around the dump only).
        assert.match(ok(['tasks', 'ls']), new RegExp(`${id}\\s+\\d+\\s+RUNNING`));
        ok(['tasks', 'kill', '-s', 'KILL', id]);
        for (let i = 0; i < 100 && !/STOPPED/.test(ok(['tasks', 'ls'])); i++) await sleep(100);
        ok(['tasks', 'rm', id]);
        ok(['containers', 'rm', id]);
        assert.ok(!existsSync(countFile()), 'the container\'s snapshot went with it');

        const restored = ctr(['containers', 'restore', '--live', id, ref]);
        assert.equal(restored.status, 0, `${restored.stderr}${criuLog(restored.stderr)}`);
        assert.match(ok(['tasks', 'ls']), new RegExp(`${id}\\s+\\d+\\s+RUNNING`));
        // A fresh snapshot: the first number the restored loop writes tells where it goes on from.
        for (let i = 0; i < 200 && count() === 0; i++) await sleep(20);
        const first = count();
        assert.ok(first > before, `counting on from ${before} (first after restore: ${first}), not from zero`);
        for (let i = 0; i < 100 && count() < first + 3; i++) await sleep(100);
        assert.ok(count() >= first + 3, 'the restored loop counts');

        ok(['tasks', 'kill', '-s', 'KILL', id]);
        for (let i = 0; i < 100 && !/STOPPED/.test(ok(['tasks', 'ls'])); i++) await sleep(100);
        ok(['tasks', 'rm', id]);
        ok(['containers', 'rm', id]);
        ok(['images', 'rm', ref]);
        await sleep(500);
      } finally {
        events.kill();
        ctr(['tasks', 'kill', '-s', 'KILL', id]);
        ctr(['tasks', 'rm', '-f', id]);
        ctr(['containers', 'rm', id]);
        ctr(['images', 'rm', ref]);
      }
      return seen.split('\n').filter((l) => l.includes(id)).map((l) => /\/(tasks|containers|snapshot|images|content)\/\S+/.exec(l)?.[0]).filter((t): t is string => !!t && t.startsWith('/tasks/'));
    };

    test('ctr run -d (FIFO stdio), ctr containers checkpoint --task, ctr containers restore --live: tsrun as runc 1.3', async () => {
      const tsrunEvents = await roundTrip('io.containerd.tsrun.v2', `criu-t-${process.pid}`);
      const runcEvents = await roundTrip('io.containerd.runc.v2', `criu-r-${process.pid}`);
      // runc's shim publishes /tasks/delete itself and now and then loses it as it exits right after
      // (seen 1 run in 8); tsrun's shim delivers every event before it exits (checked just below)
      const withoutDelete = (e: string[]) => e.filter((t) => t !== '/tasks/delete');
      assert.deepEqual(withoutDelete(tsrunEvents), withoutDelete(runcEvents));
      assert.deepEqual(tsrunEvents.filter((t) => ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete'].includes(t)), [
        '/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete',
        '/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete',
      ]);
      // containerd pauses the task around the dump (and neither shim's /tasks/checkpointed is forwarded).
      assert.deepEqual(tsrunEvents.slice(0, 4), ['/tasks/create', '/tasks/start', '/tasks/paused', '/tasks/resumed']);
      // Nothing of tsrun's left: no shim (it exits with its last task), state, cgroup or mount.
      for (let i = 0; i < 50 && shimDaemons(namespace).length; i++) await sleep(100);
      assert.deepEqual(shimDaemons(namespace), []);
      assert.deepEqual(existsSync(tsrunState) ? readdirSync(tsrunState) : [], []);
      assert.deepEqual(cgroupDirsNamed(`criu-t-${process.pid}`), []);
      assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`criu-t-${process.pid}`)).join('\n'), '');
    });
  });
}
