// Shared by the security regression tests: the static attack probe (probe.c) and host checks.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { REPO } from '../helpers/harness.js';

let probePath: string | undefined;

/** probe.c built static (it runs inside busybox containers); built once per test file. */
export function probe(): string {
  if (probePath) return probePath;
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-probe-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'probe');
  const r = spawnSync('gcc', ['-O2', '-static', '-o', out, join(REPO, 'test/security/probe.c')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  probePath = out;
  return out;
}

/** Puts the probe into a bundle's rootfs as /bin/probe. */
export function installProbe(bundle: string): void {
  copyFileSync(probe(), join(bundle, 'rootfs/bin/probe'));
  chmodSync(join(bundle, 'rootfs/bin/probe'), 0o755);
}

export function sha256(path: string): string {
  return existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'missing';
}

/** The runtime's own files, which no container may change. */
export const RUNTIME_FILES = [join(REPO, 'bin/tsrun'), join(REPO, 'bin/tsrun-launcher.cjs'), join(REPO, 'bin/tsrun.cjs'), join(REPO, 'bin/tsrun-quick.cjs'), join(REPO, 'bin/tsrun-executor'), process.execPath];

export function hashRuntime(): Record<string, string> {
  return Object.fromEntries(RUNTIME_FILES.map((f) => [f, sha256(f)]));
}

/** Mount points of the host outside any of the given trees (for "nothing landed on the host"). */
export function hostMountsOutside(trees: string[]): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((l) => l.split(' ')[4])
    .filter((mp) => !trees.some((t) => mp === t || mp.startsWith(t + '/')));
}
