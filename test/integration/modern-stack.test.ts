// The stack other tests compare tsrun with (scripts/modern-stack.sh): each binary is the version it claims, the
// patched glibc-2.38 ones really run (runc 1.3 a busybox container, criu its kernel check).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { needsRoot, assertNothingLeft, uniqueId } from '../helpers/harness.js';
import { fixture } from '../helpers/fixture.js';
import { requireStack, stackSkip } from '../helpers/stack.js';

const skip = needsRoot || stackSkip();

function version(bin: string, arg = '--version'): string {
  const r = spawnSync(bin, [arg], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `${bin} ${arg}: ${r.stderr}`);
  return r.stdout + r.stderr;
}

describe('modern stack from Debian sid', { skip }, () => {
  test('each binary reports the expected version', () => {
    const s = requireStack();
    assert.match(version(s.runc), /^runc version 1\.3\./m);
    assert.match(version(s.crun), /^crun version 1\.2\d/m);
    assert.match(version(s.criu), /^Version: 4\.2\./m);
    assert.match(version(s.containerd), /^containerd \S+ v?2\.1\./m);
    assert.match(version(s.ctr), /^ctr \S+ v?2\.1\./m);
    assert.match(version(s.shimRunc, '-v'), /Version:\s+v?2\.1\./);
    assert.match(version(s.dockerd), /^Docker version 28\./m);
    assert.match(version(s.docker), /^Docker version 28\./m);
    assert.match(version(s.dockerProxy), /version 28\./);
    assert.match(version(s.dockerInit), /^tini version /m);
  });

  test('runc 1.3 runs a busybox container', (t) => {
    const f = fixture(t);
    const s = requireStack();
    const bundle = f.bundle((c) => {
      c.process.terminal = false;
      c.process.args = ['sh', '-c', 'echo hello from $(hostname); exit 7'];
    });
    const root = f.root;
    const id = uniqueId('stack-runc');
    const r = spawnSync(s.runc, ['--root', root, 'run', '--bundle', bundle, id], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 7, r.stderr);
    assert.match(r.stdout, /^hello from /);
    assertNothingLeft(root, id, bundle);
  });

  test('criu 4.2 accepts this kernel', () => {
    const s = requireStack();
    const r = spawnSync(s.criu, ['check'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /Looks good/);
  });
});
