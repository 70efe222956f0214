// node scripts/code-cache.mjs DIR: writes DIR/tsrun.cache, the V8 code cache of DIR/tsrun.cjs that
// bin/tsrun (the launcher, see build.mjs) compiles it with. Compiled without a cache, the bundle
// costs every command a parse of all of it and a compile of each function it calls; the cache
// holds the bytecode of the functions the cheap commands run, made by running them here, in one
// process, without a container: --version, help, and list, state, kill, start and delete of a
// stopped container made up in a temporary root. V8 rejects the cache (and the launcher then
// compiles as before) if the Node binary, its V8 flags or the bundle differ.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { spawnSync } from 'node:child_process';

const dir = process.argv[2];
if (!dir) throw new Error('usage: code-cache.mjs DIR');
const file = join(dir, 'tsrun.cjs');

if (process.argv[3] !== '--child') {
  // The commands print: a child of its own, with its output thrown away and a clean environment.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const r = spawnSync(process.execPath, [new URL(import.meta.url).pathname, dir, '--child'], { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`code-cache: ${r.stderr}`);
  process.exit(0);
}

// The text as the launcher reads it (it holds the CommonJS wrapper): the cache belongs to it.
const script = new Script(readFileSync(file, 'latin1'), { filename: file });
const moduleFn = script.runInThisContext();

const work = mkdtempSync(join(tmpdir(), 'tsrun-code-cache-'));
const root = join(work, 'root');
const id = 'warm-up';
mkdirSync(join(root, id), { recursive: true, mode: 0o700 });
// A container whose init is long gone (pid 1's start time never matches), with no cgroup to touch.
const stopped = {
  version: 1, ociVersion: '1.2.0', id, bundle: work, rootfs: join(work, 'rootfs'), pid: 2147483646, pidStartTime: '1',
  created: '2026-01-01T00:00:00Z', owner: '', annotations: {}, process: { args: ['true'], cwd: '/' },
};

function runOnce(args) {
  return new Promise((resolve) => {
    const exit = process.exit;
    process.exit = (code) => { process.exit = exit; resolve(code); };
    process.argv = [process.execPath, file, ...args];
    const mod = { exports: {} };
    moduleFn.call(mod.exports, mod.exports, createRequire(file), mod, file, dir);
  });
}

try {
  const runs = [
    ['--version'], ['--help'], ['help'], ['--root', root, 'list'], ['--root', root, 'list', '-f', 'json'], ['--root', root, 'list', '-q'],
    ['--root', root, 'state', id], ['--root', root, 'kill', id, 'KILL'], ['--root', root, 'kill', '--all', id, '9'],
    ['--root', root, 'start', id], ['--root', root, 'state', 'missing'], ['--root', root, 'delete', 'missing'],
    ['--root', root, 'delete', id], ['--root', root, 'delete', '--force', id], ['--root', root, 'list'],
  ];
  for (const args of runs) {
    if (args.includes('state') && args.includes(id) || args.includes('delete') && args.includes(id)) {
      mkdirSync(join(root, id), { recursive: true, mode: 0o700 });
      writeFileSync(join(root, id, 'state.json'), JSON.stringify(stopped));
    }
    await runOnce(args);
  }
  writeFileSync(join(dir, 'tsrun.cache'), script.createCachedData());
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(0);
