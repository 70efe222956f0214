// `tsrun setup`: what it writes into each engine's configuration, that a second run changes nothing, that only
// lines are added to files it extends, and that malformed files are refused; then the command itself on temp files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setupDocker, setupContainerd, setupPodman, parseVersion, SetupError, PODMAN_JSON_RUNTIMES } from '../../runtime/setup/engines.js';
import { parseToml, plain } from '../../runtime/setup/toml.js';
import { unifiedDiff } from '../../runtime/setup/diff.js';
import { REPO, TSRUN } from '../helpers/harness.js';

const FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'setup');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');
const TS = '/usr/local/bin/tsrun';
const v = (s: string) => parseVersion(s)!;

/** The lines a change removes: none, for a file that is only extended. */
function removedLines(before: string, after: string): string[] {
  return unifiedDiff(before, after, 'a', 'b').split('\n').filter((l) => l.startsWith('-') && !l.startsWith('---'));
}

function refused(f: () => unknown, line: number | undefined, message: RegExp): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof SetupError, String(err));
    assert.equal(err.line, line, err.message);
    assert.match(err.message, message);
    return true;
  });
}

test('versions from the engines\' --version output', () => {
  assert.deepEqual(parseVersion('Docker version 28.5.2+dfsg4, build 3ef3c07'), { major: 28, minor: 5 });
  assert.deepEqual(parseVersion('Docker version 20.10.24+dfsg1, build 297e128'), { major: 20, minor: 10 });
  assert.deepEqual(parseVersion('containerd github.com/containerd/containerd v1.6.20~ds1 1.6.20~ds1-1+b1'), { major: 1, minor: 6 });
  assert.deepEqual(parseVersion('containerd github.com/containerd/containerd/v2 2.1.9+unknown '), { major: 2, minor: 1 });
  assert.equal(parseVersion('no digits'), undefined);
});

test('docker: the shim for Docker >= 23, the CLI path before and with --cli', () => {
  const shim = JSON.parse(setupDocker(undefined, { tsrun: TS, version: v(' 28.5') }).text);
  assert.deepEqual(shim, { runtimes: { tsrun: { runtimeType: 'io.containerd.tsrun.v2' } } });
  assert.deepEqual(JSON.parse(setupDocker(undefined, { tsrun: TS, version: v(' 23.0') }).text).runtimes.tsrun, { runtimeType: 'io.containerd.tsrun.v2' });
  assert.deepEqual(JSON.parse(setupDocker(undefined, { tsrun: TS, version: v(' 20.10') }).text).runtimes.tsrun, { path: TS });
  assert.deepEqual(JSON.parse(setupDocker(undefined, { tsrun: TS, version: v(' 28.5'), cli: true }).text).runtimes.tsrun, { path: TS });
  // An unknown version is taken to be a current Docker.
  assert.equal(setupDocker(undefined, { tsrun: TS }).form, 'shim');
  assert.deepEqual(JSON.parse(setupDocker('  \n', { tsrun: TS, version: v(' 20.10') }).text), { runtimes: { tsrun: { path: TS } } });
});

