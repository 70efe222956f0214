// Checkpoint and restore times, tsrun against runc 1.3, both with CRIU 4.2 from
// scripts/modern-stack.sh first on PATH, in one run on the same bundles: a small container (a
// shell loop) and one with 256 MiB resident (dd's buffer, held while dd waits to write it to a
// pipe nobody reads). Medians of N rounds; ratios matter, the machine is shared.
// Root only. `node bench/checkpoint.mjs [rounds]`
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const repo = new URL('..', import.meta.url).pathname;
const rounds = Number(process.argv[2] ?? 3);
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const stack = Object.fromEntries(execFileSync(join(repo, 'scripts/modern-stack.sh'), { env, encoding: 'utf8' })
  .split('\n').filter((l) => l.startsWith('STACK_')).map((l) => l.slice(6).split('=')));
env.PATH = `${stack.BIN}:${env.PATH}`;
const dir = mkdtempSync(join(tmpdir(), 'tsrun-bench-criu-'));

const runtimes = { runc: stack.RUNC, tsrun: join(repo, 'bin', 'tsrun') };
const workloads = {
  small: 'i=0; while true; do i=$((i+1)); sleep 0.1; done',
  '256MiB': 'dd if=/dev/zero bs=256M count=1 2>/dev/null | sleep 100000',
};

function bundle(name, script) {
  const b = join(dir, `bundle-${name}`);
  execFileSync(join(repo, 'scripts/make-busybox-bundle.sh'), [b], { stdio: 'ignore' });
  const config = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8'));
  config.process.terminal = false;
  config.process.args = ['sh', '-c', script];
  writeFileSync(join(b, 'config.json'), JSON.stringify(config));
  return b;
}

// stdio /dev/null: a container inherits it (a pipe would keep spawnSync waiting); errors go to --log.
function run(bin, root, args) {
  const logFile = `${root}.log`;
  const t = process.hrtime.bigint();
  const r = spawnSync(bin, ['--root', root, '--log', logFile, ...args], { env, stdio: 'ignore' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')}: ${readFileSync(logFile, 'utf8')}`);
  return ms;
}

function rssKiB(pid) {
  try { return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]); } catch { return 0; }
}

/** Waits until the container's processes hold `kib` resident (the dd buffer filled). */
async function resident(bin, root, id, kib) {
  const init = JSON.parse(execFileSync(bin, ['--root', root, 'state', id], { env, encoding: 'utf8' })).pid;
  for (let i = 0; i < 600; i++) {
    const kids = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try { return readFileSync(`/proc/${p}/stat`, 'latin1').split(') ')[1].split(' ')[1] === String(init); } catch { return false; }
    });
    const total = [init, ...kids].reduce((s, p) => s + rssKiB(p), 0);
    if (total >= kib) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${id} never reached ${kib} KiB resident`);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = {};
try {
  for (const [name, script] of Object.entries(workloads)) {
    const b = bundle(name, script);
    const roots = Object.fromEntries(Object.keys(runtimes).map((rt) => [rt, mkdtempSync(join(dir, `root-${rt}-`))]));
    const times = Object.fromEntries(Object.keys(runtimes).map((rt) => [rt, { checkpoint: [], restore: [] }]));
    // Rounds alternate between the runtimes, so that a busy moment of the machine hits both.
    for (let i = 0; i < rounds; i++) {
      for (const [rt, bin] of Object.entries(runtimes)) {
        const root = roots[rt];
        const id = `bench-criu-${process.pid}-${rt}-${name}-${i}`;
        const images = join(dir, `img-${rt}-${name}-${i}`);
        run(bin, root, ['run', '-d', '--bundle', b, id]);
        if (name !== 'small') await resident(bin, root, id, 256 * 1024);
        else await new Promise((r) => setTimeout(r, 200));
        times[rt].checkpoint.push(run(bin, root, ['checkpoint', '--image-path', images, id]));
        times[rt].restore.push(run(bin, root, ['restore', '-d', '--image-path', images, '--bundle', b, id]));
        run(bin, root, ['delete', '--force', id]);
        rmSync(images, { recursive: true, force: true });
      }
    }
    for (const rt of Object.keys(runtimes)) {
      results[`${rt} ${name}`] = { checkpoint: median(times[rt].checkpoint), restore: median(times[rt].restore) };
    }
  }
  console.log(`checkpoint / restore, median of ${rounds} (ms), CRIU 4.2 for both:`);
  for (const name of Object.keys(workloads)) {
    const r = results[`runc ${name}`], t = results[`tsrun ${name}`];
    console.log(`  ${name.padEnd(7)} checkpoint: runc 1.3 ${r.checkpoint.toFixed(0)}, tsrun ${t.checkpoint.toFixed(0)} (x${(t.checkpoint / r.checkpoint).toFixed(2)});`
      + ` restore: runc 1.3 ${r.restore.toFixed(0)}, tsrun ${t.restore.toFixed(0)} (x${(t.restore / r.restore).toFixed(2)})`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
