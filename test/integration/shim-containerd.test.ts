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
import { needsRoot, makeBundle, REPO } from '../helpers/harness.js';
import { modernStack } from '../helpers/stack.js';

const BIN = join(REPO, 'bin');
const FIXED_DIRS = ['/run/containerd', '/run/containerd/s', '/run/containerd/tsrun', '/run/containerd/fifo'];
const preexisting = FIXED_DIRS.filter((d) => existsSync(d));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const baseEnv = (() => {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
})();

/** The tsrun shim daemons serving `namespace` (their command line names it). */
function shimProcesses(namespace: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.endsWith('tsrun-shim.cjs')) && argv.includes(namespace)) out.push(Number(p));
    } catch { /* gone */ }
  }
  return out;
}

/** A one-layer OCI image tarball of `rootfs` (uncompressed layer), named `name` for `ctr images import`. */
function ociImage(dir: string, rootfs: string, name: string): string {
  const layout = join(dir, 'oci');
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const blob = (data: Buffer) => {
    const digest = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(blobs, digest), data);
    return { digest: `sha256:${digest}`, size: data.length };
  };
  const layerTar = join(dir, 'layer.tar');
  assert.equal(spawnSync('tar', ['-C', rootfs, '-cf', layerTar, '.']).status, 0);
  const layer = blob(readFileSync(layerTar));
  const config = blob(Buffer.from(JSON.stringify({
    architecture: process.arch === 'arm64' ? 'arm64' : 'amd64', os: 'linux',
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
  })));
  const manifest = blob(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  })));
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name.split(':').pop() } }],
  }));
  const tarball = join(dir, 'image.tar');
  assert.equal(spawnSync('tar', ['-C', layout, '-cf', tarball, '.']).status, 0);
  return tarball;
}

interface Flavour { name: string; containerd: string; ctr: string; configVersion: number; skip: string | false }

const stack = modernStack();
const flavours: Flavour[] = [
  {
    name: 'containerd 1.6 (Debian)', containerd: '/usr/bin/containerd', ctr: '/usr/bin/ctr', configVersion: 2,
    skip: existsSync('/usr/bin/containerd') ? false : 'containerd is not installed (make test-deps installs it)',
  },
  {
    name: 'containerd 2.1 (stack)', containerd: stack.stack?.containerd ?? '', ctr: stack.stack?.ctr ?? '', configVersion: 3,
    skip: stack.stack ? false : (stack.skip ?? stack.error ?? 'no stack'),
  },
];

