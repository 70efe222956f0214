// Runs every built test file in one node:test run, so that its closing summary covers the suite.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const files = [];
const walk = (dir) => {
  let names = [];
  try { names = readdirSync(dir); } catch { return; }
  for (const name of names.sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.cjs')) files.push(p);
  }
};
walk(join(root, 'build/test/unit'));
walk(join(root, 'build/test/integration'));
walk(join(root, 'build/test/security'));
walk(join(root, 'build/test/fuzz'));
walk(join(root, 'build/test/load'));
walk(join(root, 'build/test/fault'));
// Engines of today's versions end to end (test/e2e): a private dockerd 28 and the like, a few minutes in all.
walk(join(root, 'build/test/e2e'));
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit', env, cwd: root });
process.exit(r.status ?? 1);
