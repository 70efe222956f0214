import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot, tsrun, makeBundle, makeRoot, uniqueId, assertNothingLeft, cleanup, REPO, runContainer } from '../helpers/harness.js';

const skip = needsRoot;

function runWith(seccomp: unknown, script: string | string[], edit?: (c: any) => void) {
  return runContainer((c) => { c.process.args = Array.isArray(script) ? script : ['sh', '-c', script]; c.root.readonly = false; c.linux.seccomp = seccomp; edit?.(c); }, { idPrefix: 'tsrun-seccomp' });
}

test('ERRNO rules give their errno; other syscalls pass', { skip }, () => {
  const seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] };
  const r = runWith(seccomp, 'mkdir /tmp/x; echo status=$?; touch /tmp/y && echo touched');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /Permission denied/);
  assert.match(r.stdout, /status=1\n/);
  assert.match(r.stdout, /touched/);
});

test('also without no_new_privs (installed before the identity switch)', { skip }, () => {
  const seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] };
  const r = runWith(seccomp, 'mkdir /tmp/x; echo status=$?', (c) => { c.process.noNewPrivileges = false; });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /Permission denied/);
});

test('a conditioned rule: personality(0) allowed, other personalities refused', { skip }, () => {
  const seccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [
      { names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, op: 'SCMP_CMP_NE', value: 0 }] },
    ],
  };
  const r = runWith(seccomp, 'linux64 echo sixty-four; linux32 echo thirty-two; echo status=$?');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /sixty-four/);
  assert.doesNotMatch(r.stdout, /thirty-two/);
  assert.match(r.stdout + r.stderr, /Operation not permitted/);
});

test('KILL_PROCESS kills with SIGSYS: run exits 159', { skip }, () => {
  const seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['sync'], action: 'SCMP_ACT_KILL_PROCESS' }] };
  const r = runWith(seccomp, ['sync']);
  assert.equal(r.status, 128 + 31, r.stderr);
  // and a child killed so is seen by its shell
  const sh = runWith(seccomp, 'sync; echo status=$?');
  assert.match(sh.stdout, /status=159/);
});

test('LOG does not block', { skip }, () => {
  const seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_LOG' }] };
  const r = runWith(seccomp, 'mkdir /tmp/x && echo made');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /made/);
});

test("Docker's default profile runs busybox sh and refuses what it should", { skip }, () => {
  const seccomp = JSON.parse(readFileSync(join(REPO, 'test/fixtures/docker-default-seccomp.json'), 'utf8'));
  const r = runWith(seccomp, 'mkdir /tmp/d && echo made; unshare -U true || echo no-unshare');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /made/);
  assert.match(r.stdout, /no-unshare/);
});

test('a profile naming unknown syscalls still runs; NOTIFY is refused and leaves nothing', { skip }, () => {
  const r = runWith({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['no_such_syscall'], action: 'SCMP_ACT_KILL' }] }, 'echo fine');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /fine/);
  const n = runWith({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/x.sock', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] }, 'echo never');
  assert.notEqual(n.status, 0);
  assert.match(n.stderr, /SCMP_ACT_NOTIFY is not supported yet/);
  assert.doesNotMatch(n.stdout, /never/);
});
