// bench/cli: every CLI command of tsrun against runc 1.3 and crun 1.2x (the modern stack),
// runc 1.1.5 (Debian's) and Node's own floor, in one run, as ratios; then where tsrun's time
// goes, phase by phase (TSRUN_TIMING, runtime/timing.ts); with --docker also `docker run --rm`
// under a private Docker 20.10 with runc and with tsrun.
//
//   node bench/cli.mjs [--rounds N] [--docker] [--docker-rounds N] [--only tsrun,runc13,...] [--before DIR]
//
// --before DIR adds the tsrun built in another checkout (e.g. `git worktree add DIR main && make -C DIR build`),
// for a before/after table from one run.
//
// Wall times are medians; CPU is the mean of user+system time of the command and everything it
// waited for (the container included), which a busy machine distorts less than wall time.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const repo = new URL('..', import.meta.url).pathname;
const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(name); return i < 0 ? dflt : argv[i + 1]; };
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
delete env.TSRUN_TIMING;

// CPU time of reaped children, from /proc/self/stat (cutime, cstime; clock ticks of 10 ms).
function childCpuMs() {
  const f = readFileSync('/proc/self/stat', 'latin1');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

/** Runs one command, timed: { ms, cpu, status, stderr }. */
function timed(cmd, args, extraEnv, errFile) {
  const errFd = openSync(errFile, 'w');
  const outFd = openSync(`${errFile}.out`, 'w');
  const cpu0 = childCpuMs();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env: extraEnv ? { ...env, ...extraEnv } : env, stdio: ['ignore', outFd, errFd] });
  const t1 = process.hrtime.bigint();
  const cpu = childCpuMs() - cpu0;
  closeSync(errFd); closeSync(outFd);
  return { ms: Number(t1 - t0) / 1e6, cpu, status: r.status, stderr: readFileSync(errFile, 'utf8'), stdout: readFileSync(`${errFile}.out`, 'utf8'), start: String(t0), end: String(t1) };
}

// --serve: a timing server (crun runs in a mount namespace of its own, see below): one JSON
// request per line on stdin, one answer per line on stdout.
if (argv[0] === '--serve') {
  const serveDir = mkdtempSync(join(tmpdir(), 'tsrun-bench-serve-'));
  const errFile = join(serveDir, 'stderr');
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    const { cmd, args } = JSON.parse(line);
    process.stdout.write(JSON.stringify(timed(cmd, args, undefined, errFile)) + '\n');
  }
  rmSync(serveDir, { recursive: true, force: true });
  process.exit(0);
}

const rounds = Number(opt('--rounds', 20));
const dockerRounds = Number(opt('--docker-rounds', 10));
const work = mkdtempSync(join(tmpdir(), 'tsrun-bench-cli-'));
const errFile = join(work, 'stderr');

function bundle(name, args) {
  const dir = join(work, name);
  const r = spawnSync(join(repo, 'scripts/make-busybox-bundle.sh'), [dir], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(r.stderr);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  config.process.terminal = false;
  config.process.args = args;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}
const trueBundle = bundle('true', ['/bin/true']);
const sleepBundle = bundle('sleep', ['/bin/sleep', '60']);

const stackOut = spawnSync(join(repo, 'scripts/modern-stack.sh'), [], { encoding: 'utf8', env });
const stack = Object.fromEntries(stackOut.stdout.split('\n').map((l) => /^STACK_([A-Z_]+)=(.*)$/.exec(l)).filter(Boolean).map((m) => [m[1], m[2]]));

// crun refuses a hybrid host unless the unified hierarchy shows no controllers: it runs in a
// private mount namespace where that file is /dev/null (../shared/reference/modern-stack.md).
let server;
function startServer() {
  const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c',
    'mount --bind /dev/null /sys/fs/cgroup/unified/cgroup.controllers && exec "$0" "$1" --serve', process.execPath, new URL(import.meta.url).pathname,
  ], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', (l) => waiting.shift()(JSON.parse(l)));
  return {
    run: (cmd, args) => new Promise((resolve) => { waiting.push(resolve); child.stdin.write(JSON.stringify({ cmd, args }) + '\n'); }),
    close: () => child.stdin.end(),
  };
}

