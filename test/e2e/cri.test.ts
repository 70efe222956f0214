// Kubernetes' CRI on containerd 2.1 (the modern stack) and 1.6 (Debian 12): the CRI plugin configured by
// `tsrun setup containerd`, a pod whose RuntimeClass handler is `tsrun` driven the way kubelet drives it, beside the
// same pod under runc. Each containerd is private: its own network namespace (the pods' bridge lives there), root,
// state, sockets, CNI configuration and IPAM store, and the pods' cgroups under a parent of their own. The pause and
// busybox images are made here and imported (offline, see ../shared/reference/cri-offline.md).
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, makeBundle, REPO, TSRUN, shimDaemons, childEnv, stopDaemon } from '../helpers/harness.js';
import { modernStack, unmountBelow, hostDirs } from '../helpers/stack.js';
import { ociImage } from '../helpers/oci-image.js';
import { CriClient, CriError, cri, stream } from '../helpers/cri.js';

const PAUSE = 'localhost/tsrun-e2e/pause:1';
const BUSYBOX = 'localhost/tsrun-e2e/busybox:1';
const MARK = '4337';
// Directories containerd and the shims use whatever containerd's own paths are; removed afterwards when they were
// not there before and are empty (another session's containerd may be using them).
const fixedDirs = hostDirs(['/run/containerd', '/run/containerd/s', '/run/containerd/tsrun', '/run/containerd/tsrun/k8s.io', '/run/containerd/fifo', '/var/lib/cni', '/var/lib/cni/results']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const baseEnv = childEnv;

interface Flavour {
  name: string;
  containerd: string;
  ctr: string;
  /** PATH directories before the system's: where containerd finds the runc shim, runc, and tsrun's shim. */
  path: string[];
  version: string;
  /** containerd 2's CRI reports each handler's features and takes userns pods and rro mounts. */
  modern: boolean;
  skip: string | false;
}

const stack = modernStack();
const flavours: Flavour[] = [
  {
    name: 'containerd 2.1', containerd: stack.stack?.containerd ?? '', ctr: stack.stack?.ctr ?? '',
    path: stack.stack ? [stack.stack.bin] : [], version: '2.1', modern: true,
    skip: needsRoot || (stack.skip ? `the modern stack is not available: ${stack.skip}` : false),
  },
  {
    name: 'containerd 1.6', containerd: '/usr/bin/containerd', ctr: '/usr/bin/ctr', path: [join(REPO, 'bin')], version: '1.6', modern: false,
    skip: needsRoot || (existsSync('/usr/bin/containerd') ? false : 'containerd is not installed (make test-deps installs it)'),
  },
];


function markedProcesses(): string[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).filter((n) => {
    try { return readFileSync(`/proc/${n}/cmdline`, 'latin1').startsWith(`sleep\0${MARK}`); } catch { return false; }
  });
}

function configFor(f: Flavour, dir: string): string {
  if (f.modern) {
    return [
      'version = 3',
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      `disabled_plugins = ["io.containerd.nri.v1.nri"]`,
      '[grpc]', `  address = "${dir}/containerd.sock"`,
      '[ttrpc]', `  address = "${dir}/containerd.sock.ttrpc"`,
      '[plugins."io.containerd.internal.v1.opt"]', `  path = "${dir}/opt"`,
      '[plugins."io.containerd.cri.v1.images"]', '  snapshotter = "overlayfs"',
      '[plugins."io.containerd.cri.v1.images".pinned_images]', `  sandbox = "${PAUSE}"`,
      '[plugins."io.containerd.grpc.v1.cri"]', '  stream_server_port = "0"',
      '[plugins."io.containerd.cri.v1.runtime"]',
      // This machine's root lacks CAP_SYS_RESOURCE: the sandbox's -998 would fail runc and tsrun alike.
      '  restrict_oom_score_adj = true',
      '  netns_mounts_under_state_dir = true',
      '  enable_cdi = false',
      '[plugins."io.containerd.cri.v1.runtime".cni]', '  bin_dirs = ["/usr/lib/cni"]', `  conf_dir = "${dir}/cni/net.d"`,
      '[plugins."io.containerd.cri.v1.runtime".containerd]', '  default_runtime_name = "runc"',
      '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]', '  runtime_type = "io.containerd.runc.v2"',
      '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]', `  Root = "${dir}/runc-root"`, '  SystemdCgroup = false',
      '',
    ].join('\n');
  }
  return [
    'version = 2',
    `root = "${dir}/root"`,
    `state = "${dir}/state"`,
    '[grpc]', `  address = "${dir}/containerd.sock"`,
    '[plugins."io.containerd.internal.v1.opt"]', `  path = "${dir}/opt"`,
    '[plugins."io.containerd.grpc.v1.cri"]',
    `  sandbox_image = "${PAUSE}"`,
    '  restrict_oom_score_adj = true',
    '  netns_mounts_under_state_dir = true',
    '  stream_server_port = "0"',
    '  [plugins."io.containerd.grpc.v1.cri".cni]', '    bin_dir = "/usr/lib/cni"', `    conf_dir = "${dir}/cni/net.d"`,
    '  [plugins."io.containerd.grpc.v1.cri".containerd]', '    snapshotter = "overlayfs"', '    default_runtime_name = "runc"',
    '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]', '      runtime_type = "io.containerd.runc.v2"',
    '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]', `        Root = "${dir}/runc-root"`, '        SystemdCgroup = false',
    '',
  ].join('\n');
}

