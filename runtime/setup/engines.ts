// What `tsrun setup` writes into each engine's configuration: pure functions from the file's current text (or
// undefined when there is none) to its new text. Nothing here touches the file system.
import { parseToml, lookup, formatString, TomlError, type TomlDocument } from './toml.js';
import { findJsonProblem } from './json-check.js';
import { setValue, removeKey, addToStringArray, TomlEditError } from './toml-edit.js';

/** A configuration this command will not edit; `line` is 1-based when known. */
export class SetupError extends Error {
  constructor(message: string, readonly line?: number) {
    super(message);
    this.name = 'SetupError';
  }
}

/** The containerd shim type; containerd resolves it to the binary containerd-shim-tsrun-v2 on its PATH. */
export const SHIM_RUNTIME_TYPE = 'io.containerd.tsrun.v2';
export const SHIM_BINARY = 'containerd-shim-tsrun-v2';
export const RUNC_SHIM_TYPE = 'io.containerd.runc.v2';
export const RUNTIME_NAME = 'tsrun';

export interface Version { major: number; minor: number }

export interface EngineOptions {
  /** Absolute path of the tsrun CLI. */
  tsrun: string;
  /** The engine's version, when known. */
  version?: Version;
  /** Register the CLI (runc-compatible) even where the shim could be used. */
  cli?: boolean;
  /** Absolute path of containerd-shim-tsrun-v2, when it is installed. */
  shim?: string;
}

export interface EngineResult {
  text: string;
  /** Which form was written: the containerd shim or the tsrun CLI. */
  form: 'shim' | 'cli';
}

