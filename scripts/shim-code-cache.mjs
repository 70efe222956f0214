// node scripts/shim-code-cache.mjs DIR: writes DIR/tsrun-shim.cache, the V8 code cache of the shim's
// bundle DIR/tsrun-shim-main.cjs that its loader DIR/tsrun-shim.cjs (see build.mjs) compiles it
// with. A new shim is on the critical path of the first container of its group (containerd sends
// Create as soon as `start` answers), and without a cache Node compiles each function the first
// Create, Start, Wait and Delete run. Those calls cannot run here (they need root, containerd and a
// container), so every function of the bundle is compiled, with V8's lazy compilation off while
// the script compiles; the flag is set back before the cache is made, since V8 accepts a cache only
// under the flags it was made with and the loader runs with the defaults. The cache is checked in a
// fresh process; V8 rejects it (and the loader compiles as before) under another Node or flags.
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { spawnSync } from 'node:child_process';

const dir = process.argv[2];
if (!dir) throw new Error('usage: shim-code-cache.mjs DIR');
const file = join(dir, 'tsrun-shim-main.cjs');
const cacheFile = join(dir, 'tsrun-shim.cache');
// The same wrapper as the loader: the cache belongs to this exact source text.
const source = `(function (exports, require, module, __filename, __dirname) {${readFileSync(file, 'utf8')}\n})`;

if (process.argv[3] === '--check') {
  const script = new Script(source, { filename: file, cachedData: readFileSync(cacheFile) });
  process.exit(script.cachedDataRejected ? 1 : 0);
}

setFlagsFromString('--no-lazy');
const script = new Script(source, { filename: file });
setFlagsFromString('--lazy');
writeFileSync(cacheFile, script.createCachedData());

const check = spawnSync(process.execPath, [new URL(import.meta.url).pathname, dir, '--check'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: 'inherit' });
if (check.status !== 0) {
  // a cache V8 refuses only costs its reading: leave none
  rmSync(cacheFile, { force: true });
  console.warn('shim-code-cache: V8 rejected the cache made here; the shim compiles its bundle without one');
}
