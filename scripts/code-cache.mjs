// node scripts/code-cache.mjs DIR: writes the V8 code caches that bin/tsrun (the launcher, see
// build.mjs) compiles its bundles with: DIR/tsrun-quick.<command>.<hash>.cache for each command in
// WARM_UP, holding the bytecode of the functions that command runs from DIR/tsrun-quick.cjs, and
// DIR/tsrun.<hash>.cache for every command of DIR/tsrun.cjs, holding that bundle's top level only
// (<hash>: the bundle's, see build.mjs). Compiled without a cache, a bundle costs a parse of all
// of it and a compile of each function a command calls.
// Each cache comes from a process of its own that runs the bundle once: a cache made after the
// bundle ran several times in one process (its top level tiered up) costs ~150 more page faults
// to load, more than the lazy compiles it saves. The commands run without a container, on one
// made up in a temporary root: running (its pid is a `sleep` of ours, which kill signals) for
// state, list and kill, created for start, stopped for delete. V8 rejects a cache (and the launcher then compiles as before)
// if the Node binary, its V8 flags or the bundle differ.
// DIR/generated/validators.<hash>.cache is the schema validators' (launched the same way), made after
// checking the config that `tsrun spec` writes, its process and its resources.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';

const contentHash = (file) => createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16);

/** Command name (as the launcher finds it in argv) → the arguments of its warm-up run. */
const WARM_UP = {
  version: ['--version'],
  list: ['list'],
  state: ['state', 'warm-up'],
  kill: ['kill', 'warm-up', 'KILL'],
  start: ['start', 'warm-up'],
  delete: ['delete', 'warm-up'],
};

const [dir, child, name] = process.argv.slice(2);

const V1_CONTROLLERS = new Set(['cpuset', 'devices', 'memory', 'cpu', 'cpuacct', 'pids', 'blkio', 'hugetlb', 'net_cls', 'net_prio', 'perf_event', 'freezer', 'rdma', 'name=systemd', 'misc']);

/**
 * The warm-up container's cgroup as create saves it (cgroupfs driver), in dirs named `leaf` below
 * this machine's hierarchies, which do not exist: the commands run their cgroup code (state reads
 * the freezer, delete removes the dirs) and so compile it into the cache, finding nothing there.
 */
function warmUpCgroup(leaf) {
  let mountinfo;
  try { mountinfo = readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return undefined; }
  const paths = {};
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0) continue;
    const [mountpoint, fstype, options] = [f[4], f[sep + 1], f[sep + 3] ?? ''];
    if (fstype === 'cgroup2' && mountpoint === '/sys/fs/cgroup') return { version: 2, paths: { '': `${mountpoint}/${leaf}` }, created: [] };
    if (fstype === 'cgroup2' && mountpoint === '/sys/fs/cgroup/unified') paths[''] = `${mountpoint}/${leaf}`;
    if (fstype === 'cgroup' && mountpoint.startsWith('/sys/fs/cgroup/')) {
      for (const o of options.split(',')) if (V1_CONTROLLERS.has(o)) paths[o] = `${mountpoint}/${leaf}`;
    }
  }
  return Object.keys(paths).length ? { version: 1, paths, created: [] } : undefined;
}
if (!dir) throw new Error('usage: code-cache.mjs DIR');
const file = join(dir, name ? 'tsrun-quick.cjs' : 'tsrun.cjs');

if (child !== '--child') {
  const work = mkdtempSync(join(tmpdir(), 'tsrun-code-cache-'));
  try {
    const specDir = join(work, 'spec');
    mkdirSync(specDir);
    const spec = spawnSync(process.execPath, [join(dir, 'tsrun-launcher.cjs'), join(dir, 'tsrun'), 'spec', '--bundle', specDir], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, encoding: 'utf8' });
    if (spec.status !== 0) throw new Error(`code-cache: tsrun spec: ${spec.stderr}`);
    for (const cmd of [undefined, ...Object.keys(WARM_UP), 'validators']) {
      // A container's process for each (kill kills its own).
      const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
      try {
        const stat = readFileSync(`/proc/${sleeper.pid}/stat`, 'latin1');
        const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
        // The commands print: a child of its own, with its output thrown away and a clean environment.
        const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TSRUN_CODE_CACHE_WORK: work, TSRUN_CODE_CACHE_PID: `${sleeper.pid} ${startTime}` };
        const args = [new URL(import.meta.url).pathname, dir, '--child', ...(cmd ? [cmd] : [])];
        const r = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`code-cache ${cmd ?? ''}: ${r.stderr}`);
      } finally {
        sleeper.kill('SIGKILL');
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  process.exit(0);
}

