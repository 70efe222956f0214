import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot, tsrun, waitForStatus, assertNothingLeft } from '../helpers/harness.js';
import { fixture } from '../helpers/fixture.js';

const skip = needsRoot;

test('namespaces joined by path: a second container shares the first one\'s network and uts', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const first = f.id();
  const second = f.id();
  const b1 = f.bundle((c) => { c.process.args = ['sleep', '1000']; c.hostname = 'shared-host'; });
  let b2 = '';
  assert.equal(tsrun(['--root', root, 'run', '-d', '--bundle', b1, first]).status, 0);
  const pid = JSON.parse(tsrun(['--root', root, 'state', first]).stdout).pid;
  b2 = f.bundle((c) => {
    c.process.args = ['sh', '-c', 'readlink /proc/self/ns/net; readlink /proc/self/ns/uts; hostname'];
    delete c.hostname;
    c.linux.namespaces = c.linux.namespaces.map((n: any) => (n.type === 'network' || n.type === 'uts' ? { type: n.type, path: `/proc/${pid}/ns/${n.type === 'network' ? 'net' : 'uts'}` } : n));
  });
  const r = tsrun(['--root', root, 'run', '--bundle', b2, second]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), [readlinkSync(`/proc/${pid}/ns/net`), readlinkSync(`/proc/${pid}/ns/uts`), 'shared-host']);
  assertNothingLeft(root, second, b2);
  assert.equal(tsrun(['--root', root, 'delete', '--force', first]).status, 0);
  assertNothingLeft(root, first, b1);
});

test('time namespace offsets shift the container\'s boottime and monotonic clocks', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const id = f.id();
  const bundle = f.bundle((c) => {
    c.process.args = ['cat', '/proc/uptime'];
    c.linux.namespaces.push({ type: 'time' });
    c.linux.timeOffsets = { boottime: { secs: 86400 * 365, nanosecs: 0 }, monotonic: { secs: 3600 } };
  });
  const hostUptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  const r = tsrun(['--root', root, 'run', '--bundle', bundle, id]);
  assert.equal(r.status, 0, r.stderr);
  const inside = Number(r.stdout.split(' ')[0]);
  assert.ok(inside >= hostUptime + 86400 * 365 - 1, `uptime ${inside} shows the offset`);
  assertNothingLeft(root, id, bundle);
});

test('kill --all reaches the processes of a paused container (frozen, signalled, thawed, as runc)', { skip }, async (t) => {
  const f = fixture(t);
  const root = f.root;
  const id = f.id();
  const bundle = f.bundle((c) => { c.process.args = ['sh', '-c', 'sleep 1000 & sleep 1000 & wait']; });
  assert.equal(tsrun(['--root', root, 'run', '-d', '--bundle', bundle, id]).status, 0);
  for (let i = 0; i < 100 && (JSON.parse(tsrun(['--root', root, 'ps', '--format', 'json', id]).stdout) ?? []).length < 3; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(tsrun(['--root', root, 'pause', id]).status, 0);
  assert.equal(JSON.parse(tsrun(['--root', root, 'state', id]).stdout).status, 'paused');
  assert.equal(tsrun(['--root', root, 'kill', '--all', id, 'KILL']).status, 0);
  await waitForStatus(root, id, 'stopped');
  assert.equal(tsrun(['--root', root, 'delete', id]).status, 0);
  assertNothingLeft(root, id, bundle);
});

test('kill --all reaches every process of the container; kill on a created container', { skip }, async (t) => {
  const f = fixture(t);
  const root = f.root;
  const id = f.id();
  const bundle = f.bundle((c) => { c.process.args = ['sh', '-c', 'trap "" TERM; sleep 1000 & sleep 1000 & wait']; });
  assert.equal(tsrun(['--root', root, 'run', '-d', '--bundle', bundle, id]).status, 0);
  let pids: number[] = [];
  for (let i = 0; i < 100 && pids.length < 3; i++) {
    pids = JSON.parse(tsrun(['--root', root, 'ps', '--format', 'json', id]).stdout) ?? [];
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(pids.length, 3);
  assert.equal(tsrun(['--root', root, 'kill', '--all', id, 'KILL']).status, 0);
  await waitForStatus(root, id, 'stopped');
  assert.equal(JSON.parse(tsrun(['--root', root, 'state', id]).stdout).status, 'stopped');
  assert.equal(tsrun(['--root', root, 'ps', '--format', 'json', id]).stdout.trim(), 'null');
  assert.equal(tsrun(['--root', root, 'delete', id]).status, 0);
  assertNothingLeft(root, id, bundle);

  assert.equal(tsrun(['--root', root, 'create', '--bundle', bundle, id]).status, 0);
  assert.equal(tsrun(['--root', root, 'kill', id, 'SIGKILL']).status, 0);
  await waitForStatus(root, id, 'stopped');
  assert.equal(JSON.parse(tsrun(['--root', root, 'state', id]).stdout).status, 'stopped');
  assert.equal(tsrun(['--root', root, 'delete', id]).status, 0);
  assertNothingLeft(root, id, bundle);
});

test('--log with text format, --debug lines, and the error on stderr', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const bundle = f.bundle();
  const id = f.id();
  const logFile = join(bundle, 'log.txt');
  let r = tsrun(['--root', root, '--log', logFile, '--debug', 'run', '--bundle', bundle, id]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(readFileSync(logFile, 'utf8'), /^time="[^"]+Z" level=debug msg=".*"$/m);
  r = tsrun(['--root', root, '--log', logFile, 'state', id]);
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'container does not exist\n');
  assert.match(readFileSync(logFile, 'utf8').trim().split('\n').pop()!, /^time="[^"]+" level=error msg="container does not exist"$/);
  assertNothingLeft(root, id, bundle);
});

test('an LSM label on a host without that LSM is refused at create, as runc does', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const id = f.id();
  const bundle = f.bundle((c) => { c.process.selinuxLabel = 'system_u:system_r:container_t:s0'; });
  const r = tsrun(['--root', root, 'create', '--bundle', bundle, id]);
  if (readFileSync('/proc/self/mountinfo', 'utf8').includes(' selinuxfs ')) return;
  assert.equal(r.status, 1);
  assert.match(r.stderr, /selinux label is specified in config, but selinux is disabled or not supported/);
  assertNothingLeft(root, id, bundle);
});

test('spec writes runc\'s default config and refuses to overwrite one', { skip }, (t) => {
  const f = fixture(t);
  const bundle = f.bundle();
  const r = tsrun(['spec', '--bundle', bundle]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /File config.json exists. Remove it first/);
  rmSync(join(bundle, 'config.json'));
  assert.equal(tsrun(['spec', '--rootless', '--bundle', bundle]).status, 0);
  const c = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  assert.ok(c.linux.namespaces.some((n: any) => n.type === 'user'));
  assert.equal(c.linux.uidMappings[0].hostID, process.getuid!());
});
