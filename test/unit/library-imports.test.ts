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

/** Strongly connected groups of more than one module (type-only imports count: they tie the design too). */
function importCycles(root: string): string[][] {
  const graph = new Map<string, string[]>();
  for (const file of files(root)) {
    const text = readFileSync(file, 'utf8');
    const targets: string[] = [];
    for (const m of text.matchAll(/^(?:import|export)\s[^;]*?from\s+['"](\.[^'"]+)['"]/gms)) {
      targets.push(resolve(dirname(file), m[1]).replace(/\.js$/, '.ts'));
    }
    graph.set(file, targets);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next); low.set(v, next); next++;
    stack.push(v); onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); group.push(relative(REPO, w)); } while (w !== v);
      if (group.length > 1) groups.push(group.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return groups;
}

test('no import cycles in runtime/ or shim/', () => {
  assert.deepEqual(importCycles(join(REPO, 'runtime')), []);
  assert.deepEqual(importCycles(join(REPO, 'shim')), []);
});