test('docker: other keys and runtimes kept in order, indentation kept, a second run changes nothing', () => {
  const before = '{\n\t"log-level": "warn",\n\t"runtimes": {\n\t\t"crun": { "path": "/usr/bin/crun" }\n\t},\n\t"storage-driver": "overlay2"\n}\n';
  const r = setupDocker(before, { tsrun: TS, version: v(' 28.5') });
  assert.deepEqual(JSON.parse(r.text), {
    'log-level': 'warn', runtimes: { crun: { path: '/usr/bin/crun' }, tsrun: { runtimeType: 'io.containerd.tsrun.v2' } }, 'storage-driver': 'overlay2',
  });
  assert.deepEqual(Object.keys(JSON.parse(r.text)), ['log-level', 'runtimes', 'storage-driver']);
  assert.match(r.text, /^\{\n\t"log-level"/);
  assert.equal(setupDocker(r.text, { tsrun: TS, version: v(' 28.5') }).text, r.text);
  // Switching forms replaces the entry.
  const cli = setupDocker(r.text, { tsrun: TS, version: v(' 28.5'), cli: true }).text;
  assert.deepEqual(JSON.parse(cli).runtimes.tsrun, { path: TS });
});

test('docker: malformed daemon.json refused with its line', () => {
  refused(() => setupDocker('{\n  "a": 1,\n  "b": \n}\n', { tsrun: TS }), 4, /invalid JSON: unexpected '}' where a value was expected/);
  refused(() => setupDocker('{\n  "a": 1,\n}', { tsrun: TS }), 3, /invalid JSON: expected a quoted key/);
  refused(() => setupDocker('{"a": 1', { tsrun: TS }), 1, /expected ',' or '}', found end of file/);
  refused(() => setupDocker('{"a": "x\ny"}', { tsrun: TS }), 1, /control character/);
  refused(() => setupDocker('[1]', { tsrun: TS }), 1, /not a JSON object/);
  refused(() => setupDocker('{} {}', { tsrun: TS }), 1, /after the value/);
  refused(() => setupDocker('{"runtimes": []}', { tsrun: TS }), undefined, /"runtimes" is not an object/);
});

test('containerd: config versions 1, 2 and 3 each get the CRI runtime in their own layout', () => {
  const cases: [string, string[]][] = [
    ['[plugins.cri]\n  sandbox_image = "x"\n', ['plugins', 'cri', 'containerd', 'runtimes', 'tsrun']],
    ['version = 2\n', ['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'runtimes', 'tsrun']],
    ['version = 3\n', ['plugins', 'io.containerd.cri.v1.runtime', 'containerd', 'runtimes', 'tsrun']],
  ];
  for (const [text, path] of cases) {
    const r = setupContainerd(text, { tsrun: TS, version: v(' 2.1') });
    let node = plain(parseToml(r.text).root) as any;
    for (const k of path) node = node[k];
    assert.deepEqual(node, { runtime_type: 'io.containerd.tsrun.v2' }, text);
    assert.equal(setupContainerd(r.text, { tsrun: TS, version: v(' 2.1') }).text, r.text);
  }
  refused(() => setupContainerd('version = 4\n', { tsrun: TS }), 1, /config version 4/);
  refused(() => setupContainerd('version = "2"\n', { tsrun: TS }), 1, /not an integer/);
});

test('containerd: no file means containerd\'s defaults, in the layout of its version', () => {
  const old = setupContainerd(undefined, { tsrun: TS, version: v(' 1.6') });
  assert.equal(old.text, 'version = 2\n\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.tsrun]\nruntime_type = "io.containerd.tsrun.v2"\n');
  const current = setupContainerd(undefined, { tsrun: TS, version: v(' 2.1') });
  assert.equal(current.configVersion, 3);
  assert.match(current.text, /^version = 3\n\n\[plugins\."io\.containerd\.cri\.v1\.runtime"\.containerd\.runtimes\.tsrun\]\n/);
});

test('containerd: the engines\' default configs are only extended, beside runc, and a second run changes nothing', () => {
  for (const [name, version, table] of [
    ['containerd-1.6-default.toml', ' 1.6', 'io.containerd.grpc.v1.cri'],
    ['containerd-2.1-default.toml', ' 2.1', 'io.containerd.cri.v1.runtime'],
  ] as const) {
    const before = fixture(name);
    for (const cli of [false, true]) {
      const r = setupContainerd(before, { tsrun: TS, version: v(version), cli });
      assert.deepEqual(removedLines(before, r.text), [], name);
      const runtimes = (plain(parseToml(r.text).root) as any).plugins[table].containerd.runtimes;
      assert.equal(runtimes.runc.runtime_type, 'io.containerd.runc.v2');
      if (cli) assert.deepEqual(runtimes.tsrun, { runtime_type: 'io.containerd.runc.v2', options: { BinaryName: TS } });
      else assert.deepEqual(runtimes.tsrun, { runtime_type: 'io.containerd.tsrun.v2' });
      assert.equal(setupContainerd(r.text, { tsrun: TS, version: v(version), cli }).text, r.text);
      // Placed right after runc's tables, at their depth.
      assert.match(r.text, /SystemdCgroup = false\n\n {8}\[plugins\."[^"]+"\.containerd\.runtimes\.tsrun\]\n {10}runtime_type = /);
    }
  }
});

test('containerd: comments survive, an existing tsrun entry is updated in place, --cli then shim drops BinaryName', () => {
  const before = [
    '# site config: do not remove',
    'version = 2',
    '',
    '[plugins."io.containerd.grpc.v1.cri".containerd]',
    '  default_runtime_name = "runc" # keep runc',
    '',
    '  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.tsrun]',
    '    runtime_type = "io.containerd.tsrun.v1" # an old name',
    '    privileged_without_host_devices = true',
    '',
  ].join('\n');
  const r = setupContainerd(before, { tsrun: TS, version: v(' 1.6') });
  assert.equal(r.text, before.replace('io.containerd.tsrun.v1', 'io.containerd.tsrun.v2'));
  const cli = setupContainerd(r.text, { tsrun: TS, version: v(' 1.6'), cli: true }).text;
  assert.match(cli, /runtime_type = "io.containerd.runc.v2" # an old name\n {4}privileged_without_host_devices = true\n\n {4}\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.tsrun\.options\]\n {6}BinaryName = "\/usr\/local\/bin\/tsrun"\n/);
  const back = setupContainerd(cli, { tsrun: TS, version: v(' 1.6') }).text;
  assert.deepEqual((plain(parseToml(back).root) as any).plugins['io.containerd.grpc.v1.cri'].containerd.runtimes.tsrun.options, {});
  assert.doesNotMatch(back, /BinaryName/);
  assert.match(back, /^# site config: do not remove\n/);
});

test('containerd 2 with the shim installed: the runc shim type, the binary by runtime_path; 1.6 keeps the shim type', () => {
  const SHIM = '/usr/local/bin/containerd-shim-tsrun-v2';
  const r = setupContainerd('version = 3\n', { tsrun: TS, version: v(' 2.1'), shim: SHIM });
  const table = () => (plain(parseToml(r.text).root) as any).plugins['io.containerd.cri.v1.runtime'].containerd.runtimes.tsrun;
  assert.deepEqual(table(), { runtime_type: 'io.containerd.runc.v2', runtime_path: SHIM });
  assert.equal(setupContainerd(r.text, { tsrun: TS, version: v(' 2.1'), shim: SHIM }).text, r.text);
  // Without a version, a version 3 file is containerd 2's.
  assert.equal(setupContainerd('version = 3\n', { tsrun: TS, shim: SHIM }).text, r.text);
  // --cli and back: runtime_path would make the runc type run the shim instead of runc's with BinaryName.
  const cli = setupContainerd(r.text, { tsrun: TS, version: v(' 2.1'), shim: SHIM, cli: true }).text;
  assert.deepEqual((plain(parseToml(cli).root) as any).plugins['io.containerd.cri.v1.runtime'].containerd.runtimes.tsrun,
    { runtime_type: 'io.containerd.runc.v2', options: { BinaryName: TS } });
  const back = setupContainerd(cli, { tsrun: TS, version: v(' 2.1'), shim: SHIM }).text;
  assert.doesNotMatch(back, /BinaryName/);
  assert.match(back, /runtime_path = /);
  const old = setupContainerd('version = 2\n', { tsrun: TS, version: v(' 1.6'), shim: SHIM });
  assert.deepEqual((plain(parseToml(old.text).root) as any).plugins['io.containerd.grpc.v1.cri'].containerd.runtimes.tsrun,
    { runtime_type: 'io.containerd.tsrun.v2' });
  // Moving a config back to 1.6 drops the path that version ignores.
  const down = setupContainerd(r.text.replace('version = 3', 'version = 3'), { tsrun: TS, version: v(' 1.6'), shim: SHIM }).text;
  assert.doesNotMatch(down, /runtime_path/);
});

test('containerd: malformed or uneditable configs are refused with the line', () => {
  refused(() => setupContainerd('version = 2\n[plugins\nx = 1\n', { tsrun: TS }), 2, /invalid TOML: .*close the table header/);
  refused(() => setupContainerd('version = 2\nroot = "/a"\nroot = "/b"\n', { tsrun: TS }), 3, /duplicate key root/);
  refused(() => setupContainerd('version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\nruntimes = { runc = { runtime_type = "io.containerd.runc.v2" } }\n', { tsrun: TS }), 3, /cannot add tsrun: .*runtimes is an inline table/);
});

test('podman: runtime_supports_json gets tsrun beside the defaults it replaces, and [engine.runtimes] the CLI', () => {
  const empty = setupPodman(undefined, { tsrun: TS }).text;
  const v0 = plain(parseToml(empty).root) as any;
  assert.deepEqual(v0.engine.runtime_supports_json, [...PODMAN_JSON_RUNTIMES, 'tsrun']);
  assert.ok(v0.engine.runtime_supports_json.includes('runc') && v0.engine.runtime_supports_json.includes('crun'));
  assert.deepEqual(v0.engine.runtimes, { tsrun: [TS] });
  assert.equal(setupPodman(empty, { tsrun: TS }).text, empty);

  const before = fixture('containers.conf');
  const r = setupPodman(before, { tsrun: TS }).text;
  assert.deepEqual(removedLines(before, r), []);
  const v1 = plain(parseToml(r).root) as any;
  assert.deepEqual(v1.engine.runtimes, { runc: ['/usr/bin/runc', '/usr/sbin/runc'], tsrun: [TS] });
  assert.equal(v1.engine.cgroup_manager, 'cgroupfs');
  assert.match(r, /cgroup_manager = "cgroupfs"\nruntime_supports_json = \[/);
  assert.match(r, /  "\/usr\/sbin\/runc",\n\]\ntsrun = \["\/usr\/local\/bin\/tsrun"\]\n/);
  assert.equal(setupPodman(r, { tsrun: TS }).text, r);
});

test('podman: an existing runtime_supports_json is extended; a tsrun path list naming this tsrun first is kept', () => {
  const before = '[engine]\nruntime_supports_json = ["crun", "runc"] # mine\n[engine.runtimes]\ntsrun = [\n  "/usr/local/bin/tsrun",\n  "/opt/tsrun",\n]\n';
  const r = setupPodman(before, { tsrun: TS }).text;
  assert.equal(r, before.replace('"runc"]', '"runc", "tsrun"]'));
  const moved = setupPodman(before, { tsrun: '/opt/bin/tsrun' }).text;
  assert.deepEqual((plain(parseToml(moved).root) as any).engine.runtimes.tsrun, ['/opt/bin/tsrun']);
  refused(() => setupPodman('[engine]\nruntime_supports_json = "crun"\n', { tsrun: TS }), 2, /is not an array/);
  refused(() => setupPodman('[engine\n', { tsrun: TS }), 1, /invalid TOML/);
});

// ---- the command -----------------------------------------------------------------------------------------------

function run(args: string[]) {
  const env = { ...process.env, PATH: '/nonexistent' };
  delete (env as NodeJS.ProcessEnv).NODE_EXTRA_CA_CERTS;
  const r = spawnSync(TSRUN, ['setup', ...args], { encoding: 'utf8', env, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('tsrun setup: --dry-run prints a diff and writes nothing; then it writes, atomically, keeping the mode', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-setup-'));
  try {
    const file = join(dir, 'daemon.json');
    writeFileSync(file, '{\n  "debug": true\n}\n');
    chmodSync(file, 0o640);
    const dry = run(['docker', '--dry-run', '--config', file, '--engine-version', '28.5']);
    assert.equal(dry.status, 0, dry.stderr);
    assert.equal(dry.stdout, `--- ${file}\n+++ ${file}\n@@ -1,3 +1,8 @@\n {\n-  "debug": true\n+  "debug": true,\n+  "runtimes": {\n+    "tsrun": {\n+      "runtimeType": "io.containerd.tsrun.v2"\n+    }\n+  }\n }\n`);
    assert.equal(readFileSync(file, 'utf8'), '{\n  "debug": true\n}\n');
    const wet = run(['--config', file, 'docker', '--engine-version', '20.10']);
    assert.equal(wet.status, 0, wet.stderr);
    assert.match(wet.stdout, /Registered runtime "tsrun" \(the command .*\/tsrun\) in .*daemon\.json\nReload Docker.*SIGHUP/);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).runtimes.tsrun, { path: TSRUN });
    assert.equal(statSync(file).mode & 0o777, 0o640);
    assert.deepEqual(readdirSync(dir), ['daemon.json'], 'no temporary file left');
    const again = run(['docker', '--config', file, '--engine-version', '20.10']);
    assert.equal(again.status, 0);
    assert.match(again.stdout, /already registers tsrun: nothing to change/);

    // A new file in a new directory: the shim form warns when the shim is not beside tsrun.
    const conf = join(dir, 'etc', 'config.toml');
    const c = run(['containerd', '--config', conf, '--engine-version', '2.1.9']);
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stdout, /Restart containerd/);
    if (existsSync(join(REPO, 'bin', 'containerd-shim-tsrun-v2'))) assert.doesNotMatch(c.stderr, /is not installed/);
    else assert.match(c.stderr, /containerd-shim-tsrun-v2 is not installed/);
    assert.match(readFileSync(conf, 'utf8'), /^version = 3\n/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tsrun setup: a malformed or unreadable file is refused with one message, exit 1, and left as it is', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-setup-'));
  try {
    const file = join(dir, 'containers.conf');
    const bad = '[engine]\nruntime = "crun"\nruntime = "runc"\n';
    writeFileSync(file, bad);
    const r = run(['podman', '--config', file]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /level=error msg="tsrun setup: .*containers\.conf line 3: invalid TOML: duplicate key runtime \(first defined on line 2\); the file was left as it is"/);
    assert.equal(readFileSync(file, 'utf8'), bad);
    assert.deepEqual(readdirSync(dir), ['containers.conf']);

    const unreadable = run(['containerd', '--config', dir]);
    assert.equal(unreadable.status, 1);
    assert.match(unreadable.stderr, /cannot read .*: illegal operation on a directory|cannot read .*: (EISDIR|is a directory)/);
    assert.equal(run(['lxc']).status, 1);
    assert.match(run(['lxc']).stderr, /unknown engine 'lxc'/);
    assert.match(run([]).stderr, /requires an engine/);
    assert.match(run(['docker', '--bogus']).stderr, /flag provided but not defined: -bogus/);
    assert.equal(existsSync(join(dir, 'x')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
