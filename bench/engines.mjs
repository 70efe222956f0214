// Engines end to end: Docker 28 (runc vs tsrun CLI vs tsrun shim) and a CRI pod start on containerd 2.1 (runc vs
// tsrun), in one run. The benchmark itself is bench/engines/engines.bench.ts (it shares the tests' CRI client and image
// helpers), built by `make build` into build/bench/engines/engines.bench.cjs. Root only. `node bench/engines.mjs [runs]`
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const built = join(new URL('..', import.meta.url).pathname, 'build/bench/engines/engines.bench.cjs');
if (!existsSync(built)) {
  console.error(`bench/engines.mjs: ${built} is missing: run make build first`);
  process.exit(1);
}
const r = spawnSync(process.execPath, [built, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
