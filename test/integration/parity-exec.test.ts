// Issue 15, exec and the process's environment and working directory, beside runc 1.1.5.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot } from '../helpers/harness.js';
import { both, skipRunc, startBoth, stopBoth, type BothDetached } from '../helpers/beside.js';

const skip = needsRoot || skipRunc;
let c: BothDetached | undefined;

before(() => {
  if (skip) return;
  c = startBoth((cfg) => {
    cfg.process.args = ['sleep', '4324'];
    cfg.process.env = ['PATH=/bin', 'TERM=xterm', 'A=from-spec', 'B=b'];
  }, 'tsrun-pexec');
});
after(() => { if (c) stopBoth(c); });

const same = (args: string[]) => {
  const r = both(c!, args);
  assert.equal(r.tsrun.status, r.runc.status, `${r.runc.stderr} / ${r.tsrun.stderr}`);
  assert.equal(r.tsrun.stdout, r.runc.stdout);
  return r.runc;
};

test('exec --env overrides a variable the process already has', { skip }, () => {
  // env prints the environment as execve got it: one PATH, the new value.
  assert.deepEqual(same(['exec', '--env', 'PATH=/usr/bin:/bin', 'ID', 'env']).stdout.split('\n').filter((l) => l.startsWith('PATH=')), ['PATH=/usr/bin:/bin']);
});

test('exec --env repeated: the last value wins, in the place the name first had (as Go\'s Setenv)', { skip }, () => {
  const out = same(['exec', '--env', 'A=one', '--env', 'C=c', '--env', 'A=two', '--env', 'PATH=/sbin:/bin', 'ID', 'env']).stdout;
  assert.deepEqual(out.trim().split('\n').filter((l) => !l.startsWith('HOSTNAME=') && !l.startsWith('HOME=')), ['PATH=/sbin:/bin', 'TERM=xterm', 'A=two', 'B=b', 'C=c']);
});

test('exec with both -e and --env: runc\'s CLI library refuses the two forms of one flag', { skip }, () => {
  const r = both(c!, ['exec', '-e', 'A=one', '--env', 'A=two', 'ID', 'true']);
  for (const x of [r.runc, r.tsrun]) {
    assert.equal(x.status, 1);
    assert.match(x.stderr, /level=error msg="Cannot use two forms of the same flag: e env"/);
  }
});