/** Parses the first "X.Y" version in an engine's --version output. */
export function parseVersion(output: string): Version | undefined {
  const m = /(?:^|[\s v])(\d+)\.(\d+)(?:\.\d+)?/.exec(output);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

// ---- Docker: daemon.json -------------------------------------------------------------------------------------

/** Docker 23 added `runtimeType`: dockerd then passes the shim to containerd instead of runc's shim with a binary. */
export function dockerUsesShim(v: Version | undefined): boolean {
  return !v || v.major >= 23;
}

export function setupDocker(existing: string | undefined, opts: EngineOptions): EngineResult {
  const form = opts.cli || !dockerUsesShim(opts.version) ? 'cli' : 'shim';
  const entry: Record<string, unknown> = form === 'shim' ? { runtimeType: SHIM_RUNTIME_TYPE } : { path: opts.tsrun };
  const config = parseJsonObject(existing ?? '');
  if (config.runtimes !== undefined && (typeof config.runtimes !== 'object' || config.runtimes === null || Array.isArray(config.runtimes))) {
    throw new SetupError('"runtimes" is not an object');
  }
  const runtimes = (config.runtimes ?? {}) as Record<string, unknown>;
  if (existing !== undefined && JSON.stringify(runtimes[RUNTIME_NAME]) === JSON.stringify(entry)) return { text: existing, form };
  config.runtimes = { ...runtimes, [RUNTIME_NAME]: entry };
  return { text: JSON.stringify(config, null, jsonIndent(existing ?? '')) + '\n', form };
}

function parseJsonObject(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  const problem = findJsonProblem(text);
  if (problem) throw new SetupError(`invalid JSON: ${problem.message}`, problem.line);
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SetupError('the file is not a JSON object', 1);
  return value as Record<string, unknown>;
}

function jsonIndent(text: string): string {
  const m = /\n([ \t]+)"/.exec(text);
  return m ? m[1] : '  ';
}

// ---- containerd: config.toml ---------------------------------------------------------------------------------

/** Where the CRI plugin keeps its runtimes in each config version (1: containerd 1.x without a version line). */
export const CRI_RUNTIMES: Record<number, string[]> = {
  1: ['plugins', 'cri', 'containerd', 'runtimes'],
  2: ['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'runtimes'],
  3: ['plugins', 'io.containerd.cri.v1.runtime', 'containerd', 'runtimes'],
};

export function setupContainerd(existing: string | undefined, opts: EngineOptions): EngineResult & { configVersion: number } {
  const form = opts.cli ? 'cli' : 'shim';
  // No file means containerd's defaults: start from the layout its version reads natively.
  let text = existing ?? `version = ${!opts.version || opts.version.major >= 2 ? 3 : 2}\n`;
  const doc = readToml(text);
  const versionNode = lookup(doc, ['version']);
  let configVersion = 1;
  if (versionNode) {
    if (versionNode.type !== 'value' || versionNode.kind !== 'integer') throw new SetupError('"version" is not an integer', versionNode.line);
    configVersion = versionNode.value as number;
  }
  const base = CRI_RUNTIMES[configVersion];
  if (!base) throw new SetupError(`config version ${configVersion} is not one this command knows (1, 2 or 3)`, versionNode?.line);
  const runtime = [...base, RUNTIME_NAME];
  const major = opts.version?.major ?? (configVersion >= 3 ? 2 : 1);
  text = edit(() => {
    let t = text;
    if (form === 'shim' && opts.shim && major >= 2) {
      // containerd 2's CRI asks a runtime for its features (user-namespace pods, recursive read-only mounts) only
      // when its type is the runc shim's; runtime_path then names the binary it runs as that shim, and `-info`.
      t = setValue(t, [...runtime, 'runtime_type'], formatString(RUNC_SHIM_TYPE));
      t = setValue(t, [...runtime, 'runtime_path'], formatString(opts.shim));
      t = removeKey(t, [...runtime, 'options', 'BinaryName']);
    } else if (form === 'shim') {
      // containerd 1.6 up to 1.6.20 ignores runtime_path: the shim is found by its type's name on containerd's PATH.
      t = setValue(t, [...runtime, 'runtime_type'], formatString(SHIM_RUNTIME_TYPE));
      t = removeKey(t, [...runtime, 'runtime_path']);
      // Left from an earlier --cli setup, it would be handed to the shim as an opaque options blob.
      t = removeKey(t, [...runtime, 'options', 'BinaryName']);
    } else {
      // The CLI is driven by containerd's own runc shim, told to run tsrun instead of runc.
      t = setValue(t, [...runtime, 'runtime_type'], formatString(RUNC_SHIM_TYPE));
      t = removeKey(t, [...runtime, 'runtime_path']);
      t = setValue(t, [...runtime, 'options', 'BinaryName'], formatString(opts.tsrun));
    }
    return t;
  });
  return { text, form, configVersion };
}

// ---- Podman: containers.conf ---------------------------------------------------------------------------------

/**
 * The runtimes Podman's own defaults list in runtime_supports_json (4.x and 5.x together). Setting the key in a file
 * replaces the default list, so a file that lacks it gets the defaults plus tsrun.
 */
export const PODMAN_JSON_RUNTIMES = ['crun', 'runc', 'kata', 'runsc', 'youki', 'krun', 'ocijail'];

export function setupPodman(existing: string | undefined, opts: EngineOptions): EngineResult {
  let text = existing ?? '';
  const doc = readToml(text);
  text = edit(() => {
    let t = text;
    const supports = lookup(doc, ['engine', 'runtime_supports_json']);
    if (supports) t = addToStringArray(t, ['engine', 'runtime_supports_json'], RUNTIME_NAME, formatString(RUNTIME_NAME));
    else t = setValue(t, ['engine', 'runtime_supports_json'], `[${[...PODMAN_JSON_RUNTIMES, RUNTIME_NAME].map(formatString).join(', ')}]`);
    const current = lookup(readToml(t), ['engine', 'runtimes', RUNTIME_NAME]);
    const paths = current?.type === 'value' && Array.isArray(current.value) ? current.value : undefined;
    // Podman uses the first path that exists; one already naming this tsrun first is left as the user wrote it.
    if (paths?.[0] !== opts.tsrun) t = setValue(t, ['engine', 'runtimes', RUNTIME_NAME], `[${formatString(opts.tsrun)}]`);
    return t;
  });
  return { text, form: 'cli' };
}

// ---- shared -------------------------------------------------------------------------------------------------

function readToml(text: string): TomlDocument {
  try {
    return parseToml(text);
  } catch (err) {
    if (err instanceof TomlError) throw new SetupError(`invalid TOML: ${err.message}`, err.line);
    throw err;
  }
}

function edit(f: () => string): string {
  try {
    return f();
  } catch (err) {
    if (err instanceof TomlEditError) throw new SetupError(`cannot add tsrun: ${err.message}`, err.line);
    if (err instanceof TomlError) throw new SetupError(`invalid TOML: ${err.message}`, err.line);
    throw err;
  }
}
