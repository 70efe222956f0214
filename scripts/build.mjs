// Builds everything TypeScript: the validators from spec-schemas/, the CLI bundle bin/tsrun,
// the shim bundle, and one bundle per test file under build/test/.
// Bundles are CommonJS: a single file that Node loads without the ESM loader's extra work.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync, statSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const only = process.argv[2]; // "cli" | "tests" | undefined (all)

if (existsSync(join(root, 'scripts/build-validators.mjs'))) {
  execFileSync(process.execPath, [join(root, 'scripts/build-validators.mjs')], { stdio: 'inherit' });
}
// The protobuf codecs are TypeScript generated from proto/schema/ (see proto/README.md).
execFileSync(process.execPath, [join(root, 'scripts/gen-proto.mjs')], { stdio: 'inherit' });

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
} catch { /* not a checkout */ }
const pkg = JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(join(root, 'package.json'), 'utf8')));

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['koffi'],
  logLevel: 'warning',
  legalComments: 'none',
  define: {
    TSRUN_VERSION: JSON.stringify(pkg.version),
    TSRUN_COMMIT: JSON.stringify(commit),
    TSRUN_FAULTS: 'false',
  },
};

// The #! line of the fault build (build/fault/tsrun): env drops NODE_EXTRA_CA_CERTS (tsrun speaks no
// TLS, and the variable costs ~80 ms per start) and runs the node that built us, whatever PATH the
// caller has. bin/tsrun does the same without env's exec: native/tsrun-launcher.c.
const shebang = `#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS ${process.execPath}`;

// bin/tsrun-launcher.cjs (which bin/tsrun execs node on) compiles the bundle with a V8 code cache:
// V8 then neither parses the whole bundle nor compiles the functions the command runs. Without a
// usable cache (another Node, other V8 flags) it compiles as Node would.
// Every fresh page a command touches costs (~13 us a fault on this VM), so the bundle's text is
// made once: the file already holds the CommonJS wrapper (no concatenated copy), and it is ASCII
// (checked below), which readFileSync decodes as utf8 in one call into a one-byte string (half the
// bytes of the two-byte string a single non-ASCII character would make of all of it), with less
// of Node's fs code to compile on first use than open, fstat and read calls of our own.
// The command is the first argument that is not a global flag or its value. state, list, kill,
// start, delete and --version run from bin/tsrun-quick.cjs, a bundle of their own that holds what
// they need and not what the others load (the spec loader, the plan compiler, seccomp, exec,
// CRIU...): a third of the bytes to read, cache to load and top level to run. It declines argv
// that is not one of them after all (help, a flag error): bin/tsrun.cjs runs it then.
// Caches are named after the bundle's hash (V8 itself only compares the source's length):
// tsrun-quick.<command>.<hash>.cache for the quick commands, made at build time
// (scripts/code-cache.mjs), tsrun.<hash>.cache (the top level only) for the others. create, run
// and exec cannot run at build time: the first one that succeeds writes its cache
// tsrun.<command>.<hash>.cache (V8's, after the run, so it holds what that command compiled)
// if the launcher's directory belongs to the user and nobody else may write there.
// The schema validators (a file of their own, which the bundle requires only to read a config)
// are compiled with their cache as well, generated/validators.<hash>.cache.
const WRAPPER_HEAD = '(function (exports, require, module, __filename, __dirname) {';
const WRAPPER_TAIL = '\n})';
const LEARNED = ['create', 'run', 'exec'];
// The commands bin/tsrun-quick.cjs runs (runtime/cli/tsrun-quick.ts); scripts/code-cache.mjs makes their caches.
const QUICK = ['state', 'list', 'kill', 'start', 'delete', 'version'];

// The same as scripts/code-cache.mjs names the caches by.
function contentHash(file) {
  return createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16);
}

