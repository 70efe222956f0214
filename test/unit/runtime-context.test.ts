// Each Runtime's operations log to its own logger, even when they interleave in one process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Runtime } from '../../runtime/runtime.js';
import { functionLogger, log } from '../../runtime/log.js';
import { executorPath } from '../../runtime/container/executor.js';

test('two Runtimes in one process: warnings go to the logger of the Runtime whose operation runs', async () => {
  const seen: Record<string, string[]> = { a: [], b: [] };
  const a = new Runtime({ root: '/run/tsrun-test-a', logger: functionLogger((level, msg) => seen.a.push(`${level}:${msg}`)), reapExits: false });
  const b = new Runtime({ root: '/run/tsrun-test-b', logger: functionLogger((level, msg) => seen.b.push(`${level}:${msg}`), true), reapExits: false });
  const step = () => new Promise((r) => setTimeout(r, 1));
  await Promise.all([
    a.run(async () => { log.warn('a1'); await step(); log.debug('hidden'); await step(); log.warn('a2'); }),
    b.run(async () => { await step(); log.warn('b1'); log.debug('b-debug'); await step(); log.error('b2'); }),
  ]);
  assert.deepEqual(seen.a, ['warning:a1', 'warning:a2']);
  assert.deepEqual(seen.b, ['warning:b1', 'debug:b-debug', 'error:b2']);
});

test('a Runtime\'s executor path is used by its operations only', () => {
  const rt = new Runtime({ root: '/run/tsrun-test-c', executorPath: '/opt/x/tsrun-executor', reapExits: false });
  assert.equal(rt.run(() => executorPath()), '/opt/x/tsrun-executor');
  assert.notEqual(executorPath(), '/opt/x/tsrun-executor');
});

test('without reapExits the Runtime never makes a reaper', () => {
  const rt = new Runtime({ root: '/run/tsrun-test-d', reapExits: false });
  assert.throws(() => rt.reaper, (err: Error & { kind?: string }) => err.kind === 'unsupported');
});