if (name === 'validators') {
  // The same text as the launcher compiles: the cache belongs to it.
  const path = join(dir, 'generated/validators.js');
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${readFileSync(path, 'latin1')}\n})`, { filename: path });
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, createRequire(path), mod, path, join(dir, 'generated'));
  const config = JSON.parse(readFileSync(join(process.env.TSRUN_CODE_CACHE_WORK, 'spec/config.json'), 'utf8'));
  for (const [validate, doc] of [['validateSpec', config], ['validateProcess', config.process], ['validateLinuxResources', config.linux?.resources ?? {}]]) {
    if (!mod.exports[validate](doc)) throw new Error(`code-cache: the config of tsrun spec fails ${validate}`);
  }
  writeFileSync(join(dir, `generated/validators.${contentHash(path)}.cache`), script.createCachedData());
  process.exit(0);
}

// The text as the launcher reads it (it holds the CommonJS wrapper): the cache belongs to it.
const script = new Script(readFileSync(file, 'latin1'), { filename: file });
const out = join(dir, name ? `tsrun-quick.${name}.${contentHash(file)}.cache` : `tsrun.${contentHash(file)}.cache`);
if (!name) {
  writeFileSync(out, script.createCachedData());
  process.exit(0);
}

const work = process.env.TSRUN_CODE_CACHE_WORK;
const root = join(work, 'root');
const id = 'warm-up';
mkdirSync(join(root, id), { recursive: true, mode: 0o700 });
// Running: the sleeper's pid and start time. Stopped: pid 2147483646 never exists.
const [pid, pidStartTime] = name !== 'delete' ? process.env.TSRUN_CODE_CACHE_PID.split(' ') : ['2147483646', '1'];
if (name === 'start') {
  // Created: an init still running the executor, waiting at its exec fifo. The sleeper stands in
  // for it (its exe link reads as the executor's memfd), and a shell for its write of one byte.
  const fifo = join(root, id, 'exec.fifo');
  const mkfifo = spawnSync('mkfifo', ['-m', '0600', fifo]);
  if (mkfifo.status !== 0) throw new Error(`code-cache: mkfifo ${fifo}: ${mkfifo.stderr}`);
  spawn('sh', ['-c', 'printf 0 > "$0"', fifo], { stdio: 'ignore' });
  const readlinkSync = fs.readlinkSync;
  fs.readlinkSync = (path, ...rest) => (path === `/proc/${pid}/exe` ? '/memfd:tsrun-executor (deleted)' : readlinkSync(path, ...rest));
}
const container = {
  version: 1, ociVersion: '1.2.0', id, bundle: work, rootfs: join(work, 'rootfs'), pid: Number(pid), pidStartTime,
  created: '2026-01-01T00:00:00Z', owner: '', annotations: {}, process: { args: ['true'], cwd: '/' },
  cgroup: warmUpCgroup(`tsrun-code-cache-${process.pid}-${Date.now()}`),
};
writeFileSync(join(root, id, 'tsrun-state.json'), JSON.stringify(container));
// Each warm-up succeeds: a cache of an error's path would leave the command's own to compile.
process.exit = (code) => {
  if (code !== 0) {
    process.stderr.write(`code-cache: ${name} exited with ${code}\n`);
    process.reallyExit(1);
  }
  writeFileSync(out, script.createCachedData());
  process.reallyExit(0);
};
process.argv = [process.execPath, file, '--root', root, ...WARM_UP[name]];
const mod = { exports: {} };
script.runInThisContext().call(mod.exports, mod.exports, createRequire(file), mod, file, dir);
if (!mod.exports.runQuick(process.argv.slice(2))) throw new Error(`code-cache: tsrun-quick.cjs declines ${name}`);
