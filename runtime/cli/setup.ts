// `tsrun setup docker|containerd|podman`: registers tsrun in an engine's configuration file (the editing itself is in
// runtime/setup/, pure and unit-tested). Not a runc command: runc has no equivalent.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { TsrunError, describeSystemError } from '../errors.js';
import { parseFlags, helpText, type FlagSpec } from './args.js';
import type { Command } from './command.js';
import { unifiedDiff } from '../setup/diff.js';
import { SetupError, SHIM_BINARY, SHIM_RUNTIME_TYPE, RUNTIME_NAME, parseVersion, setupContainerd, setupDocker, setupPodman, type EngineResult, type Version } from '../setup/engines.js';
import { readConfig, writeConfigAtomically } from '../setup/files.js';

const FLAGS: FlagSpec[] = [
  { name: 'dry-run', type: 'bool', usage: 'print the change as a unified diff and write nothing' },
  { name: 'config', type: 'string', usage: 'the configuration file to edit (default: the engine\'s own)' },
  { name: 'cli', type: 'bool', usage: 'register the tsrun command (runc-compatible) rather than the containerd shim' },
  { name: 'engine-version', type: 'string', usage: 'the engine\'s version, instead of asking its binary (e.g. dockerd --version)' },
];

const USAGE = 'tsrun setup [command options] docker|containerd|podman';
const DESCRIPTION = 'register tsrun as a runtime of Docker, containerd or Podman';

interface Engine {
  defaultConfig(): string;
  binary: string;
  apply(existing: string | undefined, tsrun: string, version: Version | undefined, cli: boolean, shim?: string): EngineResult;
  after(file: string, result: EngineResult): string[];
}

const ENGINES: Record<string, Engine> = {
  docker: {
    defaultConfig: () => '/etc/docker/daemon.json',
    binary: 'dockerd',
    apply: (existing, tsrun, version, cli) => setupDocker(existing, { tsrun, version, cli }),
    after: () => [
      `Reload Docker to use it: systemctl reload docker (or send dockerd SIGHUP: kill -HUP $(pidof dockerd))`,
      `Then: docker run --runtime ${RUNTIME_NAME} ...`,
    ],
  },
  containerd: {
    defaultConfig: () => '/etc/containerd/config.toml',
    binary: 'containerd',
    apply: (existing, tsrun, version, cli, shim) => setupContainerd(existing, { tsrun, version, cli, shim }),
    after: (_file, r) => [
      'Restart containerd to use it: systemctl restart containerd',
      `Then: a Kubernetes RuntimeClass with handler: ${RUNTIME_NAME}, or crictl with --runtime ${RUNTIME_NAME}`,
      r.form === 'shim' ? `and: ctr run --runtime ${SHIM_RUNTIME_TYPE} ...` : `and: ctr run --runc-binary <tsrun> ...`,
    ],
  },
  podman: {
    defaultConfig: () => {
      if (process.env.CONTAINERS_CONF) return process.env.CONTAINERS_CONF;
      if (process.getuid?.() === 0) return '/etc/containers/containers.conf';
      const base = process.env.XDG_CONFIG_HOME || join(process.env.HOME ?? '/', '.config');
      return join(base, 'containers/containers.conf');
    },
    binary: 'podman',
    apply: (existing, tsrun) => setupPodman(existing, { tsrun }),
    after: () => [`Use it: podman --runtime ${RUNTIME_NAME} run ...`],
  },
};

function findInPath(name: string, extra: string[] = []): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...extra]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

function engineVersion(binary: string): Version | undefined {
  const path = findInPath(binary, ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin']);
  if (!path) return undefined;
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? parseVersion(r.stdout) : undefined;
}

/** The shim installed beside this tsrun (make install puts it there), else the first on PATH. */
function installedShim(tsrun: string): string | undefined {
  const beside = join(dirname(tsrun), SHIM_BINARY);
  if (existsSync(beside)) return beside;
  const found = findInPath(SHIM_BINARY);
  return found && resolve(found);
}

export const setup: Command = {
  name: 'setup',
  usage: USAGE,
  description: DESCRIPTION,
  flags: FLAGS,
  async run(_global, firstFlags, args) {
    // Flags may come before or after the engine's name.
    const [name, ...more] = args;
    const { flags: laterFlags, rest } = parseFlags(more, [...FLAGS, { name: 'help', short: 'h', type: 'bool', usage: 'show help' }], 'setup');
    if (laterFlags.help) { process.stdout.write(helpText(USAGE, DESCRIPTION, FLAGS)); return 0; }
    const flag = (n: string) => laterFlags[n] !== undefined && laterFlags[n] !== false ? laterFlags[n] : firstFlags[n];
    if (!name) throw new TsrunError('tsrun: "setup" requires an engine: docker, containerd or podman');
    const engine = ENGINES[name];
    if (!engine) throw new TsrunError(`tsrun setup: unknown engine '${name}' (docker, containerd or podman)`);
    if (rest.length) throw new TsrunError(`tsrun setup: unexpected argument '${rest[0]}'`);

    const file = resolve((flag('config') as string | undefined) ?? engine.defaultConfig());
    // The path this tsrun was started as, symlinks kept: a reinstall replaces what they point to.
    const tsrun = resolve(process.argv[1]);
    let version: Version | undefined;
    const given = flag('engine-version') as string | undefined;
    if (given !== undefined) {
      version = parseVersion(` ${given}`);
      if (!version) throw new TsrunError(`tsrun setup: invalid --engine-version '${given}' (expected MAJOR.MINOR)`);
    } else {
      version = engineVersion(engine.binary);
    }

    let existing: string | undefined;
    try {
      existing = readConfig(file);
    } catch (err) {
      throw new TsrunError(`tsrun setup: cannot read ${file}: ${describeSystemError(err)}`);
    }
    let result: EngineResult;
    try {
      result = engine.apply(existing, tsrun, version, !!flag('cli'), installedShim(tsrun));
    } catch (err) {
      if (err instanceof SetupError) {
        throw new TsrunError(`tsrun setup: ${file}${err.line ? ` line ${err.line}` : ''}: ${err.message}; the file was left as it is`);
      }
      throw err;
    }

    const notes: string[] = [];
    if (given === undefined && !version && name !== 'podman') notes.push(`note: ${engine.binary} was not found; assumed a current version`);
    if (result.form === 'shim' && !installedShim(tsrun)) {
      notes.push(`note: ${SHIM_BINARY} is not installed beside ${tsrun} nor on PATH; containerd looks for it on its PATH (make install puts it beside tsrun)`);
    }
    if (result.text === existing) {
      process.stdout.write(`${file} already registers tsrun: nothing to change\n`);
      return 0;
    }
    if (flag('dry-run')) {
      process.stdout.write(unifiedDiff(existing ?? '', result.text, existing === undefined ? '/dev/null' : file, file));
      for (const n of notes) process.stderr.write(n + '\n');
      return 0;
    }
    try {
      writeConfigAtomically(file, result.text);
    } catch (err) {
      throw new TsrunError(`tsrun setup: cannot write ${file}: ${describeSystemError(err)}`);
    }
    const how = result.form === 'shim' ? `the containerd shim ${SHIM_RUNTIME_TYPE}` : `the command ${tsrun}`;
    process.stdout.write([`Registered runtime "${RUNTIME_NAME}" (${how}) in ${file}`, ...engine.after(file, result)].join('\n') + '\n');
    for (const n of notes) process.stderr.write(n + '\n');
    return 0;
  },
};
