// tsrun's containerd shim against containerd's runc shim driving runc 1.3, under one private
// containerd 2.1 (scripts/modern-stack.sh): `ctr run --rm /bin/true` latency (tsrun with and
// without its shim already running), `start` when the shim runs, and the summed RSS/PSS of the
// supervising processes with N idle containers. Root only. `node bench/containerd-shim.mjs [runs] [idle]`
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const repo = new URL('..', import.meta.url).pathname;
const runs = Number(process.argv[2] ?? 9);
const idle = Number(process.argv[3] ?? 40);
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const stack = Object.fromEntries(execFileSync(join(repo, 'scripts/modern-stack.sh'), { env, encoding: 'utf8' })
  .split('\n').filter((l) => l.startsWith('STACK_')).map((l) => l.slice(6).split('=')));
const dir = mkdtempSync(join(tmpdir(), 'tsrun-bench-shim-'));
const ns = `bench-shim-${process.pid}`;
writeFileSync(join(dir, 'config.toml'), [
  'version = 3', `root = "${dir}/root"`, `state = "${dir}/state"`, '[grpc]', `  address = "${dir}/c.sock"`,
  '[ttrpc]', `  address = "${dir}/c.sock.ttrpc"`, '[plugins."io.containerd.internal.v1.opt"]', `  path = "${dir}/opt"`,
].join('\n') + '\n');
const PATH = `${join(repo, 'bin')}:${stack.BIN}:/usr/sbin:/usr/bin:/sbin:/bin`;
const daemon = spawn('unshare', ['--net', '--', stack.CONTAINERD, '--config', join(dir, 'config.toml')], { stdio: 'ignore', env: { ...env, PATH } });
const ctr = (...args) => spawnSync(stack.CTR, ['-a', join(dir, 'c.sock'), '-n', ns, ...args], { encoding: 'utf8', env });
for (let i = 0; i < 300 && ctr('version').status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
execFileSync(join(repo, 'scripts/make-busybox-bundle.sh'), [join(dir, 'bundle')], { stdio: 'ignore' });
const rootfs = join(dir, 'bundle', 'rootfs');
const TSRUN = 'io.containerd.tsrun.v2';
const RUNC = 'io.containerd.runc.v2';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function timeRun(runtime, n) {
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    const r = ctr('run', '--runtime', runtime, '--rm', '--rootfs', rootfs, `b-${i}`, '/bin/true');
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (r.status !== 0) throw new Error(r.stderr);
  }
  return ms;
}
function memory(match) {
  let rss = 0, pss = 0, n = 0;
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    let cmd;
    try { cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8'); } catch { continue; }
    if (!match(cmd)) continue;
    const s = readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
    rss += Number(/^Rss:\s+(\d+)/m.exec(s)[1]); pss += Number(/^Pss:\s+(\d+)/m.exec(s)[1]); n++;
  }
  return { n, rss, pss, text: `${n} processes, RSS ${(rss / 1024).toFixed(1)} MiB, PSS ${(pss / 1024).toFixed(1)} MiB` };
}

try {
  const out = [];
  const cold = timeRun(TSRUN, runs), runc = timeRun(RUNC, runs);
  ctr('run', '--runtime', TSRUN, '-d', '--rootfs', rootfs, 'keeper', '/bin/sleep', '100000');
  const warm = timeRun(TSRUN, runs);
  out.push(`ctr run --rm /bin/true, median of ${runs} (ms): runc shim + runc ${median(runc).toFixed(0)}, tsrun shim (new shim each time) ${median(cold).toFixed(0)}, tsrun shim (shim running) ${median(warm).toFixed(0)}`);
  const bundle = join(dir, 'state', 'io.containerd.runtime.v2.task', ns, 'keeper');
  const st = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    spawnSync(join(repo, 'bin/containerd-shim-tsrun-v2'), ['-namespace', ns, '-address', join(dir, 'c.sock'), '-id', 'keeper', 'start'], { cwd: bundle, stdio: ['ignore', 'ignore', 'ignore'] });
    st.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const tt = [];
  for (let i = 0; i < runs; i++) { const t = process.hrtime.bigint(); spawnSync('/bin/true'); tt.push(Number(process.hrtime.bigint() - t) / 1e6); }
  out.push(`start with the shim running: median ${median(st).toFixed(1)} ms (spawning /bin/true: ${median(tt).toFixed(1)} ms)`);
  for (let i = 1; i < idle; i++) ctr('run', '--runtime', TSRUN, '-d', '--rootfs', rootfs, `t${i}`, '/bin/sleep', '100000');
  for (let i = 0; i < idle; i++) ctr('run', '--runtime', RUNC, '-d', '--rootfs', rootfs, `r${i}`, '/bin/sleep', '100000');
  await new Promise((r) => setTimeout(r, 2000));
  const tm = memory((c) => c.includes('tsrun-shim.cjs') && c.includes(ns));
  const rm = memory((c) => c.includes('containerd-shim-runc-v2') && c.includes(ns));
  out.push(`${idle} idle containers: tsrun shim ${tm.text}; runc shims ${rm.text}`);
  out.push(`ratios (goals: latency <= 0.8, memory <= 0.3): latency ${(median(warm) / median(runc)).toFixed(2)} (shim running), ${(median(cold) / median(runc)).toFixed(2)} (new shim); PSS ${(tm.pss / rm.pss).toFixed(2)}`);
  console.log(out.join('\n'));
} finally {
  for (const id of ctr('tasks', 'ls', '-q').stdout.split('\n').filter(Boolean)) ctr('tasks', 'kill', '-s', 'KILL', id);
  await new Promise((r) => setTimeout(r, 1000));
  for (const id of ctr('tasks', 'ls', '-q').stdout.split('\n').filter(Boolean)) ctr('tasks', 'rm', '-f', id);
  for (const id of ctr('containers', 'ls', '-q').stdout.split('\n').filter(Boolean)) ctr('containers', 'rm', id);
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  for (const h of readdirSync('/sys/fs/cgroup')) spawnSync('find', [join('/sys/fs/cgroup', h, ns), '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
  rmSync(`/run/containerd/runc/${ns}`, { recursive: true, force: true });
  rmSync(`/run/containerd/tsrun/${ns}`, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}
