// tsrun's containerd shim against containerd's runc shim driving runc 1.3, under one private
// containerd 2.1 (scripts/modern-stack.sh): `ctr run --rm /bin/true` latency (tsrun with and
// without its shim already running), `start` when the shim runs, the summed RSS/PSS of the
// supervising processes with N idle containers, and where the time of a run with a new shim goes
// (TSRUN_TIMING: the C launcher's and the Node daemon's marks, one clock). Root only.
// `node bench/containerd-shim.mjs [runs] [idle] [--before DIR]`: DIR is another built checkout
// whose shim is measured beside this one in the same run (its own namespace, named to containerd
// by the absolute path of its binary). The runs of the three shims alternate, so that the load of
// a shared machine falls on all of them alike.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repo = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const beforeAt = args.indexOf('--before');
const before = beforeAt >= 0 ? resolve(args.splice(beforeAt, 2)[1]) : undefined;
const runs = Number(args[0] ?? 9);
const idle = Number(args[1] ?? 40);
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
delete env.TSRUN_TIMING;
const stack = Object.fromEntries(execFileSync(join(repo, 'scripts/modern-stack.sh'), { env, encoding: 'utf8' })
  .split('\n').filter((l) => l.startsWith('STACK_')).map((l) => l.slice(6).split('=')));