for (const f of flavours) {
  describe(`Kubernetes CRI on ${f.name}: a RuntimeClass handler tsrun (tsrun setup containerd) beside runc`, { skip: f.skip }, () => {
    const dir = f.skip ? '' : mkdtempSync(join(tmpdir(), 'tsrun-cri-'));
    const socket = join(dir, 'containerd.sock');
    const cgroupParent = `tsrun-cri-test-${process.pid}-${f.version.replace('.', '')}`;
    const netName = `tsrun-cri-${process.pid}-${f.version.replace('.', '')}`;
    // The shim's state when the runtime options name no Root (containerd 1.6 hands a non-runc type no runc options).
    const shimState = '/run/containerd/tsrun/k8s.io';
    let daemon: ChildProcess | undefined;
    let client: CriClient;
    let seq = 0;

    const ctr = (args: string[]) => {
      const r = spawnSync(f.ctr, ['-a', socket, '-n', 'k8s.io', ...args], { encoding: 'utf8', timeout: 60_000, env: baseEnv });
      if (r.error) throw r.error;
      return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };

    const podConfig = (name: string, linuxSecurity: Record<string, unknown> = {}) => {
      const uid = `${name}-${process.pid}-${++seq}`;
      mkdirSync(join(dir, 'logs', uid), { recursive: true });
      return {
        metadata: { name: uid, uid, namespace: 'tsrun-e2e', attempt: 0 },
        hostname: name,
        log_directory: join(dir, 'logs', uid),
        linux: { cgroup_parent: `/${cgroupParent}/${uid}`, security_context: linuxSecurity },
      };
    };

    const containerConfig = (name: string, command: string[], extra: Record<string, unknown> = {}) => ({
      metadata: { name, attempt: 0 },
      image: { image: BUSYBOX },
      command,
      log_path: `${name}.log`,
      linux: { resources: { memory_limit_in_bytes: 128 << 20, cpu_shares: 512 } },
      ...extra,
    });

    const execSync = async (id: string, cmd: string[]) => {
      const r = await client.call('ExecSync', { container_id: id, cmd, timeout: 20 });
      return `${r.exit_code}:${r.stdout.toString()}${r.stderr.toString()}`;
    };

    before(async () => {
      // A user-namespaced pod's root must be able to reach its rootfs below this directory.
      chmodSync(dir, 0o755);
      const config = join(dir, 'config.toml');
      writeFileSync(config, configFor(f, dir));
      const setup = spawnSync(TSRUN, ['setup', 'containerd', '--config', config, '--engine-version', f.version], { encoding: 'utf8', env: baseEnv });
      assert.equal(setup.status, 0, setup.stderr);
      if (f.modern) {
        // A runc-typed runtime takes runc's options: the tsrun shim's state under this test's directory.
        appendFileSync(config, `\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.tsrun.options]\n  Root = "${dir}/tsrun-root"\n  SystemdCgroup = false\n`);
      }
      mkdirSync(join(dir, 'cni', 'net.d'), { recursive: true });
      writeFileSync(join(dir, 'cni', 'net.d', '10-tsrun.conflist'), JSON.stringify({
        cniVersion: '1.0.0', name: netName,
        plugins: [
          { type: 'bridge', bridge: 'tsrun0', isGateway: true, ipMasq: false, hairpinMode: true,
            ipam: { type: 'host-local', dataDir: join(dir, 'cni', 'ipam'), ranges: [[{ subnet: '10.77.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] } },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      }));
      const images = join(dir, 'images');
      mkdirSync(join(images, 'pause-rootfs'), { recursive: true });
      const cc = spawnSync('gcc', ['-static', '-Os', '-s', '-o', join(images, 'pause-rootfs', 'pause'), join(REPO, 'test/fixtures/cri/pause.c')], { encoding: 'utf8' });
      assert.equal(cc.status, 0, cc.stderr);
      const bundle = makeBundle();
      const tarballs = [
        ociImage(images, join(images, 'pause-rootfs'), PAUSE, { Entrypoint: ['/pause'], User: '65535:65535' }),
        ociImage(images, join(bundle, 'rootfs'), BUSYBOX, { Cmd: ['sh'] }),
      ];
      rmSync(bundle, { recursive: true, force: true });

      const env = { ...baseEnv, PATH: [...f.path, join(REPO, 'bin'), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':') };
      // Its network namespace's loopback up: the CRI stream server (Exec, Attach) listens on 127.0.0.1 there.
      daemon = spawn('unshare', ['--net', '--', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', f.containerd, '--config', config, '--log-level', 'debug'], { stdio: ['ignore', 'ignore', 'pipe'], env });
      const log: Buffer[] = [];
      daemon.stderr!.on('data', (d: Buffer) => { log.push(d); if (log.length > 4000) log.shift(); });
      process.on('exit', () => { if (process.env.TSRUN_CRI_LOG) writeFileSync(process.env.TSRUN_CRI_LOG, Buffer.concat(log)); });
      for (let i = 0; i < 300 && ctr(['version']).status !== 0; i++) await sleep(100);
      assert.equal(ctr(['version']).status, 0, 'containerd did not come up');
      for (const t of tarballs) {
        const imp = ctr(['images', 'import', t]);
        assert.equal(imp.status, 0, imp.stderr);
      }
      client = new CriClient(socket);
      for (let i = 0; i < 100; i++) {
        const s = await client.call('Status', {});
        if (s.status?.conditions.every((c) => c.status)) break;
        await sleep(100);
      }
    });

    after(async () => {
      if (!dir) return;
      if (client) {
        try {
          const pods = await client.call('ListPodSandbox', {});
          for (const p of pods.items) await client.call('RemovePodSandbox', { pod_sandbox_id: p.id }).catch(() => undefined);
        } catch { /* containerd is gone */ }
        client.close();
      }
      await stopDaemon(daemon);
      unmountBelow(dir);
      rmSync(dir, { recursive: true, force: true });
      for (const h of readdirSync('/sys/fs/cgroup')) {
        const p = join('/sys/fs/cgroup', h, cgroupParent);
        if (existsSync(p)) spawnSync('find', [p, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
      }
      if (existsSync('/var/lib/cni/results')) {
        for (const n of readdirSync('/var/lib/cni/results')) if (n.startsWith(`${netName}-`)) rmSync(join('/var/lib/cni/results', n), { force: true });
      }
      fixedDirs.remove();
    });

    test('the CRI serves the tsrun handler; on containerd 2 with the features runc has (user namespaces, rro mounts)', async () => {
      const v = await client.call('Version', { version: 'v1' });
      assert.equal(v.runtime_api_version, 'v1');
      assert.match(v.runtime_version, f.modern ? /^v?2\.1\./ : /^1\.6\./);
      const s = await client.call('Status', { verbose: false });
      const ready = s.status?.conditions.filter((c) => c.type === 'RuntimeReady' || c.type === 'NetworkReady').map((c) => [c.type, c.status]);
      assert.deepEqual(ready, [['RuntimeReady', true], ['NetworkReady', true]]);
      if (f.modern) {
        const handlers = Object.fromEntries(s.runtime_handlers.map((h) => [h.name, h.features]));
        assert.deepEqual(handlers.runc, { recursive_read_only_mounts: true, user_namespaces: true });
        assert.deepEqual(handlers.tsrun, handlers.runc);
      }
    });

    test('a pod with two containers sharing its namespaces: exec, stats, update, stop, removal, as under runc; one shim per pod', async () => {
      const session = async (handler: string) => {
        const seen: Record<string, unknown> = {};
        const config = podConfig(`two-${handler}`);
        const pod = (await client.call('RunPodSandbox', { config, runtime_handler: handler })).pod_sandbox_id;
        try {
          const create = async (name: string, command: string[]) => (await client.call('CreateContainer', {
            pod_sandbox_id: pod, config: containerConfig(name, command), sandbox_config: config,
          })).container_id;
          const c1 = await create('web', ['sh', '-c', `echo hello > /tmp/index.html; httpd -p 8080 -h /tmp; echo up; exec sleep ${MARK}`]);
          const c2 = await create('client', ['sleep', MARK]);
          await client.call('StartContainer', { container_id: c1 });
          await client.call('StartContainer', { container_id: c2 });
          if (handler === 'tsrun') seen.shims = shimDaemons(socket).length;
          seen.exec = await execSync(c1, ['sh', '-c', 'echo out; echo err >&2; id -u; exit 3']);
          seen.missing = await client.call('ExecSync', { container_id: c1, cmd: ['/nonexistent'], timeout: 10 }).then(() => 'ok', (e: CriError) => e.code);
          const ns = async (c: string) => execSync(c, ['sh', '-c', 'for n in net ipc uts pid; do readlink /proc/self/ns/$n; done; echo $(tr "\\0" " " < /proc/1/cmdline); hostname']);
          const [ns1, ns2] = [await ns(c1), await ns(c2)];
          seen.sameNamespaces = ns1 === ns2;
          seen.pid1 = ns2.trim().split('\n').slice(-2).join('|');
          let web = '';
          for (let i = 0; i < 50 && !web.startsWith('0:hello'); i++, await sleep(100)) web = await execSync(c2, ['wget', '-qO-', 'http://127.0.0.1:8080/index.html']);
          seen.web = web;
          seen.eth0 = /inet 10\.77\.0\.\d+\/24/.test(await execSync(c2, ['ip', '-4', 'addr', 'show', 'eth0']));
          const stats = (await client.call('ContainerStats', { container_id: c1 })).stats;
          seen.stats = [stats?.attributes?.id === c1, (stats?.cpu?.usage_core_nano_seconds?.value ?? 0n) > 0n, (stats?.memory?.working_set_bytes?.value ?? 0n) > 0n];
          seen.limit = await execSync(c1, ['cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/cpu/cpu.shares']);
          await client.call('UpdateContainerResources', { container_id: c1, linux: { memory_limit_in_bytes: 64 << 20, cpu_shares: 256 } });
          seen.updated = await execSync(c1, ['cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/cpu/cpu.shares']);
          // Exec through the CRI stream server (WebSocket, as kubectl exec does): the process runs through the runtime's exec.
          const ex = await client.call('Exec', { container_id: c1, cmd: ['sh', '-c', 'echo streamed; echo oops >&2; exit 4'], stdout: true, stderr: true });
          const streamed = await stream(ex.url, { netns: `/proc/${daemon!.pid}/ns/net` });
          seen.exec4 = [streamed.http, streamed.stdout, streamed.stderr, /NonZeroExitCode/.test(streamed.status) || streamed.status];
          // Attach through the stream server (as kubectl attach): the container's own output, from the moment of attaching.
          const c3 = await create('talker', ['sh', '-c', 'sleep 1; echo attached-out; echo attached-err >&2; sleep 0.5']);
          await client.call('StartContainer', { container_id: c3 });
          const at = await client.call('Attach', { container_id: c3, stdout: true, stderr: true, tty: false });
          const attached = await stream(at.url, { netns: `/proc/${daemon!.pid}/ns/net` });
          seen.attach = [attached.http, attached.stdout, attached.stderr];
          await client.call('StopContainer', { container_id: c1, timeout: 2 });
          const st = (await client.call('ContainerStatus', { container_id: c1 })).status;
          seen.stopped = [st?.state, st?.exit_code];
          seen.log = readFileSync(join(config.log_directory, 'web.log'), 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ').slice(1).join(' '));
          await client.call('RemoveContainer', { container_id: c1 });
          await client.call('StopPodSandbox', { pod_sandbox_id: pod });
          seen.c2AfterPodStop = (await client.call('ContainerStatus', { container_id: c2 })).status?.state;
          await client.call('RemovePodSandbox', { pod_sandbox_id: pod });
          seen.podsLeft = (await client.call('ListPodSandbox', {})).items.length;
          seen.containersLeft = (await client.call('ListContainers', {})).containers.length;
        } finally {
          await client.call('RemovePodSandbox', { pod_sandbox_id: pod }).catch(() => undefined);
        }
        return seen;
      };
      const viaRunc = await session('runc');
      assert.deepEqual(viaRunc, {
        exec: '3:out\n0\nerr\n', missing: 2, sameNamespaces: true, pid1: '/pause|two-runc', web: '0:hello\n', eth0: true,
        stats: [true, true, true], limit: '0:134217728\n512\n', updated: '0:67108864\n256\n',
        exec4: ['HTTP/1.1 101 Switching Protocols', 'streamed\n', 'oops\n', true],
        attach: ['HTTP/1.1 101 Switching Protocols', 'attached-out\n', 'attached-err\n'],
        stopped: [cri.ContainerState.CONTAINER_EXITED, 143], log: ['stdout F up'], c2AfterPodStop: cri.ContainerState.CONTAINER_EXITED,
        podsLeft: 0, containersLeft: 0,
      });
      const viaTsrun = await session('tsrun');
      // one Node process serves the sandbox and both containers
      assert.equal(viaTsrun.shims, 1);
      delete viaTsrun.shims;
      assert.deepEqual(viaTsrun, { ...viaRunc, pid1: '/pause|two-tsrun' });
    });

    test('a user-namespace pod (as kubelet sends it) and a recursive read-only mount: the same under tsrun as under runc', { skip: f.modern ? false : 'containerd 1.6 has neither' }, async () => {
      const src = join(dir, 'rro-src');
      mkdirSync(join(src, 'sub'), { recursive: true });
      assert.equal(spawnSync('mount', ['-t', 'tmpfs', 'tsrun-rro', join(src, 'sub')]).status, 0);
      try {
        const session = async (handler: string) => {
          const seen: Record<string, unknown> = {};
          const mapping = [{ host_id: 1_000_000 + (process.pid % 1000) * 65536, container_id: 0, length: 65536 }];
          // kubelet sends the pod's user namespace in the pod's and in each container's security context.
          const namespace_options = { network: cri.NamespaceMode.POD, pid: cri.NamespaceMode.POD, ipc: cri.NamespaceMode.POD, userns_options: { mode: cri.NamespaceMode.POD, uids: mapping, gids: mapping } };
          const config = podConfig(`userns-${handler}`, { namespace_options });
          const pod = (await client.call('RunPodSandbox', { config, runtime_handler: handler })).pod_sandbox_id;
          try {
            const c = (await client.call('CreateContainer', {
              pod_sandbox_id: pod, sandbox_config: config,
              config: containerConfig('c', ['sleep', MARK], {
                linux: { security_context: { namespace_options } },
                mounts: [
                  { container_path: '/rro', host_path: src, readonly: true, recursive_read_only: true, propagation: cri.MountPropagation.PROPAGATION_PRIVATE },
                  { container_path: '/ro', host_path: src, readonly: true, propagation: cri.MountPropagation.PROPAGATION_PRIVATE },
                ],
              }),
            })).container_id;
            await client.call('StartContainer', { container_id: c });
            seen.maps = await execSync(c, ['sh', '-c', 'awk "{print \\$1, \\$2, \\$3}" /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /bin/busybox']);
            seen.rro = await execSync(c, ['sh', '-c', 'touch /rro/sub/x 2>&1; touch /ro/sub/y && echo ro-sub-writable']);
            await client.call('RemovePodSandbox', { pod_sandbox_id: pod });
          } finally {
            await client.call('RemovePodSandbox', { pod_sandbox_id: pod }).catch(() => undefined);
          }
          return seen;
        };
        const viaRunc = await session('runc');
        const host = 1_000_000 + (process.pid % 1000) * 65536;
        assert.deepEqual(viaRunc, {
          maps: `0:0 ${host} 65536\n0 ${host} 65536\n0\n0\n`,
          rro: '0:touch: /rro/sub/x: Read-only file system\nro-sub-writable\n',
        });
        assert.deepEqual(await session('tsrun'), viaRunc);
      } finally {
        spawnSync('umount', ['-l', join(src, 'sub')]);
      }
    });

    test('nothing is left: pods, shims, runtime state, cgroups, processes', async () => {
      assert.equal((await client.call('ListPodSandbox', {})).items.length, 0);
      for (let i = 0; i < 50 && shimDaemons(socket).length; i++) await sleep(100);
      assert.deepEqual(shimDaemons(socket), []);
      for (const state of [join(dir, 'runc-root', 'k8s.io'), join(dir, 'tsrun-root', 'k8s.io')]) {
        assert.deepEqual(existsSync(state) ? readdirSync(state) : [], [], state);
      }
      if (!f.modern && existsSync(shimState)) {
        const ours = readdirSync(shimState).filter((id) => existsSync(join(dir, 'state', 'io.containerd.runtime.v2.task', 'k8s.io', id)));
        assert.deepEqual(ours, []);
      }
      for (const h of readdirSync('/sys/fs/cgroup')) {
        const p = join('/sys/fs/cgroup', h, cgroupParent);
        if (!existsSync(p)) continue;
        const left = spawnSync('find', [p, '-mindepth', '2', '-type', 'd'], { encoding: 'utf8' }).stdout.trim();
        assert.equal(left, '', `${p} still has container cgroups`);
      }
      assert.deepEqual(markedProcesses(), []);
    });
  });
}
