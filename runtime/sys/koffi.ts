// koffi's native module, loaded without the package's index.js: that file first requires https,
// zlib and crypto (for its prebuilt-binary downloader), ~20 ms in every process that needs one
// system call, such as the shim's start. The native module is the whole API used here (load,
// func, errno, alloc, view…); the index only adds deprecated aliases. Where the prebuilt file for
// this platform is not where koffi 2 puts it (musl, armhf, riscv), the package's own loader finds it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Koffi = any;

let loaded: Koffi | undefined;

export function koffi(): Koffi {
  if (loaded) return loaded;
  // The bundle's own require: node:module's createRequire would load the ESM loader (~1 ms).
  try {
    const native = require(['koffi', 'build', 'koffi', `${process.platform}_${process.arch}`, 'koffi.node'].join('/'));
    if (native.version === require('koffi/package.json').version) return (loaded = native);
  } catch { /* not this platform's layout: the package knows */ }
  return (loaded = require('koffi'));
}
