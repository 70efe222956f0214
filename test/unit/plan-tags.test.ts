// The plan's numbers are written down in three places: the executor's header, the compiler's
// records.ts and PLAN-FORMAT.md. They must agree, or a plan means one thing to tsrun and another
// to the executor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tag, Msg, PLAN_VERSION, HOOK_POINT_MOUNTS, RELEASE_POINT, CONSOLE_BIND_DEV, CONSOLE_CLEAR_ONLCR } from '../../runtime/plan/records.js';

const REPO = join(__dirname, '..', '..', '..');
const header = readFileSync(join(REPO, 'native', 'executor.h'), 'utf8');
const doc = readFileSync(join(REPO, 'native', 'PLAN-FORMAT.md'), 'utf8');

function headerEnum(name: string, prefix: string): Record<string, number> {
  const body = new RegExp(`enum ${name} \\{([^}]*)\\}`).exec(header)?.[1];
  assert.ok(body, `enum ${name} in executor.h`);
  const out: Record<string, number> = {};
  for (const m of body.matchAll(new RegExp(`${prefix}([A-Z_]+)\\s*=\\s*(\\d+)`, 'g'))) out[m[1]] = Number(m[2]);
  return out;
}

function headerDefine(name: string): number {
  const m = new RegExp(`#define ${name} (\\d+)u?`).exec(header);
  assert.ok(m, `#define ${name} in executor.h`);
  return Number(m[1]);
}

/** `| N | \`NAME\` |` rows of one section of PLAN-FORMAT.md. */
function docTable(section: string): Record<string, number> {
  const start = doc.indexOf(`\n## ${section}\n`);
  assert.ok(start >= 0, `section "${section}" in PLAN-FORMAT.md`);
  const end = doc.indexOf('\n## ', start + 1);
  const out: Record<string, number> = {};
  for (const m of doc.slice(start, end < 0 ? undefined : end).matchAll(/^\| (\d+) \| `([A-Z_]+)` \|/gm)) out[m[2]] = Number(m[1]);
  return out;
}

const sorted = (r: Record<string, number>) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));

test('record tags: executor.h, records.ts and PLAN-FORMAT.md agree', () => {
  const ts = sorted({ ...Tag });
  assert.deepEqual(sorted(headerEnum('plan_tag', 'T_')), ts);
  assert.deepEqual(sorted(docTable('Records')), ts);
  assert.equal(new Set(Object.values(ts)).size, Object.keys(ts).length, 'no number used twice');
});

test('sync messages: executor.h, records.ts and PLAN-FORMAT.md agree', () => {
  const ts = sorted({ ...Msg });
  assert.deepEqual(sorted(headerEnum('msg_tag', 'M_')), ts);
  assert.deepEqual(sorted(docTable('Sync socket messages')), ts);
});

test('the plan version and the flag values agree', () => {
  assert.equal(headerDefine('PLAN_VERSION'), PLAN_VERSION);
  assert.equal(headerDefine('CONSOLE_BIND_DEV'), CONSOLE_BIND_DEV);
  assert.equal(headerDefine('CONSOLE_CLEAR_ONLCR'), CONSOLE_CLEAR_ONLCR);
  const points = /enum \{ HOOK_POINT_MOUNTS = (\d+), RELEASE_POINT = (\d+) \}/.exec(header);
  assert.ok(points);
  assert.deepEqual([Number(points[1]), Number(points[2])], [HOOK_POINT_MOUNTS, RELEASE_POINT]);
});