function launcher(bundleHash, quickHash, validatorsHash) {
  return `'use strict';
// tsrun's launcher: see scripts/build.mjs. native/tsrun-launcher.c runs it as
// node tsrun-launcher.cjs PATH ARGS..., PATH being the tsrun the caller executed: argv as a #! line
// makes it (Node makes the script's path absolute).
process.argv.splice(1, 2, require('path').resolve(process.argv[2]));
const { readFileSync, renameSync, statSync, unlinkSync, writeFileSync } = require('fs');
const { Script } = require('vm');
const argv = process.argv;
let command = '';
for (let i = 2; i < argv.length && !command; i++) {
  const arg = argv[i];
  if (arg === '-v' || arg === '--version') command = 'version';
  else if (arg[0] !== '-') command = arg;
  else if (arg === '--') break;
  else if (!arg.includes('=') && /^--?(root|log|log-format|criu|rootless)$/.test(arg)) i++;
}
const cacheOf = (name) => { try { return readFileSync(\`\${__dirname}/\${name}\`); } catch { return undefined; } };
// A bundle requires node:fs and node:path once per module it was made of: each is one call of Node's loader.
const required = new Map();
function bundleRequire(id) {
  if (id !== './generated/validators.js') {
    let exports = required.get(id);
    if (exports === undefined) required.set(id, exports = require(id));
    return exports;
  }
  const path = \`\${__dirname}/generated/validators.js\`;
  const mod = { exports: {} };
  const source = \`${WRAPPER_HEAD}\${readFileSync(path, 'utf8')}${WRAPPER_TAIL.replace('\n', '\\n')}\`;
  const cachedData = cacheOf('generated/validators.${validatorsHash}.cache');
  new Script(source, { filename: path, cachedData }).runInThisContext()(mod.exports, require, mod, path, \`\${__dirname}/generated\`);
  return mod.exports;
}
// NAME.cjs compiled with the command's own cache, else the one of its top level.
function compile(name, hash) {
  const file = \`\${__dirname}/\${name}.cjs\`;
  const own = /^[a-z]+$/.test(command) ? \`\${name}.\${command}.\${hash}.cache\` : '';
  const ownCache = own && cacheOf(own);
  const cachedData = ownCache || cacheOf(\`\${name}.\${hash}.cache\`);
  return { file, own, ownCache, script: new Script(readFileSync(file, 'utf8'), { filename: file, cachedData }) };
}
function run({ script, file }) {
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, bundleRequire, mod, file, __dirname);
  return mod.exports;
}
if (${JSON.stringify(QUICK)}.includes(command) && run(compile('tsrun-quick', '${quickHash}')).runQuick(argv.slice(2))) return;
const full = compile('tsrun', '${bundleHash}');
if (!full.ownCache && ${JSON.stringify(LEARNED)}.includes(command)) process.on('exit', (code) => code === 0 && learn());
function learn() {
  const tmp = \`\${__dirname}/\${full.own}.\${process.pid}\`;
  try {
    const dir = statSync(__dirname);
    if (dir.uid !== process.geteuid() || dir.mode & 0o022) return;
    writeFileSync(tmp, full.script.createCachedData(), { flag: 'wx', mode: 0o644 });
    renameSync(tmp, \`\${__dirname}/\${full.own}\`);
  } catch {
    try { unlinkSync(tmp); } catch { /* not made */ }
  }
}
run(full);
`;
}

function checkAscii(file) {
  const text = readFileSync(file);
  const at = text.findIndex((b) => b > 0x7f);
  if (at >= 0) throw new Error(`${file}: a non-ASCII byte at ${at} (${JSON.stringify(text.subarray(Math.max(0, at - 40), at + 10).toString())}); write it as a \\u escape`);
}

// The shim's Node side, which the C launcher starts as `node tsrun-shim.cjs`: BUNDLE (beside it)
// compiled with the V8 code cache CACHE when V8 accepts it.
function shimLoader(bundle, cache) {
  return `'use strict';
// The shim's loader: see scripts/build.mjs and scripts/shim-code-cache.mjs.
const fs = require('fs');
const path = require('path');
const file = path.join(__dirname, '${bundle}');
let cachedData;
try { cachedData = fs.readFileSync(path.join(__dirname, '${cache}')); } catch { /* compiled without it */ }
const source = \`(function (exports, require, module, __filename, __dirname) {\${fs.readFileSync(file, 'utf8')}\\n})\`;
new (require('vm').Script)(source, { filename: file, cachedData }).runInThisContext()(exports, require, module, file, __dirname);
`;
}