const dir = mkdtempSync(join(tmpdir(), 'tsrun-bench-shim-'));
const timing = join(dir, 'timing');
writeFileSync(join(dir, 'config.toml'), [
  'version = 3', `root = "${dir}/root"`, `state = "${dir}/state"`, '[grpc]', `  address = "${dir}/c.sock"`,
  '[ttrpc]', `  address = "${dir}/c.sock.ttrpc"`, '[plugins."io.containerd.internal.v1.opt"]', `  path = "${dir}/opt"`,
].join('\n') + '\n');
const PATH = `${join(repo, 'bin')}:${stack.BIN}:/usr/sbin:/usr/bin:/sbin:/bin`;
// Shims inherit containerd's environment: TSRUN_TIMING reaches the launcher and the daemon.
const daemon = spawn('unshare', ['--net', '--', stack.CONTAINERD, '--config', join(dir, 'config.toml')], { stdio: 'ignore', env: { ...env, PATH, TSRUN_TIMING: timing } });
const base = `bench-shim-${process.pid}`;
const ctrIn = (ns, ...a) => spawnSync(stack.CTR, ['-a', join(dir, 'c.sock'), '-n', ns, ...a], { encoding: 'utf8', env });
for (let i = 0; i < 300 && ctrIn(base, 'version').status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
execFileSync(join(repo, 'scripts/make-busybox-bundle.sh'), [join(dir, 'bundle')], { stdio: 'ignore' });
const rootfs = join(dir, 'bundle', 'rootfs');

// Each shim in a namespace of its own: tsrun's shims are one per namespace, and this one's and the
// other checkout's must not answer each other's `start`.
const shims = {
  runc: { ns: `${base}-runc`, runtime: 'io.containerd.runc.v2' },
  tsrun: { ns: `${base}-tsrun`, runtime: 'io.containerd.tsrun.v2', bin: join(repo, 'bin') },
  ...(before ? { before: { ns: `${base}-before`, runtime: join(before, 'bin/containerd-shim-tsrun-v2'), bin: join(before, 'bin') } } : {}),
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const runsOf = {};
let seq = 0;
function timeRun(name) {
  const s = shims[name];
  const id = `b-${seq++}`;
  const t0 = process.hrtime.bigint();
  const r = ctrIn(s.ns, 'run', '--runtime', s.runtime, '--rm', '--rootfs', rootfs, id, '/bin/true');
  const t1 = process.hrtime.bigint();
  if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
  (runsOf[name] ??= []).push({ id, t0, t1, ms: Number(t1 - t0) / 1e6 });
}
const ms = (name) => median(runsOf[name].map((r) => r.ms));
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
const tsrunNames = Object.keys(shims).filter((n) => n !== 'runc');

/**
 * Where the runs went, from the TSRUN_TIMING records (monotonic ns): for each run of `name`, the
 * launcher's `start` and `delete` and the daemon's marks; with `shared`, the marks a running
 * shim made during the run. Phases are medians of each run's own differences.
 */
function breakdown(name, records, shared) {
  const phases = [];
  const add = (label, xs) => { const v = xs.filter((x) => Number.isFinite(x)); if (v.length) phases.push([label, median(v), v.length]); };
  const per = runsOf[name].map((r) => {
    const at = {};
    const put = (k, ns) => { if (at[k] === undefined) at[k] = Number(BigInt(ns) - r.t0) / 1e6; };
    for (const rec of records) {
      const i = rec.argv.indexOf('-id');
      const mine = i >= 0 && rec.argv[i + 1] === r.id;
      if (!mine && !(shared && rec.node)) continue;
      const prefix = rec.node ? 'node:' : `${rec.argv[0]}:`;
      for (const [n, t] of rec.marks) if (mine || (BigInt(t) >= r.t0 && BigInt(t) <= r.t1)) put(prefix + n, t);
      if (mine) {
        put(prefix + 'exit', rec.exit);
        if (rec.node) { put('node:v8Start', rec.node.v8Start); put('node:bootstrapped', rec.node.bootstrapComplete); put('node:loaded', rec.loaded); }
      }
    }
    at.end = r.ms;
    return at;
  });
  const d = (a, b) => per.map((at) => at[b] - at[a]);
  add('containerd until `start`', per.map((at) => at['start:begin']));
  add('`start` (C launcher)', d('start:begin', 'start:exit'));
  if (!shared) {
    add('  Node: exec to V8', d('start:forked', 'node:v8Start'));
    add('  Node: its bootstrap', d('node:v8Start', 'node:bootstrapped'));
    add('  Node: the bundle read and compiled', d('node:bootstrapped', 'node:loaded'));
    add('  the daemon set up, listening', d('node:loaded', 'node:listening'));
    const setup = ['loaded', 'evaluated', 'subreaper', 'service', 'listening'];
    for (let i = 1; i < setup.length; i++) add(`      ${setup[i - 1]} to ${setup[i]}`, d(`node:${setup[i - 1]}`, `node:${setup[i]}`));
    add('`start` answered to listening', d('start:exit', 'node:listening'));
    add('listening to Create received', d('node:listening', 'node:Create<'));
  } else add('`start` answered to Create received', d('start:exit', 'node:Create<'));
  add('Create', d('node:Create<', 'node:Create>'));
  // inside Create: the library's marks (runtime/container/create.ts, executor.ts)
  const inner = ['Create<', 'spec', 'lock', 'cgroups', 'plan', 'exec:spawned', 'exec:pid', 'exec:ready', 'executor', 'created', 'Create>'];
  for (let i = 1; i < inner.length; i++) add(`    ${inner[i - 1]} to ${inner[i]}`, d(`node:${inner[i - 1]}`, `node:${inner[i]}`));
  add('Create answered to Start received', d('node:Create>', 'node:Start<'));
  add('Start', d('node:Start<', 'node:Start>'));
  add('Start answered to Delete received (Wait, State)', d('node:Start>', 'node:Delete<'));
  add('Delete', d('node:Delete<', 'node:Delete>'));
  add('Delete answered to Shutdown answered', d('node:Delete>', 'node:Shutdown>'));
  add('Shutdown answered to `delete` (C launcher) run', d('node:Shutdown>', 'delete:begin'));
  add('`delete` to ctr done', d('delete:begin', 'end'));
  if (!shared) add('(the shim exits, after Shutdown answered)', d('node:Shutdown>', 'node:exit'));
  add('total', per.map((at) => at.end));
  return phases.map(([label, v, n]) => `  ${label.padEnd(50)} ${v.toFixed(1).padStart(6)}${n < per.length ? `  (${n} of ${per.length})` : ''}`).join('\n');
}

try {
  const out = [];
  // new shims: the shims' runs alternate
  for (let i = 0; i < runs; i++) for (const name of Object.keys(shims)) timeRun(name);
  const cold = Object.fromEntries(tsrunNames.map((n) => [n, runsOf[n]]));
  for (const n of tsrunNames) delete runsOf[n];
  // shims running: a keeper container holds each tsrun shim up
  for (const n of tsrunNames) ctrIn(shims[n].ns, 'run', '--runtime', shims[n].runtime, '-d', '--rootfs', rootfs, `keeper-${n}`, '/bin/sleep', '100000');
  for (let i = 0; i < runs; i++) for (const n of tsrunNames) timeRun(n);
  const warm = Object.fromEntries(tsrunNames.map((n) => [n, runsOf[n]]));
  const med = (rs) => median(rs.map((r) => r.ms));
  const other = before ? ` (before: ${med(cold.before).toFixed(0)})` : '';
  const otherWarm = before ? ` (before: ${med(warm.before).toFixed(0)})` : '';
  out.push(`ctr run --rm /bin/true, median of ${runs} (ms): runc shim + runc ${ms('runc').toFixed(0)}, tsrun shim (new shim each time) ${med(cold.tsrun).toFixed(0)}${other}, tsrun shim (shim running) ${med(warm.tsrun).toFixed(0)}${otherWarm}`);

  const st = {};
  for (let i = 0; i < runs; i++) {
    for (const n of tsrunNames) {
      const bundle = join(dir, 'state', 'io.containerd.runtime.v2.task', shims[n].ns, `keeper-${n}`);
      const t = process.hrtime.bigint();
      spawnSync(join(shims[n].bin, 'containerd-shim-tsrun-v2'), ['-namespace', shims[n].ns, '-address', join(dir, 'c.sock'), '-id', `keeper-${n}`, 'start'], { cwd: bundle, stdio: ['ignore', 'ignore', 'ignore'], env });
      (st[n] ??= []).push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  }
  const tt = [];
  for (let i = 0; i < runs; i++) { const t = process.hrtime.bigint(); spawnSync('/bin/true'); tt.push(Number(process.hrtime.bigint() - t) / 1e6); }
  out.push(`start with the shim running: median ${median(st.tsrun).toFixed(1)} ms${before ? ` (before: ${median(st.before).toFixed(1)})` : ''} (spawning /bin/true: ${median(tt).toFixed(1)} ms)`);

  // a running shim writes its record when it exits: after its keeper is gone
  for (const n of tsrunNames) {
    const ctr = (...a) => ctrIn(shims[n].ns, ...a);
    ctr('tasks', 'kill', '-s', 'KILL', `keeper-${n}`);
    for (let i = 0; i < 100 && !/STOPPED/.test(ctr('tasks', 'ls').stdout); i++) await new Promise((r) => setTimeout(r, 50));
    ctr('tasks', 'rm', `keeper-${n}`);
    ctr('containers', 'rm', `keeper-${n}`);
  }
  await new Promise((r) => setTimeout(r, 500));
  const records = existsSync(timing) ? readFileSync(timing, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  runsOf.tsrun = cold.tsrun;
  out.push(`where a run with a new tsrun shim goes (TSRUN_TIMING; medians of ${runs}, ms):\n${breakdown('tsrun', records, false)}`);
  runsOf.tsrun = warm.tsrun;
  out.push(`and with the shim already running:\n${breakdown('tsrun', records, true)}`);

  for (const n of tsrunNames) for (let i = 0; i < idle; i++) ctrIn(shims[n].ns, 'run', '--runtime', shims[n].runtime, '-d', '--rootfs', rootfs, `t${i}`, '/bin/sleep', '100000');
  for (let i = 0; i < idle; i++) ctrIn(shims.runc.ns, 'run', '--runtime', shims.runc.runtime, '-d', '--rootfs', rootfs, `r${i}`, '/bin/sleep', '100000');
  await new Promise((r) => setTimeout(r, 2000));
  const mem = Object.fromEntries(tsrunNames.map((n) => [n, memory((c) => c.includes(join(shims[n].bin, 'tsrun-shim.cjs')) && c.includes(shims[n].ns))]));
  const rm = memory((c) => c.includes('containerd-shim-runc-v2') && c.includes(shims.runc.ns));
  out.push(`${idle} idle containers: tsrun shim ${mem.tsrun.text}${before ? ` (before: ${mem.before.text})` : ''}; runc shims ${rm.text}`);
  const ratio = (x) => (x / ms('runc')).toFixed(2);
  out.push(`ratios (goals: latency <= 0.8, memory <= 0.3): latency ${ratio(med(warm.tsrun))} (shim running), ${ratio(med(cold.tsrun))} (new shim)${before ? ` [before: ${ratio(med(warm.before))}, ${ratio(med(cold.before))}]` : ''}; PSS ${(mem.tsrun.pss / rm.pss).toFixed(2)}${before ? ` [before: ${(mem.before.pss / rm.pss).toFixed(2)}]` : ''}`);
  console.log(out.join('\n'));
} finally {
  for (const { ns } of Object.values(shims)) {
    const ctr = (...a) => ctrIn(ns, ...a);
    for (const id of ctr('tasks', 'ls', '-q').stdout.split('\n').filter(Boolean)) ctr('tasks', 'kill', '-s', 'KILL', id);
  }
  await new Promise((r) => setTimeout(r, 1000));
  for (const { ns } of Object.values(shims)) {
    const ctr = (...a) => ctrIn(ns, ...a);
    for (const id of ctr('tasks', 'ls', '-q').stdout.split('\n').filter(Boolean)) ctr('tasks', 'rm', '-f', id);
    for (const id of ctr('containers', 'ls', '-q').stdout.split('\n').filter(Boolean)) ctr('containers', 'rm', id);
  }
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  for (const { ns } of Object.values(shims)) {
    for (const h of readdirSync('/sys/fs/cgroup')) spawnSync('find', [join('/sys/fs/cgroup', h, ns), '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
    rmSync(`/run/containerd/runc/${ns}`, { recursive: true, force: true });
    rmSync(`/run/containerd/tsrun/${ns}`, { recursive: true, force: true });
  }
  rmSync(dir, { recursive: true, force: true });
}
