import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, unlinkSync, writeSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TsrunError } from '../errors.js';
import { mkdirAll } from '../fsutil.js';
import type { Spec } from '../spec/types.js';
import type { LinuxResources } from '../cgroups/types.js';

/** What tsrun keeps about a container in ROOT/ID/state.json. */
export interface ContainerState {
  version: 1;
  id: string;
  bundle: string;
  rootfs: string;
  /** 0 until the init exists */
  pid: number;
  /** /proc/PID/stat start time of the init, to tell it from a later process with the same pid */
  pidStartTime?: string;
  created: string;
  annotations?: Record<string, string>;
  owner: string;
  /** serialized cgroup paths, so that delete finds them even after a crash */
  cgroup?: unknown;
  /** set while create is under way */
  creating?: boolean;
  /** while creating: the tsrun doing it (pid and /proc start time), to tell a create still under way from one killed */
  creator?: { pid: number; startTime?: string };
  hooks?: Spec['hooks'];
  /** the container's process: `exec` starts from it (the bundle may have changed since create) */
  process?: Spec['process'];
  /** the container's seccomp profile, which `exec` must apply to its processes as well */
  seccomp?: NonNullable<Spec['linux']>['seccomp'];
  /** linux.resources as created and then updated (`update` merges into them, as runc's saved config) */
  resources?: LinuxResources;
  /**
   * Without a mount namespace of its own: the resolved rootfs and the id of the mount its private
   * bind goes on in the host's mount namespace (runtime/container/host-mounts.ts)
   */
  hostMounts?: { rootfs: string; under: number };
  /** the spec's ociVersion, reported by `state` */
  ociVersion: string;
}

const ID_PATTERN = /^[\w+\-.]+$/;

export function checkContainerId(id: string): void {
  if (!ID_PATTERN.test(id) || id === '.' || id === '..') throw TsrunError.invalid(`invalid id format: ${id}`);
}

/**
 * Not runc's "state.json": Docker and containerd give every runtime the same --root, so runc's
 * containers may sit beside ours, and their state must not be read as ours.
 */
export const STATE_FILE = 'tsrun-state.json';

export function statePath(root: string, id: string): string {
  return join(root, id, STATE_FILE);
}

export function stateDir(root: string, id: string): string {
  return join(root, id);
}

export function execFifoPath(root: string, id: string): string {
  return join(root, id, 'exec.fifo');
}

/**
 * Writes a file so that readers, and a tsrun killed halfway, see either the old or the new
 * content. No fsync: the state lives on a tmpfs (/run) that a machine crash empties anyway.
 */
export function writeFileAtomic(path: string, data: string, mode = 0o600): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function saveState(root: string, state: ContainerState): void {
  writeFileAtomic(statePath(root, state.id), JSON.stringify(state));
}

export function loadState(root: string, id: string): ContainerState {
  checkContainerId(id);
  let text: string;
  try {
    text = readFileSync(statePath(root, id), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
      throw TsrunError.notFound('container does not exist');
    }
    throw err;
  }
  try {
    return JSON.parse(text) as ContainerState;
  } catch {
    throw new TsrunError(`container state of ${id} is corrupt`);
  }
}

/** Makes the container's state dir; fails if it exists (the id is taken). */
export function makeStateDir(root: string, id: string): void {
  mkdirAll(root, 0o700);
  try {
    mkdirSync(stateDir(root, id), { mode: 0o711 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw TsrunError.exists('container with given ID already exists');
    throw err;
  }
}

export function removeStateDir(root: string, id: string): void {
  const dir = stateDir(root, id);
  // The dir holds plain files (state, fifo): removed one by one, without loading fs's rimraf.
  try {
    for (const name of readdirSync(dir)) unlinkSync(join(dir, name));
    rmdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !existsSync(dir)) return;
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Ids of the containers under root that have a tsrun state file (runc's dirs may sit next to ours). */
export function listContainerIds(root: string): string[] {
  let names: string[];
  try { names = readdirSync(root); } catch { return []; }
  return names.filter((n) => ID_PATTERN.test(n) && existsSync(statePath(root, n))).sort();
}

export function stateDirOwner(root: string, id: string): number {
  return statSync(stateDir(root, id)).uid;
}
