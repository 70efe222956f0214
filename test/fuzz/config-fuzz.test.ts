// Fuzzes config.json with the schema-aware mutator. Every case must end as a running container
// (then deleted) or one clear error (one line, a TsrunError or an errno error, never a JS
// TypeError/RangeError or a trace), never a hang or a leak.
// Sizes: TSRUN_FUZZ_CASES (default 1000 in-process through the library, as create runs it up to
// the executor) and TSRUN_FUZZ_BINARY (default 120 through bin/tsrun create). Seeds replay:
// TSRUN_FUZZ_SEED.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsrunError } from '../../runtime/errors.js';
import { loadBundleSpec } from '../../runtime/spec/load.js';
import { compileInitPlan } from '../../runtime/plan/compile.js';
import { encodePlan } from '../../runtime/plan/encode.js';
import { cgroupManager, detectCgroupLayout, v1MountOrder } from '../../runtime/cgroups/index.js';
import { needsRoot, REPO, tsrun, makeBundle, makeRoot, cgroupDirsNamed, processesIn } from '../helpers/harness.js';
import { Schemas, mutate } from './mutator.js';
import { realHostView } from '../../runtime/host-view.js';

const CASES = Number(process.env.TSRUN_FUZZ_CASES ?? 1000);
const BINARY_CASES = Number(process.env.TSRUN_FUZZ_BINARY ?? 120);
const SEED = Number(process.env.TSRUN_FUZZ_SEED ?? 1);
const schemas = new Schemas(join(REPO, 'spec-schemas'));

function baseConfig(bundle: string): any {
  return JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
}

/** An error is clear if it is ours or names a system call's errno; never a JS engine error. */
function clearError(err: unknown): string | undefined {
  if (err instanceof TsrunError) return err.message.includes('\n') ? `multi-line TsrunError: ${err.message}` : undefined;
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && typeof e.syscall === 'string') return undefined;
  return `${(err as Error)?.constructor?.name}: ${(err as Error)?.stack ?? String(err)}`;
}

test(`${CASES} mutated configs through the library: each compiles to a plan or fails with one clear error`, { skip: needsRoot }, () => {
  const bundle = makeBundle((c) => { c.process.args = ['sleep', '1000']; });
  const base = baseConfig(bundle);
  const stats = { plans: 0, errors: 0, naming: 0 };
  const bad: string[] = [];
  try {
    for (let i = 0; i < CASES; i++) {
      const seed = SEED * 1_000_003 + i;
      const { config, what } = mutate(base, schemas, seed);
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
      try {
        const { spec, rootfs } = loadBundleSpec(bundle);
        const cgroups = cgroupManager({ cgroupsPath: spec.linux?.cgroupsPath, id: `fuzz-${i}`, resources: spec.linux?.resources, systemd: false, annotations: spec.annotations });
        const plan = compileInitPlan({
          host: realHostView, id: `fuzz-${i}`, spec, bundle, rootfs, execFifo: '/run/fuzz/exec.fifo', cgroupProcs: cgroups.procsFiles(),
          cgroups: { version: cgroups.version, paths: cgroups.paths, mountOrder: cgroups.version === 1 ? v1MountOrder(detectCgroupLayout()) : [] },
          noPivot: false, noNewKeyring: false, preserveFds: 0, foreground: false, hookBarrier: false, warnings: [],
        });
        encodePlan(plan);
        stats.plans++;
      } catch (err) {
        stats.errors++;
        const problem = clearError(err);
        if (problem) bad.push(`seed ${seed} (${what.join('; ')}): ${problem.split('\n').slice(0, 4).join(' | ')}`);
        else if (/(^|[\s:"])\/[a-zA-Z]|config\.json|[a-z]+[A-Z][a-z]+|must|invalid/.test((err as Error).message)) stats.naming++;
      }
    }
  } finally {
    rmSync(bundle, { recursive: true, force: true });
  }
  console.log(`# config fuzz (library): ${CASES} cases, ${stats.plans} plans, ${stats.errors} errors (${stats.naming} naming a field or path), ${bad.length} unclear`);
  assert.deepEqual(bad, []);
});

test(`${BINARY_CASES} mutated configs through tsrun create: a container or one error line, nothing left`, { skip: needsRoot }, () => {
  const root = makeRoot();
  const bundle = makeBundle((c) => { c.process.args = ['sleep', '1000']; });
  const base = baseConfig(bundle);
  const prefix = `tsrun-fuzz-${process.pid}`;
  const stats = { created: 0, errors: 0 };
  const bad: string[] = [];
  try {
    for (let i = 0; i < BINARY_CASES; i++) {
      const seed = SEED * 7_000_003 + i;
      const { config, what } = mutate(base, schemas, seed);
      const id = `${prefix}-${i}`;
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
      let r;
      try {
        r = tsrun(['--root', root, 'create', '--bundle', bundle, id], { timeout: 30_000 });
      } catch (err) {
        bad.push(`seed ${seed} (${what.join('; ')}): hang or spawn failure: ${(err as Error).message}`);
        tsrun(['--root', root, 'delete', '--force', id]);
        continue;
      }
      const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/level=warning/.test(l));
      if (r.status === 0) {
        stats.created++;
        const s = tsrun(['--root', root, 'state', id]);
        if (s.status !== 0 || JSON.parse(s.stdout).status !== 'created') bad.push(`seed ${seed}: created but state says ${s.stdout}${s.stderr}`);
      } else {
        stats.errors++;
        if (lines.length !== 1 || /\n\s+at /.test(r.stderr) || /TypeError|RangeError|ReferenceError|SyntaxError: (?!.*JSON)/.test(r.stderr)) {
          bad.push(`seed ${seed} (${what.join('; ')}): status ${r.status}: ${r.stderr.slice(0, 600)}`);
        }
      }
      const d = tsrun(['--root', root, 'delete', '--force', id]);
      if (d.status !== 0) bad.push(`seed ${seed}: delete --force failed: ${d.stderr}`);
    }
    // Leaks, counted once at the end: state dirs, cgroups, mounts, processes.
    const leftDirs = readdirSync(root);
    const leftCgroups = Array.from({ length: BINARY_CASES }, (_, i) => cgroupDirsNamed(`${prefix}-${i}`)).flat();
    const leftMounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(bundle) || l.includes(prefix));
    const leftProcs = processesIn(bundle);
    console.log(`# config fuzz (binary): ${BINARY_CASES} cases, ${stats.created} created and deleted, ${stats.errors} errors; leaked: ${leftDirs.length} state dirs, ${leftCgroups.length} cgroups, ${leftMounts.length} mounts, ${leftProcs.length} processes`);
    assert.deepEqual(bad, []);
    assert.deepEqual(leftDirs, []);
    assert.deepEqual(leftCgroups, []);
    assert.deepEqual(leftMounts, []);
    assert.deepEqual(leftProcs, []);
  } finally {
    for (let i = 0; i < BINARY_CASES; i++) tsrun(['--root', root, 'delete', '--force', `${prefix}-${i}`]);
    rmSync(bundle, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  }
});

