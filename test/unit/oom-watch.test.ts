// subscribeOom over a sample cgroup v2 directory: memory.events watched with inotify, a last
// look on demand, the subscription ending when the cgroup goes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { posix } from 'node:path';
import { subscribeOom } from '../../runtime/cgroups/oom-watch.js';
import type { CgroupManager } from '../../runtime/cgroups/types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const events = (n: number) => `low 0\nhigh 0\nmax 3\noom ${n}\noom_kill ${n}\n`;

test('v2: an oom_kill increase is reported by inotify, another by a last look, none after the cgroup is gone', async (t) => {
  const d = mkdtempSync(posix.join(tmpdir(), 'tsrun-test-oom-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const file = posix.join(d, 'memory.events');
  writeFileSync(file, events(2));
  let ooms = 0;
  const sub = subscribeOom({ version: 2, paths: { '': d } } as unknown as CgroupManager, () => { ooms++; });
  writeFileSync(file, events(3));
  for (let i = 0; i < 100 && ooms === 0; i++) await sleep(20);
  assert.equal(ooms, 1, 'inotify reported the OOM');
  // the exit path: the counter moved, and the caller looks before telling the exit
  sub.check();
  assert.equal(ooms, 1, 'nothing new');
  const before = ooms;
  sub.close();
  writeFileSync(file, events(4));
  await sleep(100);
  sub.check();
  assert.equal(ooms, before, 'closed: no more reports');
});

test('v2: a cgroup that disappears ends the subscription', async (t) => {
  const d = mkdtempSync(posix.join(tmpdir(), 'tsrun-test-oom-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  writeFileSync(posix.join(d, 'memory.events'), events(0));
  let ooms = 0;
  const sub = subscribeOom({ version: 2, paths: { '': d } } as unknown as CgroupManager, () => { ooms++; });
  rmSync(posix.join(d, 'memory.events'));
  sub.check();
  writeFileSync(posix.join(d, 'memory.events'), events(5));
  sub.check();
  assert.equal(ooms, 0);
});

test('a cgroup without memory.events cannot be watched', () => {
  const d = mkdtempSync(posix.join(tmpdir(), 'tsrun-test-oom-'));
  try {
    assert.throws(() => subscribeOom({ version: 2, paths: { '': d } } as unknown as CgroupManager, () => undefined), /memory\.events/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