const before = opt('--before');
const runtimes = [
  { name: 'tsrun', bin: join(repo, 'bin/tsrun') },
  ...(before ? [{ name: 'tsrun before', key: 'before', bin: join(before, 'bin/tsrun') }] : []),
  { name: 'runc 1.3', key: 'runc13', bin: stack.RUNC },
  { name: 'crun', bin: stack.CRUN, remote: true },
  { name: 'runc 1.1', key: 'runc11', bin: existsSync('/usr/sbin/runc') ? '/usr/sbin/runc' : '/usr/bin/runc' },
].map((r) => ({ key: r.name, ...r, root: join(work, `root-${r.key ?? r.name}`) })).filter((r) => r.bin && existsSync(r.bin));
const only = opt('--only');
const selected = only ? runtimes.filter((r) => only.split(',').includes(r.key)) : runtimes;
if (selected.some((r) => r.remote)) server = startServer();

// tsrun's commands are each preceded by a `node -e 0` (paired floor): the machine's load drifts
// within a round, so a floor measured only at the round's ends misjudges tsrun's distance to it.
async function exec(rt, args, extraEnv) {
  const full = ['--root', rt.root, ...args];
  const floor = rt.name === 'tsrun' ? timed(process.execPath, ['-e', '0'], undefined, errFile) : undefined;
  const r = rt.remote ? await server.run(rt.bin, full) : timed(rt.bin, full, extraEnv, errFile);
  if (r.status !== 0) throw new Error(`${rt.name} ${full.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return floor ? { ...r, floorMs: floor.ms } : r;
}

/** The container's status as the runtime itself reports it (untimed). */
async function statusOf(rt, id) {
  const r = rt.remote ? await server.run(rt.bin, ['--root', rt.root, 'state', id]) : spawnSync(rt.bin, ['--root', rt.root, 'state', id], { env, encoding: 'utf8' });
  return /"status":\s*"(\w+)"/.exec(r.stdout)?.[1];
}

const COMMANDS = ['run', 'create', 'start', 'state', 'list', 'kill', 'delete', '--version'];

/** One lifecycle of every command; returns { command: result }. */
async function lifecycle(rt, i, extraEnv) {
  const id = `bench-${process.pid}-${i}`;
  const out = {};
  out.run = await exec(rt, ['run', '--bundle', trueBundle, `${id}-r`], extraEnv);
  out.create = await exec(rt, ['create', '--bundle', sleepBundle, id], extraEnv);
  out.start = await exec(rt, ['start', id], extraEnv);
  out.state = await exec(rt, ['state', id], extraEnv);
  out.list = await exec(rt, ['list'], extraEnv);
  out.kill = await exec(rt, ['kill', id, 'KILL'], extraEnv);
  for (let n = 0; n < 2000 && (await statusOf(rt, id)) !== 'stopped'; n++) await new Promise((res) => setTimeout(res, 2));
  out.delete = await exec(rt, ['delete', id], extraEnv);
  out['--version'] = await exec(rt, ['--version'], extraEnv);
  return out;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

// An empty script through the same launcher as bin/tsrun: Node's floor as tsrun meets it. bin/tsrun
// is native/tsrun-launcher.c, which runs the tsrun-launcher.cjs beside it (a #! line before that).
const emptyScript = join(work, 'launcher-floor', 'tsrun');
mkdirSync(join(work, 'launcher-floor'));
const launcherHead = readFileSync(join(repo, 'bin/tsrun')).subarray(0, 2).toString();
if (launcherHead === '#!') {
  writeFileSync(emptyScript, `${readFileSync(join(repo, 'bin/tsrun'), 'utf8').split('\n')[0]}\n`, { mode: 0o755 });
} else {
  copyFileSync(join(repo, 'bin/tsrun'), emptyScript);
  chmodSync(emptyScript, 0o755);
  writeFileSync(join(work, 'launcher-floor', 'tsrun-launcher.cjs'), '');
}
const floors = { 'node -e 0': [process.execPath, ['-e', '0']], 'launcher + empty script': [emptyScript, []] };

const results = {};
for (const rt of selected) results[rt.name] = Object.fromEntries(COMMANDS.map((c) => [c, []]));
for (const f of Object.keys(floors)) results[f] = { all: [] };

process.stderr.write(`bench/cli: ${rounds} rounds of ${selected.map((r) => r.name).join(', ')}\n`);
for (let i = 0; i < rounds; i++) {
  // Rotate the order, so that each sees the same machine conditions on average.
  const order = selected.map((_, k) => selected[(k + i) % selected.length]);
  for (const [f, [cmd, args]] of Object.entries(floors)) results[f].all.push(timed(cmd, args, undefined, errFile));
  for (const rt of order) {
    const out = await lifecycle(rt, i);
    for (const c of COMMANDS) results[rt.name][c].push(out[c]);
  }
  for (const [f, [cmd, args]] of Object.entries(floors)) results[f].all.push(timed(cmd, args, undefined, errFile));
}

const nodeFloor = median(results['node -e 0'].all.map((r) => r.ms));
const launcherFloor = median(results['launcher + empty script'].all.map((r) => r.ms));
const pad = (s, n) => String(s).padStart(n);
console.log(`\nbench/cli: ${rounds} rounds, busybox; wall medians in ms (CPU means in ms in brackets)`);
console.log(`floor: node -e 0 ${nodeFloor.toFixed(1)} [${mean(results['node -e 0'].all.map((r) => r.cpu)).toFixed(1)}], tsrun's launcher with an empty script ${launcherFloor.toFixed(1)} [${mean(results['launcher + empty script'].all.map((r) => r.cpu)).toFixed(1)}]`);
const cols = selected.map((r) => r.name);
const ref = results['runc 1.3'] ? 'runc 1.3' : undefined;
// tsrun-node: tsrun's median less the rounds' floor; paired: the median of each command's time less
// the `node -e 0` run just before it
let header = 'command'.padEnd(11) + cols.map((c) => pad(c, 18)).join('') + pad('tsrun-node', 12) + pad('paired', 9);
if (ref) header += pad('tsrun/runc1.3', 15);
if (results.crun) header += pad('tsrun/crun', 12);
console.log(header);
for (const c of COMMANDS) {
  const m = (name) => median(results[name][c].map((r) => r.ms));
  let line = c.padEnd(11) + cols.map((name) => pad(`${m(name).toFixed(1)} [${mean(results[name][c].map((r) => r.cpu)).toFixed(1)}]`, 18)).join('');
  if (results.tsrun) {
    line += pad(`+${(m('tsrun') - nodeFloor).toFixed(1)}`, 12);
    line += pad(`+${median(results.tsrun[c].map((r) => r.ms - r.floorMs)).toFixed(1)}`, 9);
    if (ref) line += pad((m('tsrun') / m(ref)).toFixed(2), 15);
    if (results.crun) line += pad((m('tsrun') / m('crun')).toFixed(2), 12);
  }
  console.log(line);
}

// Where tsrun's time goes: the same lifecycle with TSRUN_TIMING, phase medians.
const tsrun = selected.find((r) => r.name === 'tsrun');
if (tsrun) {
  const timingFile = join(work, 'timing');
  const phases = Object.fromEntries(COMMANDS.map((c) => [c, new Map()]));
  const walls = Object.fromEntries(COMMANDS.map((c) => [c, []]));
  for (let i = 0; i < rounds; i++) {
    writeFileSync(timingFile, '');
    const out = await lifecycle(tsrun, `t${i}`, { TSRUN_TIMING: timingFile });
    const records = readFileSync(timingFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    for (const c of COMMANDS) {
      const r = out[c];
      // The record of this command: the one whose process ran inside its spawn.
      const rec = records.find((x) => BigInt(x.node.origin) > BigInt(r.start) && BigInt(x.exit) < BigInt(r.end));
      if (!rec) continue;
      walls[c].push(r.ms);
      const points = [['spawn', r.start], ['node boot', rec.node.bootstrapComplete], ['bundle compile', rec.loaded], ...rec.marks, ['exit call', rec.exit], ['process gone', r.end]];
      // Node's boot split: exec of env and node up to V8, V8 start, Node's bootstrap.
      points.splice(1, 0, ['exec → node main', rec.node.origin], ['V8 init', rec.node.v8Start], ['node env', rec.node.environment]);
      for (let k = 1; k < points.length; k++) {
        const name = points[k][0] === 'evaluated' ? 'module eval' : points[k][0];
        const ms = Number(BigInt(points[k][1]) - BigInt(points[k - 1][1])) / 1e6;
        const m = phases[c];
        if (!m.has(name)) m.set(name, []);
        m.get(name).push(ms);
      }
    }
  }
  // Node's own phases, measured the same way: `node -e` with a script that appends the same record
  // (its 'bundle compile' is Node reading its -e script up to the first statement).
  const nodeScript = `const loaded=process.hrtime.bigint();process.on('exit',()=>{const now=process.hrtime.bigint();const{performance}=require('perf_hooks');`
    + `const origin=now-BigInt(Math.round(performance.now()*1e6));const at=(ms)=>String(origin+BigInt(Math.round(ms*1e6)));const t=performance.nodeTiming;`
    + `require('fs').appendFileSync(${JSON.stringify(timingFile)},JSON.stringify({argv:[],node:{origin:String(origin),v8Start:at(t.v8Start),environment:at(t.environment),`
    + `bootstrapComplete:at(t.bootstrapComplete)},loaded:String(loaded),marks:[],exit:String(now)})+'\\n')})`;
  phases['node -e'] = new Map();
  walls['node -e'] = [];
  for (let i = 0; i < rounds; i++) {
    writeFileSync(timingFile, '');
    const r = timed(process.execPath, ['-e', nodeScript], undefined, errFile);
    const rec = JSON.parse(readFileSync(timingFile, 'utf8'));
    walls['node -e'].push(r.ms);
    const points = [['spawn', r.start], ['exec → node main', rec.node.origin], ['V8 init', rec.node.v8Start], ['node env', rec.node.environment], ['node boot', rec.node.bootstrapComplete], ['bundle compile', rec.loaded], ['exit call', rec.exit], ['process gone', r.end]];
    for (let k = 1; k < points.length; k++) {
      const m = phases['node -e'];
      if (!m.has(points[k][0])) m.set(points[k][0], []);
      m.get(points[k][0]).push(Number(BigInt(points[k][1]) - BigInt(points[k - 1][1])) / 1e6);
    }
  }
  console.log(`\ntsrun, where the time goes (TSRUN_TIMING; medians of ${rounds}, ms; each phase ends at the mark it is named by;`);
  console.log(`"node -e" is Node's own floor measured the same way: its "bundle compile" is reaching the -e script's first statement)`);
  for (const c of [...COMMANDS, 'node -e']) {
    const parts = [...phases[c]].map(([name, xs]) => `${name} ${median(xs).toFixed(1)}`);
    console.log(`${c.padEnd(10)} wall ${median(walls[c]).toFixed(1)}: ${parts.join(', ')}`);
  }
}

if (argv.includes('--docker')) await dockerBench();

// Clean up whatever a failed round left.
for (const rt of selected) {
  const ids = spawnSync(rt.remote ? 'true' : rt.bin, ['--root', rt.root, 'list', '-q'], { env, encoding: 'utf8' }).stdout ?? '';
  for (const id of ids.split('\n').filter(Boolean)) spawnSync(rt.bin, ['--root', rt.root, 'delete', '--force', id], { env });
}
server?.close();
rmSync(work, { recursive: true, force: true });

// `docker run --rm` of busybox /bin/true with runc and with tsrun, under a private dockerd 20.10 in a
// network namespace of its own (as test/integration/docker.test.ts starts it).
async function dockerBench() {
  const dir = join(work, 'docker');
  mkdirSync(dir);
  const sock = `unix://${dir}/docker.sock`;
  const cgroupParent = `tsrun-bench-${process.pid}`;
  const timingFile = join(dir, 'timing');
  const daemon = spawn('unshare', ['--net', '--', '/usr/sbin/dockerd', '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'),
    '--pidfile', join(dir, 'dockerd.pid'), '-H', sock, '--cgroup-parent', `/${cgroupParent}`, '--add-runtime', `tsrun=${join(repo, 'bin/tsrun')}`],
  { stdio: ['ignore', 'ignore', 'ignore'], env: { ...env, TSRUN_TIMING: timingFile } });
  const docker = (args, input) => spawnSync('/usr/bin/docker', ['-H', sock, ...args], { input, env, encoding: input ? undefined : 'utf8', maxBuffer: 64 << 20 });
  try {
    for (let i = 0; i < 300 && docker(['version']).status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    const tar = spawnSync('tar', ['-C', join(trueBundle, 'rootfs'), '-c', '.'], { maxBuffer: 64 << 20 });
    if (docker(['import', '-', 'busybox:bench'], tar.stdout).status !== 0) throw new Error('docker import failed');
    const times = { runc: [], tsrun: [] };
    // One of each first: the first container of a runtime pays for the shim's first start.
    for (const rt of ['runc', 'tsrun']) docker(['run', '--rm', '--runtime', rt, 'busybox:bench', '/bin/true']);
    writeFileSync(timingFile, '');
    for (let i = 0; i < dockerRounds; i++) {
      for (const rt of i % 2 ? ['runc', 'tsrun'] : ['tsrun', 'runc']) {
        const r = timed('/usr/bin/docker', ['-H', sock, 'run', '--rm', '--runtime', rt, 'busybox:bench', '/bin/true'], undefined, errFile);
        if (r.status !== 0) throw new Error(`docker run --runtime ${rt}: ${r.stderr}`);
        times[rt].push(r.ms);
      }
    }
    const a = median(times.tsrun), b = median(times.runc);
    console.log(`\ndocker run --rm (Docker 20.10, ${dockerRounds} rounds): runc ${b.toFixed(1)} ms, tsrun ${a.toFixed(1)} ms, tsrun/runc ${(a / b).toFixed(2)}`);
    const records = readFileSync(timingFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const byCommand = new Map();
    for (const rec of records) {
      const c = rec.argv.find((x) => !x.startsWith('-') && !rec.argv[rec.argv.indexOf(x) - 1]?.startsWith('--')) ?? rec.argv[0];
      const ms = Number(BigInt(rec.exit) - BigInt(rec.node.origin)) / 1e6;
      if (!byCommand.has(c)) byCommand.set(c, []);
      byCommand.get(c).push(ms);
    }
    console.log(`tsrun invocations per docker run: ${(records.length / dockerRounds).toFixed(1)}; node main to exit call, medians: ${[...byCommand].map(([c, xs]) => `${c} ×${(xs.length / dockerRounds).toFixed(1)} ${median(xs).toFixed(1)}`).join(', ')}`);
    // The phases of each command under Docker (the same names as above, from node main on).
    const phasesBy = new Map();
    for (const rec of records) {
      const c = rec.argv.find((x) => !x.startsWith('-') && !rec.argv[rec.argv.indexOf(x) - 1]?.startsWith('--')) ?? rec.argv[0];
      const points = [['node main', rec.node.origin], ['V8 init', rec.node.v8Start], ['node env', rec.node.environment], ['node boot', rec.node.bootstrapComplete], ['bundle compile', rec.loaded], ...rec.marks, ['exit call', rec.exit]];
      if (!phasesBy.has(c)) phasesBy.set(c, new Map());
      const m = phasesBy.get(c);
      for (let k = 1; k < points.length; k++) {
        const name = points[k][0] === 'evaluated' ? 'module eval' : points[k][0];
        if (!m.has(name)) m.set(name, []);
        m.get(name).push(Number(BigInt(points[k][1]) - BigInt(points[k - 1][1])) / 1e6);
      }
    }
    for (const [c, m] of phasesBy) console.log(`  ${c}: ${[...m].map(([name, xs]) => `${name} ${median(xs).toFixed(1)}`).join(', ')}`);
  } finally {
    const ids = docker(['ps', '-aq']).stdout?.split('\n').filter(Boolean) ?? [];
    if (ids.length) docker(['rm', '-f', ...ids]);
    const exited = new Promise((r) => daemon.once('exit', r));
    daemon.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(dir));
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
    // Every hierarchy mounted here (cpu and cpuacct are separate on some hosts, one on others).
    for (const h of readdirSync('/sys/fs/cgroup')) {
      const p = join('/sys/fs/cgroup', h, cgroupParent);
      if (existsSync(p)) spawnSync('find', [p, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
    }
  }
}
