import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlags, reorderArgs, type FlagSpec } from '../../runtime/cli/args.js';
import { parseSignal } from '../../runtime/signals.js';
import { tabulate } from '../../runtime/cli/list.js';
import { rfc3339Nano } from '../../runtime/container/status.js';

const specs: FlagSpec[] = [
  { name: 'bundle', short: 'b', type: 'string', usage: '' },
  { name: 'detach', short: 'd', type: 'bool', usage: '' },
  { name: 'preserve-fds', type: 'int', usage: '', default: '0' },
  { name: 'env', short: 'e', type: 'list', usage: '' },
];

test('flags: separate and = forms, short names, booleans, stop at the first positional', () => {
  const r = parseFlags(['--bundle', '/b', '-d', '--preserve-fds=2', '-e', 'A=1', '-e=B=2', 'id', '--not-a-flag'], specs, 'x');
  assert.deepEqual(r.flags, { bundle: '/b', detach: true, 'preserve-fds': 2, env: ['A=1', 'B=2'] });
  assert.deepEqual(r.rest, ['id', '--not-a-flag']);
  assert.equal(parseFlags(['--detach=false', 'x'], specs, 'x').flags.detach, false);
  assert.throws(() => parseFlags(['--bogus'], specs, 'x'), /flag provided but not defined: -bogus/);
  assert.throws(() => parseFlags(['--bundle'], specs, 'x'), /flag needs an argument/);
  assert.throws(() => parseFlags(['--preserve-fds', 'x'], specs, 'x'), /invalid value/);
  // runc's CLI library: one flag by both its names is refused, by one name repeated is not.
  assert.throws(() => parseFlags(['-e', 'A=1', '--env', 'B=2', 'id'], specs, 'x'), /^TsrunError: Cannot use two forms of the same flag: e env$/);
  assert.deepEqual(parseFlags(['--env', 'A=1', '--env=B=2', 'id'], specs, 'x').flags.env, ['A=1', 'B=2']);
});

test('flags after the arguments move to the front as runc\'s CLI library moves them (not for exec and ps)', () => {
  const specs2 = [...specs, { name: 'memory', short: 'm', type: 'string' as const, usage: '' }, { name: 'all', short: 'a', type: 'bool' as const, usage: '' }];
  assert.deepEqual(reorderArgs(['ID', '--memory', '64M'], specs2), ['--memory', '64M', 'ID']);
  assert.deepEqual(reorderArgs(['ID', '--memory=64M', 'x'], specs2), ['--memory=64M', 'ID', 'x']);
  assert.deepEqual(reorderArgs(['ID', '9', '--all'], specs2), ['--all', 'ID', '9']);
  // A boolean takes the next argument along too, as urfave/cli 1.22 does.
  assert.deepEqual(reorderArgs(['ID', '--all', '9'], specs2), ['--all', '9', 'ID']);
  assert.deepEqual(reorderArgs(['ID', '--bogus', '--', '--all'], specs2), ['--', 'ID', '--bogus', '--all']);
  // Anything but one of the flags is a value: `update --cpu-share -5 ID` keeps -5 with its flag.
  assert.deepEqual(reorderArgs(['--memory', '-5', 'ID'], specs2), ['--memory', '-5', 'ID']);
  assert.deepEqual(reorderArgs(['ID', '--memory', '--all'], specs2), ['--memory', '--all', 'ID']);
  const p = parseFlags(['ID', '--memory', '64M'], specs2, 'update');
  assert.deepEqual([p.flags.memory, p.rest], ['64M', ['ID']]);
  assert.deepEqual(parseFlags(['ID', 'sh', '-e', 'x'], specs, 'exec').rest, ['ID', 'sh', '-e', 'x']);
  assert.deepEqual(parseFlags(['ID', '-e', 'x'], specs, 'ps').rest, ['ID', '-e', 'x']);
});

test('signals: numbers, names with and without SIG, realtime; unknown refused', () => {
  assert.equal(parseSignal('9'), 9);
  assert.equal(parseSignal('KILL'), 9);
  assert.equal(parseSignal('SIGKILL'), 9);
  assert.equal(parseSignal('term'), 15);
  assert.equal(parseSignal('RTMIN+2'), 36);
  assert.throws(() => parseSignal('FOO'), /unknown signal "FOO"/);
  // Numbers are taken as they are (runc's strconv.Atoi); the kernel judges them.
  assert.equal(parseSignal('0'), 0);
  assert.equal(parseSignal('65'), 65);
});

test('list table matches Go tabwriter layout', () => {
  const out = tabulate([['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], ['c1', '6891', 'created', '/tmp/rb', '2026-11-22T11:14:02.405848605Z', 'root']]);
  assert.equal(out,
    'ID          PID         STATUS      BUNDLE      CREATED                          OWNER\n' +
    'c1          6891        created     /tmp/rb     2026-11-22T11:14:02.405848605Z   root\n');
});

test('timestamps in RFC 3339 with trimmed nanoseconds', () => {
  assert.equal(rfc3339Nano(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 120))), '2026-01-02T03:04:05.12Z');
  assert.equal(rfc3339Nano(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 0))), '2026-01-02T03:04:05Z');
});
