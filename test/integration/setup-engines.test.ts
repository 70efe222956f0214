// The engines themselves read what `tsrun setup` writes: containerd 1.6 and 2.1 load it (`config dump`), dockerd 28
// validates daemon.json (`--validate`), Podman 4.3 finds tsrun as an OCI runtime. Nothing is started.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TSRUN, REPO, isRoot } from '../helpers/harness.js';
import { requireStack, stackSkip } from '../helpers/stack.js';

const env = (() => {
  const e = { ...process.env };
  delete e.NODE_EXTRA_CA_CERTS;
  return e;
})();

function sh(cmd: string, args: string[], extraEnv: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...env, ...extraEnv }, timeout: 60_000 });
  return { status: r.status, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

function setup(args: string[]): void {
  const r = sh(TSRUN, ['setup', ...args]);
  assert.equal(r.status, 0, r.out);
}

/** containerd's own view of the CRI runtime named tsrun, from `config dump`. */
function dumpedRuntime(containerd: string, file: string): string {
  const r = sh(containerd, ['--config', file, 'config', 'dump']);
  assert.equal(r.status, 0, r.out);
  // The tsrun table and its sub-tables, up to the next table that is not one of them.
  const lines = r.out.split('\n');
  const start = lines.findIndex((l) => /^\s*\[plugins\.["']io\.containerd\.(grpc\.v1\.cri|cri\.v1\.runtime)["']\.containerd\.runtimes\.tsrun\]$/.test(l));
  assert.ok(start >= 0, `no tsrun runtime in:\n${r.out}`);
  const end = lines.findIndex((l, i) => i > start && /^\s*\[/.test(l) && !l.includes('.runtimes.tsrun.'));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

const FIXTURES = join(REPO, 'test', 'fixtures', 'setup');
// containerd 2 introspects (and so allows user-namespace pods and rro mounts for) runc-typed runtimes only: the shim
// is registered as one, by path.
const shimAsRunc = new RegExp(`runtime_type = 'io\\.containerd\\.runc\\.v2'\\n\\s+runtime_path = '${join(REPO, 'bin', 'containerd-shim-tsrun-v2')}'`);

describe('engines read what tsrun setup writes', () => {
  test('containerd 1.6 (Debian 12)', { skip: existsSync('/usr/bin/containerd') ? false : 'containerd is not installed' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsrun-setup-'));
    try {
      const fresh = join(dir, 'fresh.toml');
      setup(['containerd', '--config', fresh, '--engine-version', '1.6']);
      assert.match(dumpedRuntime('/usr/bin/containerd', fresh), /runtime_type = "io\.containerd\.tsrun\.v2"/);
      const def = join(dir, 'default.toml');
      copyFileSync(join(FIXTURES, 'containerd-1.6-default.toml'), def);
      setup(['containerd', '--cli', '--config', def, '--engine-version', '1.6']);
      const rt = dumpedRuntime('/usr/bin/containerd', def);
      assert.match(rt, /runtime_type = "io\.containerd\.runc\.v2"/);
      assert.match(rt, new RegExp(`BinaryName = "${TSRUN}"`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('containerd 2.1 and dockerd 28 (Debian sid)', { skip: stackSkip() }, () => {
    const stack = requireStack();
    const dir = mkdtempSync(join(tmpdir(), 'tsrun-setup-'));
    try {
      const fresh = join(dir, 'fresh.toml');
      setup(['containerd', '--config', fresh, '--engine-version', '2.1']);
      assert.match(dumpedRuntime(stack.containerd, fresh), shimAsRunc);
      // A version 2 file of containerd 1.6 still works after an upgrade: containerd 2 migrates it.
      const old = join(dir, 'old.toml');
      copyFileSync(join(FIXTURES, 'containerd-1.6-default.toml'), old);
      setup(['containerd', '--config', old, '--engine-version', '2.1']);
      assert.match(dumpedRuntime(stack.containerd, old), shimAsRunc);
      const def = join(dir, 'default.toml');
      copyFileSync(join(FIXTURES, 'containerd-2.1-default.toml'), def);
      setup(['containerd', '--config', def, '--engine-version', '2.1']);
      assert.match(dumpedRuntime(stack.containerd, def), shimAsRunc);

      for (const form of [[], ['--cli']]) {
        const daemon = join(dir, `daemon${form.length}.json`);
        setup(['docker', ...form, '--config', daemon, '--engine-version', '28.5']);
        const r = sh(stack.dockerd, ['--validate', '--config-file', daemon]);
        assert.equal(r.status, 0, r.out);
        assert.match(r.out, /configuration OK/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('Podman 4.3 (Debian 12)', { skip: !isRoot ? 'needs root' : existsSync('/usr/bin/podman') ? false : 'podman is not installed' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsrun-setup-'));
    try {
      const conf = join(dir, 'containers.conf');
      setup(['podman', '--config', conf]);
      const r = sh('podman', ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--runtime', 'tsrun', 'info', '--format', '{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}'], { CONTAINERS_CONF: conf });
      assert.equal(r.status, 0, r.out);
      assert.equal(r.out.trim(), `tsrun ${TSRUN}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
