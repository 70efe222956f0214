// Issue 15, security and correctness: each case run under runc 1.1.5 and tsrun side by side.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot } from '../helpers/harness.js';
import { errorTail, runBoth, skipRunc } from '../helpers/beside.js';

const skip = needsRoot || skipRunc;

for (const [dir, fs] of [['proc', 'proc'], ['sys', 'sysfs']] as const) {
  test(`a rootfs whose /${dir} is a symlink is refused, as runc does (${fs} is never mounted through it)`, { skip }, () => {
    const r = runBoth((c) => { c.process.args = ['cat', '/tmp/self/status']; }, {
      before: (bundle) => {
        const rootfs = join(bundle, 'rootfs');
        rmSync(join(rootfs, dir), { recursive: true, force: true });
        mkdirSync(join(rootfs, 'tmp'), { recursive: true });
        symlinkSync('/tmp', join(rootfs, dir));
      },
    });
    const want = `error mounting "${fs}" to rootfs at "/${dir}": filesystem "${fs}" must be mounted on ordinary directory`;
    assert.equal(r.runc.status, 1);
    assert.ok(errorTail(r.runc.stderr).includes(want), r.runc.stderr);
    assert.equal(r.tsrun.status, 1, r.tsrun.stdout);
    assert.ok(errorTail(r.tsrun.stderr).includes(want), r.tsrun.stderr);
    assert.equal(r.tsrun.stdout, '');
  });
}
