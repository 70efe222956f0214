// Runs the same bundle under runc 1.1.5 and under tsrun, so a test can compare what each did.
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modernStack } from './stack.js';
import { assertNothingLeft, cleanup, hasRunc, makeBundle, makeRoot, runToFiles, tsrun, uniqueId, type RunResult } from './harness.js';

export const RUNC = ['/usr/sbin/runc', '/usr/bin/runc'].find((p) => { try { readFileSync(p); return true; } catch { return false; } }) ?? 'runc';

/** runc with its output in files (a container would keep pipes open), like harness.tsrun. */
export function runc(args: string[], opts: { input?: string; timeout?: number; bin?: string } = {}): RunResult {
  return runToFiles(opts.bin ?? RUNC, args, { input: opts.input, timeout: opts.timeout, env: process.env });
}

export const skipRunc: string | false = hasRunc ? false : 'runc is not installed';

export interface Beside { runc: RunResult; tsrun: RunResult }

/**
 * `run` of one bundle (two copies of it: each runtime changes its rootfs) under both runtimes,
 * each checked to have left nothing behind. `before` shapes each copy's rootfs.
 */
export function runBoth(edit: (config: any) => void, opts: { before?: (bundle: string) => void; args?: string[]; idPrefix?: string; runcBin?: string } = {}): Beside {
  const bundle = makeBundle(edit);
  opts.before?.(bundle);
  const copy = mkdtempSync(join(tmpdir(), 'tsrun-bundle-runc-'));
  cpSync(bundle, copy, { recursive: true, verbatimSymlinks: true });
  chmodSync(copy, 0o755);
  const troot = makeRoot();
  const rroot = makeRoot();
  const id = uniqueId(opts.idPrefix ?? 'tsrun-parity');
  try {
    // Another id for runc: what either leaves behind is then told apart.
    const r = runc(['--root', rroot, 'run', ...(opts.args ?? []), '--bundle', copy, `${id}-runc`], { bin: opts.runcBin });
    runc(['--root', rroot, 'delete', '--force', `${id}-runc`], { bin: opts.runcBin });
    const t = tsrun(['--root', troot, 'run', ...(opts.args ?? []), '--bundle', bundle, id]);
    assertNothingLeft(troot, id, bundle);
    return { runc: r, tsrun: t };
  } finally {
    cleanup(troot, id, bundle);
    rmSync(copy, { recursive: true, force: true });
    rmSync(troot, { recursive: true, force: true });
    rmSync(rroot, { recursive: true, force: true });
  }
}

/** The part of an error line both runtimes share: after "run failed: " / the program name. */
export function errorTail(stderr: string): string {
  const line = stderr.trim().split('\n').pop() ?? '';
  const m = /msg="(.*)"$/.exec(line);
  const text = m ? m[1].replace(/\\"/g, '"') : line;
  return text.replace(/^(runc|tsrun)( [a-z]+)? failed: /, '').replace(/^\S*?(runc|tsrun): /, '');
}

/** One bundle's container started with `run -d` under each runtime, for exec-style comparisons. */
export interface BothDetached { id: string; bundles: { runc: string; tsrun: string }; roots: { runc: string; tsrun: string } }

export function startBoth(edit: (config: any) => void, idPrefix = 'tsrun-parity', before?: (bundle: string) => void): BothDetached {
  const bundle = makeBundle(edit);
  before?.(bundle);
  const copy = mkdtempSync(join(tmpdir(), 'tsrun-bundle-runc-'));
  cpSync(bundle, copy, { recursive: true, verbatimSymlinks: true });
  chmodSync(copy, 0o755);
  const c: BothDetached = { id: uniqueId(idPrefix), bundles: { runc: copy, tsrun: bundle }, roots: { runc: makeRoot(), tsrun: makeRoot() } };
  const r = runc(['--root', c.roots.runc, 'run', '-d', '--bundle', copy, `${c.id}-runc`]);
  if (r.status !== 0) throw new Error(`runc run -d: ${r.stderr}`);
  const t = tsrun(['--root', c.roots.tsrun, 'run', '-d', '--bundle', bundle, c.id]);
  if (t.status !== 0) { stopBoth(c); throw new Error(`tsrun run -d: ${t.stderr}`); }
  return c;
}

/** The same command line (`ID` stands for the container's id) under each runtime. */
export function both(c: BothDetached, args: string[], opts: { input?: string } = {}): Beside {
  return {
    runc: runc(['--root', c.roots.runc, ...args.map((a) => (a === 'ID' ? `${c.id}-runc` : a))], opts),
    tsrun: tsrun(['--root', c.roots.tsrun, ...args.map((a) => (a === 'ID' ? c.id : a))], opts),
  };
}

export function stopBoth(c: BothDetached): void {
  runc(['--root', c.roots.runc, 'delete', '--force', `${c.id}-runc`]);
  const d = tsrun(['--root', c.roots.tsrun, 'delete', '--force', c.id]);
  try {
    if (d.status !== 0) throw new Error(`tsrun delete --force: ${d.stderr}`);
    assertNothingLeft(c.roots.tsrun, c.id, c.bundles.tsrun);
  } finally {
    for (const dir of [...Object.values(c.bundles), ...Object.values(c.roots)]) rmSync(dir, { recursive: true, force: true });
  }
}

/** runc 1.3 from scripts/modern-stack.sh, or why a test cannot have it. */
export function runc13(): { bin?: string; skip?: string } {
  const r = modernStack();
  if (r.stack) return { bin: r.stack.runc };
  return { skip: r.skip ?? `modern stack: ${r.error}` };
}
