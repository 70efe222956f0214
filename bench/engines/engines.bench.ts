// Engines end to end, in one run (root; the modern stack from scripts/modern-stack.sh):
//  - `docker run --rm busybox true` under Docker 28: runc 1.3, the tsrun CLI (`path`), tsrun's shim (`runtimeType`);
//  - a Kubernetes pod start through the CRI of containerd 2.1 (RunPodSandbox + CreateContainer + StartContainer),
//    handler runc (runc shim + runc 1.3) against handler tsrun (as `tsrun setup containerd` writes it).
// Medians of N interleaved runs and the ratio to runc. Everything private (own dirs, sockets, network namespaces,
// cgroup parents), removed afterwards. `node bench/engines.mjs [runs]` (after make build). In a directory of its own so
// that its build lands as deep as the tests' and the test helpers find the repository.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBundle, REPO, TSRUN } from '../../test/helpers/harness.js';
import { requireStack } from '../../test/helpers/stack.js';
import { ociImage } from '../../test/helpers/oci-image.js';
import { CriClient } from '../../test/helpers/cri.js';

const runs = Number(process.argv[2] ?? 9);
const stack = requireStack();
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const dir = mkdtempSync(join(tmpdir(), 'tsrun-bench-engines-'));
chmodSync(dir, 0o755);
const tag = `tsrun-bench-${process.pid}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;
const PATH = [stack.bin, join(REPO, 'bin'), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':');
const daemons: ChildProcess[] = [];

function check(r: { status: number | null; stderr?: string | Buffer }, what: string): void {
  if (r.status !== 0) throw new Error(`${what}: ${r.stderr}`);
}

async function stop(d: ChildProcess): Promise<void> {
  if (d.exitCode !== null) return;
  const exited = new Promise((r) => d.once('exit', r));
  d.kill('SIGTERM');
  await Promise.race([exited, sleep(20_000)]);
}

async function dockerBench(rows: string[][]): Promise<void> {
  const d = join(dir, 'docker');
  mkdirSync(d);
  const config = join(d, 'daemon.json');
  check(spawnSync(TSRUN, ['setup', 'docker', '--cli', '--config', config], { env }), 'tsrun setup docker --cli');
  const shimConfig = join(d, 'daemon-shim.json');
  check(spawnSync(TSRUN, ['setup', 'docker', '--config', shimConfig, '--engine-version', '28.5'], { env }), 'tsrun setup docker');
  const json = JSON.parse(readFileSync(config, 'utf8'));
  json.runtimes['tsrun-shim'] = JSON.parse(readFileSync(shimConfig, 'utf8')).runtimes.tsrun;
  writeFileSync(config, JSON.stringify(json));
  const sock = join(d, 'docker.sock');
  const daemon = spawn('unshare', ['--net', '--', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', stack.dockerd, '--config-file', config,
    '--data-root', join(d, 'data'), '--exec-root', join(d, 'exec'), '--pidfile', join(d, 'dockerd.pid'), '-H', `unix://${sock}`,
    '--cgroup-parent', `/${tag}-docker`, '--containerd-namespace', tag, '--containerd-plugins-namespace', `${tag}-plugins`,
  ], { stdio: 'ignore', env: { ...env, PATH } });
  daemons.push(daemon);
  const docker = (args: string[], input?: Buffer) => spawnSync(stack.docker, ['-H', `unix://${sock}`, ...args], { input, env: { ...env, DOCKER_CONFIG: join(d, 'client') }, maxBuffer: 64 << 20 });
  for (let i = 0; i < 300 && docker(['version']).status !== 0; i++) await sleep(100);
  const bundle = makeBundle();
  check(docker(['import', '-', 'busybox:bench'], spawnSync('tar', ['-C', join(bundle, 'rootfs'), '-c', '.'], { maxBuffer: 64 << 20 }).stdout), 'docker import');
  rmSync(bundle, { recursive: true, force: true });
  const runtimes = ['runc', 'tsrun', 'tsrun-shim'];
  const times: Record<string, number[]> = Object.fromEntries(runtimes.map((r) => [r, []]));
  for (const r of runtimes) check(docker(['run', '--rm', '--runtime', r, 'busybox:bench', 'true']), `warm-up ${r}`);
  for (let i = 0; i < runs; i++) {
    for (const r of runtimes) {
      const t = process.hrtime.bigint();
      check(docker(['run', '--rm', '--runtime', r, 'busybox:bench', 'true']), `docker run ${r}`);
      times[r].push(ms(t));
    }
  }
  const base = median(times.runc);
  for (const [r, label] of [['runc', 'runc 1.3'], ['tsrun', 'tsrun CLI (path)'], ['tsrun-shim', 'tsrun shim (runtimeType)']]) {
    rows.push(['docker run --rm busybox true (Docker 28)', label, median(times[r]).toFixed(0), (median(times[r]) / base).toFixed(2)]);
  }
  await stop(daemon);
}

