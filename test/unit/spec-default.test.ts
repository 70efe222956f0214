// defaultSpec() is what `runc spec` prints, byte for byte (compared against the installed runc).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSpec } from '../../runtime/spec/default-config.js';
import { loadBundleSpec } from '../../runtime/spec/load.js';

const runc = ['/usr/bin/runc', '/usr/sbin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc'].find((p) => existsSync(p));
const runcVersion = runc ? execFileSync(runc, ['--version'], { encoding: 'utf8' }).split('\n')[0] : '';
const skipRunc = !runc ? 'runc is not installed' : !/^runc version 1\.1\./.test(runcVersion) ? `not runc 1.1 (${runcVersion})` : false;

const tmp = mkdtempSync(join(tmpdir(), 'tsrun-spec-default-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** The config.json `runc spec [args]` writes into a fresh directory. */
function runcSpec(args: string[]): string {
  const dir = mkdtempSync(join(tmp, 'runc-'));
  execFileSync(runc!, ['spec', ...args], { cwd: dir });
  return readFileSync(join(dir, 'config.json'), 'utf8');
}

test('defaultSpec({rootless: false}) is `runc spec` byte for byte', { skip: skipRunc }, () => {
  assert.equal(JSON.stringify(defaultSpec({ rootless: false }), null, '\t'), runcSpec([]));
});

test('defaultSpec({rootless: true}) is `runc spec --rootless` byte for byte', { skip: skipRunc }, () => {
  assert.equal(JSON.stringify(defaultSpec({ rootless: true }), null, '\t'), runcSpec(['--rootless']));
});

test('the rootless spec maps the effective uid and gid to root', () => {
  const spec = defaultSpec({ rootless: true });
  assert.deepEqual(spec.linux?.uidMappings, [{ containerID: 0, hostID: process.geteuid!(), size: 1 }]);
  assert.deepEqual(spec.linux?.gidMappings, [{ containerID: 0, hostID: process.getegid!(), size: 1 }]);
  assert.deepEqual(spec.linux?.namespaces?.map((n) => n.type), ['pid', 'ipc', 'uts', 'mount', 'user']);
  assert.equal(spec.linux?.resources, undefined);
  assert.deepEqual(spec.mounts?.find((m) => m.destination === '/sys'),
    { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] });
  assert.ok(!spec.mounts?.some((m) => m.options?.some((o) => o.startsWith('gid=') || o.startsWith('uid='))));
});

test('each call returns a fresh object', () => {
  const a = defaultSpec({ rootless: false });
  a.process!.args!.push('x');
  a.process!.capabilities!.bounding!.push('CAP_SYS_ADMIN');
  assert.deepEqual(defaultSpec({ rootless: false }).process?.args, ['sh']);
  assert.deepEqual(defaultSpec({ rootless: false }).process?.capabilities?.effective, ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']);
});

test('both default specs pass tsrun\'s own validation', () => {
  for (const rootless of [false, true]) {
    const dir = join(tmp, `bundle-${rootless}`);
    mkdirSync(join(dir, 'rootfs'), { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(defaultSpec({ rootless }), null, '\t'));
    const r = loadBundleSpec(dir);
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(r.spec, defaultSpec({ rootless }));
  }
});
