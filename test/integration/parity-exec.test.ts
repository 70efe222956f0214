// Issue 15, exec and the process's environment and working directory, beside runc 1.1.5.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot } from '../helpers/harness.js';
import { both, errorTail, runBoth, skipRunc, startBoth, stopBoth, type BothDetached } from '../helpers/beside.js';

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

test('a cwd that root can enter and the user cannot: create works, and so does exec --user there (as runc)', { skip }, () => {
  const r = runBoth((cfg) => {
    cfg.process.cwd = '/secret';
    cfg.process.user = { uid: 1000, gid: 1000 };
    cfg.process.args = ['sh', '-c', 'pwd; id -u'];
  }, { before: (bundle) => mkdirSync(join(bundle, 'rootfs/secret'), { mode: 0o700 }) });
  assert.equal(r.runc.status, 0, r.runc.stderr);
  assert.equal(r.runc.stdout, '/secret\n1000\n');
  assert.equal(r.tsrun.status, r.runc.status, r.tsrun.stderr);
  assert.equal(r.tsrun.stdout, r.runc.stdout);
  // The shared containers' rootfs have no /secret: exec into one made here.
  const x = startBoth((cfg) => { cfg.process.args = ['sleep', '4325']; }, 'tsrun-pcwd');
  try {
    for (const rt of ['runc', 'tsrun'] as const) mkdirSync(join(x.bundles[rt], 'rootfs/secret'), { mode: 0o700 });
    const e = both(x, ['exec', '--user', '1000', '--cwd', '/secret', 'ID', 'pwd']);
    assert.equal(e.runc.status, 0, e.runc.stderr);
    assert.equal(e.tsrun.status, e.runc.status, e.tsrun.stderr);
    assert.equal(e.tsrun.stdout, e.runc.stdout);
    const missing = both(x, ['exec', '--cwd', '/nonexistent', 'ID', 'pwd']);
    assert.equal(missing.tsrun.status, missing.runc.status);
    assert.equal(errorTail(missing.tsrun.stderr), errorTail(missing.runc.stderr));
  } finally {
    stopBoth(x);
  }
});

test('a missing cwd is made (0755, owned by root) in the container, as runc makes it', { skip }, () => {
  const r = runBoth((cfg) => {
    cfg.process.cwd = '/made/by/runtime';
    cfg.root.readonly = true;
    cfg.process.args = ['sh', '-c', 'pwd; stat -c "%a %u" . ..'];
  });
  assert.equal(r.runc.status, 0, r.runc.stderr);
  assert.equal(r.runc.stdout, '/made/by/runtime\n755 0\n755 0\n');
  assert.equal(r.tsrun.status, 0, r.tsrun.stderr);
  assert.equal(r.tsrun.stdout, r.runc.stdout);
});

test('a seccomp filter that denies getcwd (no no_new_privs): runc\'s words, not a breakout', { skip }, () => {
  const r = runBoth((cfg) => {
    cfg.process.noNewPrivileges = false;
    cfg.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['getcwd'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };
  });
  for (const x of [r.runc, r.tsrun]) {
    assert.equal(x.status, 1, x.stderr);
    assert.match(errorTail(x.stderr), /failed to verify if current working directory is safe: operation not permitted$/);
  }
});
