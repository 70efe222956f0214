// bench/library: containers per second through the runtime library in one Node process
// (create + start + wait + delete, sequentially and 8 at a time), beside `runc run` of the same
// busybox bundle (sequentially and 8 processes at a time), in one run. Ratios are the result.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const repo = join(__dirname, '..');
const lib = require(join(repo, 'bin/tsrun-lib.cjs'));
const count = Number(process.env.BENCH_CONTAINERS ?? 40);
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

const work = mkdtempSync(join(tmpdir(), 'tsrun-bench-lib-'));
const bundle = join(work, 'bundle');
const made = spawnSync(join(repo, 'scripts/make-busybox-bundle.sh'), [bundle], { encoding: 'utf8' });
if (made.status !== 0) throw new Error(made.stderr);
const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
config.process.terminal = false;
config.process.args = ['/bin/true'];
writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));

async function inParallel(n, width, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => { while (next < n) await fn(next++); }));
}

async function viaLibrary(width, tag) {
  const runtime = new lib.Runtime({ root: join(work, `lib-root-${tag}`) });
  const t0 = process.hrtime.bigint();
  await inParallel(count, width, async (i) => {
    const c = await runtime.create(`lib-${tag}-${i}`, bundle, { stdio: { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' } });
    await c.start();
    const exit = await c.wait();
    if (exit.exitStatus !== 0) throw new Error(`container ${i}: exit ${exit.exitStatus}`);
    await c.delete();
  });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  runtime.close();
  return count / s;
}

function runcRun(id, root) {
  return new Promise((resolve, reject) => {
    const child = spawn('runc', ['--root', root, 'run', '--bundle', bundle, id], { env, stdio: 'ignore' });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`runc run ${id}: exit ${code}`))));
  });
}

async function viaRunc(width, tag) {
  const root = join(work, `runc-root-${tag}`);
  const t0 = process.hrtime.bigint();
  await inParallel(count, width, (i) => runcRun(`runc-${tag}-${i}`, root));
  return count / (Number(process.hrtime.bigint() - t0) / 1e9);
}

(async () => {
  lib.becomeChildSubreaper();
  const rows = [];
  for (const width of [1, 8]) {
    // Alternated, so that both see the same machine conditions.
    const runc = await viaRunc(width, `w${width}`);
    const tsrun = await viaLibrary(width, `w${width}`);
    rows.push([width === 1 ? 'sequential' : `${width} at a time`, tsrun, runc]);
  }
  console.log(`bench/library: ${count} containers of busybox /bin/true, containers per second`);
  console.log('mode'.padEnd(16) + 'tsrun library'.padStart(15) + 'runc run'.padStart(12) + 'tsrun/runc'.padStart(12));
  for (const [mode, a, b] of rows) console.log(mode.padEnd(16) + a.toFixed(1).padStart(15) + b.toFixed(1).padStart(12) + (a / b).toFixed(2).padStart(12));
  rmSync(work, { recursive: true, force: true });
})().catch((err) => { console.error(err); rmSync(work, { recursive: true, force: true }); process.exit(1); });
