// The runtime library never depends on its front ends: nothing under runtime/ (but the CLI
// itself, runtime/cli) imports the CLI or the shim.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';

const REPO = join(__dirname, '..', '..', '..');

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

test('runtime/** (outside runtime/cli) imports neither runtime/cli nor shim', () => {
  const runtime = join(REPO, 'runtime');
  const cli = join(runtime, 'cli');
  const shim = join(REPO, 'shim');
  const violations: string[] = [];
  const checked = files(runtime).filter((f) => !f.startsWith(cli + '/'));
  assert.ok(checked.length > 50, 'the scan found the runtime sources');
  for (const file of checked) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"]([^'"]+)['"]/g)) {
      if (!m[1].startsWith('.')) continue;
      const target = resolve(dirname(file), m[1]);
      if (target === cli || target.startsWith(cli + '/') || target === shim || target.startsWith(shim + '/')) {
        violations.push(`${relative(REPO, file)} imports ${m[1]}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});
