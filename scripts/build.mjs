// Builds everything TypeScript: the validators from spec-schemas/, the CLI bundle bin/tsrun,
// the shim bundle, and one bundle per test file under build/test/.
// Bundles are CommonJS: a single file that Node loads without the ESM loader's extra work.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, chmodSync, statSync } from 'node:fs';
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

// The launcher line: env drops NODE_EXTRA_CA_CERTS (tsrun speaks no TLS, and the variable costs
// ~80 ms per start) and runs the node that built us, whatever PATH the caller has.
const shebang = `#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS ${process.execPath}`;

// bin/tsrun compiles the bundle with the V8 code cache that scripts/code-cache.mjs makes at
// build time: V8 then neither parses the whole bundle nor compiles the functions the cheap
// commands run. Without a usable cache (another Node, other V8 flags) it compiles as Node would.
function launcher(line) {
  return `${line}
'use strict';
// tsrun's launcher: see scripts/build.mjs.
const fs = require('fs');
const path = require('path');
const file = path.join(__dirname, 'tsrun.cjs');
let cachedData;
try { cachedData = fs.readFileSync(path.join(__dirname, 'tsrun.cache')); } catch { /* compiled without it */ }
const source = \`(function (exports, require, module, __filename, __dirname) {\${fs.readFileSync(file, 'utf8')}\\n})\`;
new (require('vm').Script)(source, { filename: file, cachedData }).runInThisContext()(exports, require, module, file, __dirname);
`;
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
  await build({ ...common, minify: true, external: [...common.external, './generated/validators.js'], entryPoints: [join(root, 'runtime/cli/tsrun.ts')], outfile: join(root, 'bin/tsrun.cjs') });
  await build({ ...common, minify: true, entryPoints: [join(root, 'runtime/spec/generated/validators.js')], outfile: join(root, 'bin/generated/validators.js') });
  writeFileSync(join(root, 'bin/tsrun'), launcher(shebang));
  chmodSync(join(root, 'bin/tsrun'), 0o755);
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
