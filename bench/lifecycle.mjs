// bench/lifecycle: tsrun against runc on the same busybox bundle, in one run.
// Prints per-operation medians and the ratio tsrun/runc; ratios, not absolute times, are the result.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const repo = new URL('..', import.meta.url).pathname;
const rounds = Number(process.env.BENCH_ROUNDS ?? 30);
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

const work = mkdtempSync(join(tmpdir(), 'tsrun-bench-'));
const bundle = join(work, 'bundle');
let r = spawnSync(join(repo, 'scripts/make-busybox-bundle.sh'), [bundle], { encoding: 'utf8' });
if (r.status !== 0) throw new Error(r.stderr);
const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
config.process.terminal = false;
config.process.args = ['/bin/true'];
writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));

const runtimes = {
  tsrun: { bin: join(repo, 'bin/tsrun'), root: join(work, 'tsrun-root') },
  runc: { bin: 'runc', root: join(work, 'runc-root') },
};

// stderr goes to a file: a created container holds the runtime's stdio open until it exits.
const errFile = join(work, 'stderr');
function timed(bin, args) {
  const errFd = openSync(errFile, 'w');
  const t0 = process.hrtime.bigint();
  const res = spawnSync(bin, args, { env, stdio: ['ignore', 'ignore', errFd] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  closeSync(errFd);
  if (res.status !== 0) throw new Error(`${bin} ${args.join(' ')}: exit ${res.status}: ${readFileSync(errFile, 'utf8')}`);
  return ms;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const results = {};
for (const [name, rt] of Object.entries(runtimes)) results[name] = { run: [], create: [], start: [], delete: [], total: [] };

for (let i = 0; i < rounds; i++) {
  // Alternate so that both see the same machine conditions.
  for (const [name, rt] of Object.entries(runtimes)) {
    const g = ['--root', rt.root];
    const id = `bench-${i}`;
    results[name].run.push(timed(rt.bin, [...g, 'run', '--bundle', bundle, `${id}-run`]));
    const c = timed(rt.bin, [...g, 'create', '--bundle', bundle, id]);
    const s = timed(rt.bin, [...g, 'start', id]);
    spawnSync('sleep', ['0.01']);
    const d = timed(rt.bin, [...g, 'delete', '--force', id]);
    results[name].create.push(c); results[name].start.push(s); results[name].delete.push(d); results[name].total.push(c + s + d);
  }
}

console.log(`bench/lifecycle: ${rounds} rounds, busybox /bin/true, medians in ms`);
console.log('operation'.padEnd(22) + 'tsrun'.padStart(10) + 'runc'.padStart(10) + 'tsrun/runc'.padStart(12));
for (const op of ['run', 'create', 'start', 'delete', 'total']) {
  const a = median(results.tsrun[op]);
  const b = median(results.runc[op]);
  const label = op === 'total' ? 'create+start+delete' : op;
  console.log(label.padEnd(22) + a.toFixed(1).padStart(10) + b.toFixed(1).padStart(10) + (a / b).toFixed(2).padStart(12));
}
rmSync(work, { recursive: true, force: true });