for (const f of flavours) {
  const skip = needsRoot || f.skip;
  describe(`containerd-shim-tsrun-v2 under ${f.name}`, { skip }, () => {
    const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'tsrun-shim-ctrd-'));
    const namespace = `tsrun-shim-${f.configVersion}-${process.pid}`;
    const tsrunState = `/run/containerd/tsrun/${namespace}`;
    let daemon: ChildProcess | undefined;
    let rootfs = '';
    let socketsBefore = 0;

    const ctr = (args: string[]) => {
      const r = spawnSync(f.ctr, ['-a', join(dir, 'containerd.sock'), '-n', namespace, ...args], { encoding: 'utf8', timeout: 60_000, env: baseEnv });
      if (r.error) throw r.error;
      return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    const cgroupParents = () => readdirSync('/sys/fs/cgroup').map((h) => join('/sys/fs/cgroup', h, namespace)).filter((p) => existsSync(p));

    before(async () => {
      const lines = [
        `version = ${f.configVersion}`, `root = "${dir}/root"`, `state = "${dir}/state"`,
        '[grpc]', `  address = "${dir}/containerd.sock"`,
        '[ttrpc]', `  address = "${dir}/containerd.sock.ttrpc"`,
        '[plugins."io.containerd.internal.v1.opt"]', `  path = "${dir}/opt"`,
      ];
      if (f.configVersion === 2) lines.splice(3, 0, 'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]');
      writeFileSync(join(dir, 'config.toml'), lines.join('\n') + '\n');
      // containerd finds io.containerd.tsrun.v2 as containerd-shim-tsrun-v2 on its PATH: ours first.
      const path = `${BIN}:${f.configVersion === 3 ? `${stack.stack?.bin}:` : ''}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
      daemon = spawn('unshare', ['--net', '--', f.containerd, '--config', join(dir, 'config.toml')], { stdio: ['ignore', 'ignore', 'ignore'], env: { ...baseEnv, PATH: path } });
      for (let i = 0; i < 300 && ctr(['version']).status !== 0; i++) await sleep(100);
      assert.equal(ctr(['version']).status, 0, 'containerd did not come up');
      rootfs = join(makeBundle(), 'rootfs');
      socketsBefore = existsSync('/run/containerd/s') ? readdirSync('/run/containerd/s').length : 0;
    });

    after(async () => {
      if (!dir) return;
      for (const id of ctr(['tasks', 'ls', '-q']).stdout.split('\n').filter(Boolean)) ctr(['tasks', 'kill', '-s', 'KILL', id]);
      for (const id of ctr(['tasks', 'ls', '-q']).stdout.split('\n').filter(Boolean)) ctr(['tasks', 'rm', '-f', id]);
      for (const id of ctr(['containers', 'ls', '-q']).stdout.split('\n').filter(Boolean)) ctr(['containers', 'rm', id]);
      for (const pid of shimProcesses(namespace)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      if (daemon && daemon.exitCode === null) {
        const exited = new Promise((r) => daemon!.once('exit', r));
        daemon.kill('SIGTERM');
        await Promise.race([exited, sleep(20_000)]);
        if (daemon.exitCode === null) daemon.kill('SIGKILL');
      }
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && (m.startsWith(dir) || m.startsWith(rootfs)));
      for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
      rmSync(dir, { recursive: true, force: true });
      if (rootfs) rmSync(join(rootfs, '..'), { recursive: true, force: true });
      for (const p of cgroupParents()) spawnSync('find', [p, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
      rmSync(tsrunState, { recursive: true, force: true });
      for (const d of [...FIXED_DIRS].reverse()) {
        if (!preexisting.includes(d)) try { rmdirSync(d); } catch { /* in use */ }
      }
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

    test('an imported image: the overlay rootfs containerd sends is mounted, and unmounted at delete', () => {
      const image = `docker.io/library/tsrun-shim-test:${process.pid}`;
      const tarball = ociImage(dir, rootfs, image);
      const imp = ctr(['images', 'import', tarball]);
      assert.equal(imp.status, 0, imp.stderr);
      const id = `img-${process.pid}`;
      const r = ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '--rm', image, id, '/bin/sh', '-c', 'awk \'$5 == "/" { for (i = 7; i <= NF; i++) if ($i == "-") print $(i + 1) }\' /proc/self/mountinfo; exit 5']);
      assert.equal(r.status, 5, r.stderr);
      assert.equal(r.stdout, 'overlay\n');
      assert.deepEqual(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`/${id}/rootfs`)), []);
      assert.equal(ctr(['images', 'rm', image]).status, 0);
    });

    test('two detached tasks share one shim: exec, ps, pause/resume, metrics, kill', async () => {
      const ids = [`d1-${process.pid}`, `d2-${process.pid}`];
      try {
        for (const id of ids) {
          const r = ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '-d', '--rootfs', rootfs, id, '/bin/sleep', '4331']);
          assert.equal(r.status, 0, r.stderr);
        }
        assert.equal(shimProcesses(namespace).length, 1, 'one shim serves the namespace');
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

    test('ctr tasks checkpoint (the Checkpoint RPC, CRIU 4.2 on containerd\'s PATH): images written, the task goes on; with --exit it is gone', { skip: f.configVersion === 3 ? false : 'needs CRIU 4.x on containerd\'s PATH (the stack\'s containerd only)' }, async () => {
      const id = `ckpt-${process.pid}`;
      const images = mkdtempSync(join(tmpdir(), 'tsrun-shim-criu-'));
      // CRIU probes TCP repair over loopback at start: containerd's private network namespace needs lo up.
      assert.equal(spawnSync('nsenter', ['-t', String(daemon!.pid), '-n', 'ip', 'link', 'set', 'lo', 'up']).status, 0);
      try {
        // --null-io: the tsrun shim hands containerd's FIFOs themselves to the container (runc's shim
        // copies through pipes), and CRIU cannot dump an fd of a FIFO on a host mount.
        assert.equal(ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '-d', '--null-io', '--rootfs', rootfs, id, '/bin/sh', '-c', 'while true; do sleep 0.1; done']).status, 0);
        const criuErrors = (stderr: string) => {
          const log = /path= (\S+)/.exec(stderr)?.[1];
          try { return readFileSync(log!, 'utf8').split('\n').filter((l) => l.includes('Error')).join('\n'); } catch { return ''; }
        };
        let r = ctr(['tasks', 'checkpoint', '--image-path', join(images, 'a'), id]);
        assert.equal(r.status, 0, `${r.stderr}${criuErrors(r.stderr)}`);
        assert.ok(existsSync(join(images, 'a', 'inventory.img')), readdirSync(images).join(' '));
        assert.match(ctr(['tasks', 'ls']).stdout, new RegExp(`${id}\\s+\\d+\\s+RUNNING`));
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
        rmSync(images, { recursive: true, force: true });
      }
    });

    test('a killed shim: containerd cleans up through `delete` (container, state, socket)', async () => {
      const id = `killed-${process.pid}`;
      assert.equal(ctr(['run', '--runtime', 'io.containerd.tsrun.v2', '-d', '--rootfs', rootfs, id, '/bin/sleep', '4331']).status, 0);
      const pid = Number(/\s(\d+)\s+RUNNING/.exec(ctr(['tasks', 'ls']).stdout)?.[1]);
      assert.ok(pid > 0);
      for (const p of shimProcesses(namespace)) process.kill(p, 'SIGKILL');
      for (let i = 0; i < 100 && ctr(['tasks', 'ls', '-q']).stdout !== ''; i++) await sleep(100);
      assert.equal(ctr(['tasks', 'ls', '-q']).stdout, '');
      assert.equal(ctr(['containers', 'rm', id]).status, 0);
      // its parent (the nearest subreaper, containerd) reaps it soon after
      const gone = () => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z'); } catch { return true; } };
      for (let i = 0; i < 100 && !gone(); i++) await sleep(100);
      assert.ok(gone(), `container process ${pid} survived its shim`);
    });

    test('nothing is left: shim processes, state, mounts, cgroups', async () => {
      for (let i = 0; i < 50 && shimProcesses(namespace).length > 0; i++) await sleep(100);
      assert.deepEqual(shimProcesses(namespace), []);
      assert.equal(ctr(['tasks', 'ls', '-q']).stdout, '');
      assert.deepEqual(existsSync(tsrunState) ? readdirSync(tsrunState) : [], []);
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(namespace));
      assert.deepEqual(mounts, []);
      // the group's socket went with its shim (stale ones are removed by `delete`)
      const sockets = existsSync('/run/containerd/s') ? readdirSync('/run/containerd/s').length : 0;
      assert.equal(sockets, socketsBefore, 'shim sockets left in /run/containerd/s');
      for (const p of cgroupParents()) {
        const children = readdirSync(p, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
        assert.deepEqual(children, [], `${p} still has container cgroups`);
      }
    });
  });
}