async function criBench(rows: string[][]): Promise<void> {
  const d = join(dir, 'cri');
  mkdirSync(join(d, 'cni', 'net.d'), { recursive: true });
  const config = join(d, 'config.toml');
  writeFileSync(config, [
    'version = 3', `root = "${d}/root"`, `state = "${d}/state"`, 'disabled_plugins = ["io.containerd.nri.v1.nri"]',
    '[grpc]', `  address = "${d}/c.sock"`, '[ttrpc]', `  address = "${d}/c.sock.ttrpc"`,
    '[plugins."io.containerd.internal.v1.opt"]', `  path = "${d}/opt"`,
    '[plugins."io.containerd.cri.v1.images"]', '  snapshotter = "overlayfs"',
    '[plugins."io.containerd.cri.v1.images".pinned_images]', '  sandbox = "localhost/bench/pause:1"',
    '[plugins."io.containerd.cri.v1.runtime"]', '  restrict_oom_score_adj = true', '  netns_mounts_under_state_dir = true', '  enable_cdi = false',
    '[plugins."io.containerd.cri.v1.runtime".cni]', '  bin_dirs = ["/usr/lib/cni"]', `  conf_dir = "${d}/cni/net.d"`,
    '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]', '  runtime_type = "io.containerd.runc.v2"',
    '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]', `  Root = "${d}/runc-root"`, '  SystemdCgroup = false', '',
  ].join('\n'));
  check(spawnSync(TSRUN, ['setup', 'containerd', '--config', config, '--engine-version', '2.1'], { env }), 'tsrun setup containerd');
  appendFileSync(config, `\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.tsrun.options]\n  Root = "${d}/tsrun-root"\n  SystemdCgroup = false\n`);
  writeFileSync(join(d, 'cni', 'net.d', '10-bench.conflist'), JSON.stringify({
    cniVersion: '1.0.0', name: tag,
    plugins: [{ type: 'bridge', bridge: 'bench0', isGateway: true, ipMasq: false,
      ipam: { type: 'host-local', dataDir: join(d, 'ipam'), ranges: [[{ subnet: '10.78.0.0/24' }]] } }],
  }));
  mkdirSync(join(d, 'pause'));
  check(spawnSync('gcc', ['-static', '-Os', '-s', '-o', join(d, 'pause', 'pause'), join(REPO, 'test/fixtures/cri/pause.c')]), 'gcc pause');
  const bundle = makeBundle();
  const images = [ociImage(d, join(d, 'pause'), 'localhost/bench/pause:1', { Entrypoint: ['/pause'], User: '65535:65535' }), ociImage(d, join(bundle, 'rootfs'), 'localhost/bench/busybox:1')];
  rmSync(bundle, { recursive: true, force: true });
  const daemon = spawn('unshare', ['--net', '--', stack.containerd, '--config', config], { stdio: 'ignore', env: { ...env, PATH } });
  daemons.push(daemon);
  const ctr = (args: string[]) => spawnSync(stack.ctr, ['-a', join(d, 'c.sock'), '-n', 'k8s.io', ...args], { env, encoding: 'utf8' });
  for (let i = 0; i < 300 && ctr(['version']).status !== 0; i++) await sleep(100);
  for (const image of images) check(ctr(['images', 'import', image]), 'ctr images import');
  const cri = new CriClient(join(d, 'c.sock'));
  let n = 0;
  const podStart = async (handler: string) => {
    const uid = `bench-${handler}-${++n}`;
    const config = { metadata: { name: uid, uid, namespace: 'bench', attempt: 0 }, linux: { cgroup_parent: `/${tag}-cri/${uid}` } };
    const t = process.hrtime.bigint();
    const pod = (await cri.call('RunPodSandbox', { config, runtime_handler: handler })).pod_sandbox_id;
    const c = (await cri.call('CreateContainer', {
      pod_sandbox_id: pod, sandbox_config: config, config: { metadata: { name: 'c', attempt: 0 }, image: { image: 'localhost/bench/busybox:1' }, command: ['sleep', '1000'] },
    })).container_id;
    await cri.call('StartContainer', { container_id: c });
    const took = ms(t);
    await cri.call('RemovePodSandbox', { pod_sandbox_id: pod });
    return took;
  };
  const handlers = ['runc', 'tsrun'];
  const times: Record<string, number[]> = { runc: [], tsrun: [] };
  for (const h of handlers) await podStart(h);
  for (let i = 0; i < runs; i++) for (const h of handlers) times[h].push(await podStart(h));
  cri.close();
  const base = median(times.runc);
  rows.push(['CRI pod start (containerd 2.1)', 'runc 1.3 (runc shim)', median(times.runc).toFixed(0), '1.00']);
  rows.push(['CRI pod start (containerd 2.1)', 'tsrun (tsrun shim)', median(times.tsrun).toFixed(0), (median(times.tsrun) / base).toFixed(2)]);
  await stop(daemon);
}

async function main(): Promise<void> {
  const rows: string[][] = [];
  try {
    await dockerBench(rows);
    await criBench(rows);
  } finally {
    for (const d of daemons) await stop(d);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(dir));
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
    rmSync(dir, { recursive: true, force: true });
    for (const h of readdirSync('/sys/fs/cgroup')) {
      for (const parent of [`${tag}-docker`, `${tag}-cri`]) {
        const p = join('/sys/fs/cgroup', h, parent);
        if (existsSync(p)) spawnSync('find', [p, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
      }
    }
    for (const p of [`/run/containerd/runc/${tag}`, `/run/containerd/tsrun/${tag}`]) rmSync(p, { recursive: true, force: true });
    if (existsSync('/var/lib/cni/results')) {
      for (const f of readdirSync('/var/lib/cni/results')) if (f.startsWith(`${tag}-`)) rmSync(join('/var/lib/cni/results', f), { force: true });
    }
  }
  console.log(`engines, median of ${runs} interleaved runs (ms; ratio to runc, < 1.00 is faster)\n`);
  console.log('| what | runtime | ms | ratio |\n|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