if (!only || only === 'cli') {
  mkdirSync(join(root, 'bin'), { recursive: true });
  writeFileSync(join(root, 'bin/package.json'), '{ "type": "commonjs" }\n');
  // Minified: V8 parses a third of the bytes, which saves ~5 ms on every command.
  // The schema validators are a file of their own, required on first use (see runtime/spec/load.ts).
  await build({ ...common, minify: true, external: [...common.external, './generated/validators.js'], entryPoints: [join(root, 'runtime/cli/tsrun.ts')], outfile: join(root, 'bin/tsrun.cjs'), banner: { js: WRAPPER_HEAD }, footer: { js: WRAPPER_TAIL } });
  checkAscii(join(root, 'bin/tsrun.cjs'));
  await build({ ...common, minify: true, external: [...common.external, './generated/validators.js'], entryPoints: [join(root, 'runtime/cli/tsrun-quick.ts')], outfile: join(root, 'bin/tsrun-quick.cjs'), banner: { js: WRAPPER_HEAD }, footer: { js: WRAPPER_TAIL } });
  checkAscii(join(root, 'bin/tsrun-quick.cjs'));
  await build({ ...common, minify: true, entryPoints: [join(root, 'runtime/spec/generated/validators.js')], outfile: join(root, 'bin/generated/validators.js') });
  checkAscii(join(root, 'bin/generated/validators.js'));
  // Caches of an earlier bundle (made at build or run time) are never read again: gone.
  for (const dir of ['bin', 'bin/generated']) {
    for (const name of readdirSync(join(root, dir))) if (name.endsWith('.cache') && !name.startsWith('tsrun-shim')) rmSync(join(root, dir, name));
  }
  writeFileSync(join(root, 'bin/tsrun-launcher.cjs'), launcher(contentHash(join(root, 'bin/tsrun.cjs')), contentHash(join(root, 'bin/tsrun-quick.cjs')), contentHash(join(root, 'bin/generated/validators.js'))));
  execFileSync(process.execPath, [join(root, 'scripts/code-cache.mjs'), join(root, 'bin')], { stdio: 'inherit' });
  // The library, for the shim and for `require('<checkout>')` (package.json "exports").
  await build({ ...common, minify: true, external: [...common.external, './generated/validators.js'], entryPoints: [join(root, 'runtime/index.ts')], outfile: join(root, 'bin/tsrun-lib.cjs') });
  // The same CLI with fault injection live (runtime/fault.ts), for the tests only.
  mkdirSync(join(root, 'build/fault/generated'), { recursive: true });
  writeFileSync(join(root, 'build/fault/package.json'), '{ "type": "commonjs" }\n');
  await build({ ...common, define: { ...common.define, TSRUN_FAULTS: 'true' }, external: [...common.external, './generated/validators.js'], entryPoints: [join(root, 'runtime/cli/tsrun.ts')], outfile: join(root, 'build/fault/tsrun'), banner: { js: shebang } });
  copyFileSync(join(root, 'bin/generated/validators.js'), join(root, 'build/fault/generated/validators.js'));
  chmodSync(join(root, 'build/fault/tsrun'), 0o755);
  if (existsSync(join(root, 'shim/main.ts'))) {
    // Node's half of the shim; bin/containerd-shim-tsrun-v2 is the C launcher (native/shim-launcher.c).
    // gRPC (@grpc/grpc-js, 400 kB) is a file of its own, loaded only by a shim that serves it:
    // a ttrpc shim neither parses nor holds it (5 MB less RSS per shim).
    const grpcApart = {
      name: 'grpc-apart',
      setup(b) {
        b.onResolve({ filter: /^\.\/grpc\.js$/ }, (a) => (a.importer.endsWith(join('shim', 'main.ts')) ? { path: './tsrun-shim-grpc.cjs', external: true } : undefined));
      },
    };
    // bin/tsrun-shim.cjs (what the C launcher runs) compiles the bundle with the code cache that
    // scripts/shim-code-cache.mjs makes, as bin/tsrun does.
    // The schema validators are in it (the CLI keeps them apart): a new shim's first Create runs them,
    // and in the bundle they are compiled into the code cache.
    await build({ ...common, minify: true, plugins: [grpcApart], entryPoints: [join(root, 'shim/main.ts')], outfile: join(root, 'bin/tsrun-shim-main.cjs') });
    await build({ ...common, minify: true, entryPoints: [join(root, 'shim/grpc.ts')], outfile: join(root, 'bin/tsrun-shim-grpc.cjs') });
    // The loader runs the bundle through vm.Script, where import() fails (no module loader): a
    // shim's `delete` once left dead sockets behind that way.
    if (/\bimport\(/.test(readFileSync(join(root, 'bin/tsrun-shim-main.cjs'), 'utf8'))) throw new Error('bin/tsrun-shim-main.cjs has an import(): use require or a static import');
    writeFileSync(join(root, 'bin/tsrun-shim.cjs'), shimLoader('tsrun-shim-main.cjs', 'tsrun-shim.cache'));
    execFileSync(process.execPath, [join(root, 'scripts/shim-code-cache.mjs'), join(root, 'bin')], { stdio: 'inherit' });
    // The shim with fault injection live, beside build/fault/tsrun (the Makefile adds the launcher).
    await build({ ...common, define: { ...common.define, TSRUN_FAULTS: 'true' }, plugins: [grpcApart], external: [...common.external, './generated/validators.js'], entryPoints: [join(root, 'shim/main.ts')], outfile: join(root, 'build/fault/tsrun-shim.cjs') });
    copyFileSync(join(root, 'bin/tsrun-shim-grpc.cjs'), join(root, 'build/fault/tsrun-shim-grpc.cjs'));
  }
}

if (!only || only === 'tests') {
  const entries = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.test.ts') || name.endsWith('.vm.ts') || name.endsWith('.bench.ts')) entries.push(p);
    }
  };
  walk(join(root, 'test'));
  if (existsSync(join(root, 'bench'))) walk(join(root, 'bench'));
  for (const entry of entries) {
    const out = join(root, 'build', relative(root, entry)).replace(/\.ts$/, '.cjs');
    mkdirSync(dirname(out), { recursive: true });
    await build({ ...common, entryPoints: [entry], outfile: out, sourcemap: 'inline' });
  }
}
