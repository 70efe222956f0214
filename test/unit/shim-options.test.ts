// The shim's runtime options: runc's Options, CRI's runtimeoptions with a tsrun options file
// (TOML in either spelling, JSON), config_body, unknown types, and the errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runtimeOptions, parseOptionsFile, OptionsError } from '../../shim/options.js';
import { runc_options, runtimeoptions, packAny } from '../../proto/index.js';

test('containerd.runc.v1.Options: every field the shim uses; 0 ids leave the owner', () => {
  const o = runtimeOptions(packAny(runc_options.Options, { root: '/r', systemd_cgroup: true, no_pivot_root: true, no_new_keyring: true, io_uid: 1000, io_gid: 1001, shim_cgroup: '/s', binary_name: 'runc' }));
  assert.deepEqual(o, { root: '/r', systemdCgroup: true, noPivotRoot: true, noNewKeyring: true, ioUid: 1000, ioGid: 1001, shimCgroup: '/s', binaryName: 'runc', protocol: '', shimGroup: '' });
  assert.deepEqual([runtimeOptions(packAny(runc_options.Options, {})).ioUid, runtimeOptions(undefined).ioGid], [-1, -1]);
});

test('runtimeoptions.v1.Options: config_path to a TOML file, in CRI\'s or the proto\'s spelling, or JSON; config_body first', (t) => {
  const d = mkdtempSync(join(tmpdir(), 'tsrun-test-opts-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  writeFileSync(join(d, 'a.toml'), '# tsrun\nSystemdCgroup = true\nRoot = "/x"\nIoUid = 5\nIoGid = 6\nShimCgroup = "/g"\nprotocol = "grpc"\nCriuPath = "/c"\nshim_group = "pod"\n');
  const a = runtimeOptions(packAny(runtimeoptions.Options, { type_url: 'io.containerd.tsrun.v2.options', config_path: join(d, 'a.toml') }));
  assert.deepEqual(a, { root: '/x', systemdCgroup: true, noPivotRoot: false, noNewKeyring: false, ioUid: 5, ioGid: 6, shimCgroup: '/g', binaryName: '', protocol: 'grpc', shimGroup: 'pod' });
  writeFileSync(join(d, 'b.json'), JSON.stringify({ no_pivot_root: true, io_uid: 7 }));
  const b = runtimeOptions(packAny(runtimeoptions.Options, { config_path: join(d, 'b.json') }));
  assert.deepEqual([b.noPivotRoot, b.ioUid, b.ioGid], [true, 7, -1]);
  const c = runtimeOptions(packAny(runtimeoptions.Options, { config_path: join(d, 'missing.toml'), config_body: Buffer.from('no_new_keyring = true\n') }));
  assert.equal(c.noNewKeyring, true);
  const warnings: string[] = [];
  parseOptionsFile('bogus = 1\n', 'x.toml', (m) => warnings.push(m));
  assert.deepEqual(warnings, ['tsrun shim options x.toml: unknown key bogus ignored']);
});

test('errors: a missing file, bad TOML, wrong types, an unknown protocol; an unknown options type is ignored', () => {
  assert.throws(() => runtimeOptions(packAny(runtimeoptions.Options, { config_path: '/nonexistent/tsrun.toml' })), (e) => e instanceof OptionsError && /ENOENT/.test(e.message));
  assert.throws(() => parseOptionsFile('root = ', 'x.toml'), OptionsError);
  assert.throws(() => parseOptionsFile('systemd_cgroup = "yes"', 'x.toml'), /systemd_cgroup must be a boolean/);
  assert.throws(() => parseOptionsFile('io_uid = -3', 'x.toml'), /io_uid must be a uid or gid/);
  assert.throws(() => parseOptionsFile('protocol = "http"', 'x.toml'), /protocol must be/);
  assert.throws(() => parseOptionsFile('shim_group = "node"', 'x.toml'), /shim_group must be "namespace", "pod" or "container"/);
  const warnings: string[] = [];
  const o = runtimeOptions({ type_url: 'example.com/Other', value: Buffer.from([8, 1]) }, (m) => warnings.push(m));
  assert.equal(o.root, '');
  assert.deepEqual(warnings, ['runtime options of type example.com/Other ignored']);
});
