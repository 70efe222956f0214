// Checkpointing a running container with CRIU, as runc does (checkpoint.go, Checkpoint in
// libcontainer/criu_linux.go): the container's init and everything under it are dumped into an
// image directory; unless asked to leave it running (or to pre-dump), the container is gone after.
import { closeSync, mkdirSync, openSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { TsrunError, describeSystemError } from '../errors.js';
import { log } from '../log.js';
import { criu } from '../../proto/index.js';
import { loadBundleSpec } from '../spec/load.js';
import { cgroupManagerFromState } from '../cgroups/index.js';
import type { Spec } from '../spec/types.js';
import { lockContainer } from './lock.js';
import { loadState, type ContainerState } from './state.js';
import { containerStatus } from './status.js';
import { requireStatus } from './transitions.js';
import { checkCriuVersion, criuSwrk, quoteCriuErrors } from './criu.js';
import { dumpExtMounts, externalNamespaceKey } from './criu-mounts.js';
import { deleteContainer } from './delete.js';

export type CgroupsMode = 'soft' | 'full' | 'strict' | 'ignore';

/** Options shared by checkpoint and restore (runc's CriuOpts). */
export interface CriuCommonOptions {
  /** where the images are (default: ./checkpoint, as runc) */
  imagePath?: string;
  /** where criu's work files and log go (default: the image path) */
  workPath?: string;
  tcpEstablished?: boolean;
  extUnixSk?: boolean;
  shellJob?: boolean;
  fileLocks?: boolean;
  lazyPages?: boolean;
  autoDedup?: boolean;
  manageCgroupsMode?: CgroupsMode | '';
  /** namespaces to create empty instead of restoring (only "network"); runc always adds network */
  emptyNs?: string[];
}

export interface CheckpointOptions extends CriuCommonOptions {
  /** a previous (pre-)dump, relative to the image path */
  parentPath?: string;
  leaveRunning?: boolean;
  tcpSkipInFlight?: boolean;
  linkRemap?: boolean;
  preDump?: boolean;
  /** with lazyPages: criu writes \0 here once the page server is ready */
  statusFd?: number;
  /** ADDRESS:PORT */
  pageServer?: string;
}

const CLONE_NEWNET = 0x40000000;

/** runc's prepareImagePaths: the image dir is made (0600, as runc) before anything else is looked at. */
export function prepareImagePaths(imagePath: string | undefined, parentPath: string | undefined): { images: string; parent?: string } {
  const images = resolve(imagePath || join(process.cwd(), 'checkpoint'));
  mkdirAllAsGo(images, 0o600);
  if (!parentPath) return { images };
  if (isAbsolute(parentPath)) throw TsrunError.invalid('--parent-path must be relative');
  const real = join(images, parentPath);
  let st;
  try { st = statSync(real); } catch (err) { throw TsrunError.invalid(`invalid --parent-path: ${describeSystemError(err).replace(/^stat /, 'stat ')}`); }
  if (!st.isDirectory()) throw TsrunError.invalid(`invalid --parent-path: stat ${real}: not a directory`);
  return { images, parent: parentPath };
}

/** Go's os.MkdirAll, whose errors name the component that failed (not the whole path, as Node's). */
function mkdirAllAsGo(path: string, mode: number): void {
  let st;
  try { st = statSync(path); } catch { st = undefined; }
  if (st) {
    if (st.isDirectory()) return;
    throw new TsrunError(`mkdir ${path}: not a directory`);
  }
  const parent = dirname(path);
  if (parent !== path) mkdirAllAsGo(parent, mode);
  try {
    mkdirSync(path, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statSync(path).isDirectory()) return;
    throw new TsrunError(describeSystemError(err));
  }
}

/** runc's criuCgMode. */
export function cgroupsMode(mode: string | undefined): criu.criu_cg_mode {
  switch (mode ?? '') {
    case '': return criu.criu_cg_mode.DEFAULT;
    case 'soft': return criu.criu_cg_mode.SOFT;
    case 'full': return criu.criu_cg_mode.FULL;
    case 'strict': return criu.criu_cg_mode.STRICT;
    case 'ignore': return criu.criu_cg_mode.IGNORE;
    default: throw TsrunError.invalid('invalid manage-cgroups-mode value');
  }
}

/** runc's namespace mask: the network namespace is never restored (runc does not manage networks). */
export function emptyNsMask(emptyNs: string[] | undefined): number {
  let mask = CLONE_NEWNET;
  for (const ns of emptyNs ?? []) {
    if (ns !== 'network') throw TsrunError.invalid(`namespace "${ns}" is not supported`);
    mask |= CLONE_NEWNET;
  }
  return mask;
}

/** runc's handleCriuConfigurationFile: a per-container criu config from an annotation, else runc's own. */
export function criuConfigFile(annotations: Record<string, string> | undefined): string | undefined {
  if (annotations && 'org.criu.config' in annotations) return annotations['org.criu.config'] || undefined;
  return '/etc/criu/runc.conf';
}

/** The spec of the container: the bundle's config.json, which tsrun does not copy at create. */
function containerSpec(state: ContainerState): Spec {
  return loadBundleSpec(state.bundle, { unknownCapabilities: 'warn', requireProcess: false }).spec;
}

function openDir(path: string): number {
  try { return openSync(path, 'r'); } catch (err) { throw new TsrunError(describeSystemError(err)); }
}

export async function checkpointContainer(root: string, id: string, opts: CheckpointOptions): Promise<void> {
  const state = loadState(root, id);
  const status = containerStatus(root, state);
  requireStatus('checkpoint', status, id);
  const { images, parent } = prepareImagePaths(opts.imagePath, opts.parentPath);
  let pageServer: { address: string; port: number } | undefined;
  if (opts.pageServer) {
    const m = /^(?:\[([^\]]*)\]|([^:]*)):([^:]*)$/.exec(opts.pageServer);
    const address = m?.[1] ?? m?.[2];
    if (!m || !address || !m[3]) throw TsrunError.invalid('Use --page-server ADDRESS:PORT to specify page server');
    if (!/^\d+$/.test(m[3])) throw TsrunError.invalid('Invalid port number');
    pageServer = { address, port: Number(m[3]) };
  }
  const emptyNs = emptyNsMask(opts.emptyNs);

  const release = await lockContainer(root, id);
  let dumped = false;
  try {
    const version = await checkCriuVersion();
    const cgMode = cgroupsMode(opts.manageCgroupsMode);
    try { mkdirSync(images, { mode: 0o700 }); } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; }
    const fds: number[] = [];
    let logDir = images;
    try {
      const imageFd = openDir(images);
      fds.push(imageFd);
      const spec = containerSpec(state);
      const cg = state.cgroup ? cgroupManagerFromState(state.cgroup) : undefined;
      const o: criu.criu_optsInit = {
        images_dir_fd: imageFd, log_level: 4, log_file: 'dump.log', root: state.rootfs,
        manage_cgroups: true, manage_cgroups_mode: cgMode, notify_scripts: true, pid: state.pid,
        shell_job: !!opts.shellJob, leave_running: !!opts.leaveRunning, tcp_established: !!opts.tcpEstablished,
        tcp_skip_in_flight: !!opts.tcpSkipInFlight, link_remap: !!opts.linkRemap, ext_unix_sk: !!opts.extUnixSk,
        file_locks: !!opts.fileLocks, empty_ns: emptyNs, orphan_pts_master: true, auto_dedup: !!opts.autoDedup,
        lazy_pages: !!opts.lazyPages,
      };
      const external: string[] = [];
      if (opts.workPath) {
        const work = resolve(opts.workPath);
        try { mkdirSync(work, { mode: 0o700 }); } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; }
        const workFd = openDir(work);
        fds.push(workFd);
        o.work_dir_fd = workFd;
        logDir = work;
      }
      const config = criuConfigFile(state.annotations);
      if (config) o.config_file = config;
      // A joined network or pid namespace is not the container's to dump: CRIU records it by
      // inode under runc's key, and a restore hands the namespace back.
      for (const type of ['network', 'pid'] as const) {
        const path = spec.linux?.namespaces?.find((n) => n.type === type)?.path;
        if (!path) continue;
        const ino = statSync(path).ino;
        external.push(`${type === 'network' ? 'net' : 'pid'}[${ino}]:${externalNamespaceKey(type)}`);
      }
      o.external = external;
      // CRIU freezes the tree with the cgroup freezer when it knows where it is (else ptrace).
      const freezer = cg?.paths.freezer ?? (cg?.version === 2 ? cg.paths[''] : undefined);
      if (freezer) o.freeze_cgroup = freezer;
      if (pageServer) o.ps = pageServer;
      if (parent) { o.parent_img = parent; o.track_mem = true; }
      let type: criu.criu_req_type = criu.criu_req_type.DUMP;
      if (opts.preDump) {
        await requireFeatures({ mem_track: true });
        type = criu.criu_req_type.PRE_DUMP;
      }
      if (opts.lazyPages) {
        await requireFeatures({ lazy_pages: true });
        if (opts.statusFd !== undefined && opts.statusFd !== -1 && version < 31500) o.status_fd = opts.statusFd;
      }
      if (!opts.preDump) {
        const masked = (p: string) => {
          try { return !statSync(`/proc/${state.pid}/root/${p}`).isDirectory(); } catch { return false; }
        };
        o.ext_mnt = dumpExtMounts({ spec, cgroupPaths: cg?.paths ?? {}, cgroupVersion: cg?.version ?? 1 }, masked);
        // The init's stdio as the outside sees it: a restore hands pipes of that name back.
        const descriptors = [0, 1, 2].map((fd) => { try { return readlinkSync(`/proc/${state.pid}/fd/${fd}`); } catch { return '/dev/null'; } });
        writeFileSync(join(images, 'descriptors.json'), JSON.stringify(descriptors), { mode: 0o600 });
      }
      try {
        await criuSwrk({ type, opts: o }, {
          onNotify: (script, _pid, got) => {
            for (const fd of got) closeSync(fd);
            if (script === 'status-ready' && opts.statusFd !== undefined && opts.statusFd !== -1) {
              try { writeFileSync(opts.statusFd, Buffer.from([0])); } catch (err) { log.warn(`can't write \\0 to status fd: ${(err as Error).message}`); }
              try { closeSync(opts.statusFd); } catch { /* closed */ }
            }
          },
        });
      } catch (err) {
        quoteCriuErrors(logDir, 'dump.log');
        throw err;
      }
      dumped = true;
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  } finally {
    release();
  }
  if (dumped && !opts.leaveRunning && !opts.preDump) {
    // The tree is gone (CRIU killed it after the dump): the rest of the container goes too.
    try { await deleteContainer(root, id, true); } catch (err) { log.warn((err as Error).message); }
  }
}

async function requireFeatures(want: criu.criu_featuresInit): Promise<void> {
  let resp: criu.criu_resp;
  try {
    resp = await criuSwrk({ type: criu.criu_req_type.FEATURE_CHECK, features: want });
  } catch (err) {
    throw new TsrunError(`CRIU feature check failed: ${(err as Error).message}`);
  }
  // As runc: a feature counts as missing only when criu answered about it.
  const got = (resp.features ?? {}) as Record<string, boolean | undefined>;
  const names: Record<string, string> = { mem_track: 'MemTrack', lazy_pages: 'LazyPages' };
  const missing = Object.keys(want).filter((k) => (want as Record<string, boolean>)[k] && got[k] === false).map((k) => names[k] ?? k);
  if (missing.length) throw new TsrunError(`criu is missing features: [${missing.join(' ')}]`);
}
