// Restoring a container from CRIU images, as runc does (restore.go, Restore in
// libcontainer/criu_linux.go), into a container tsrun then treats like any other: a state file,
// its cgroup with the spec's limits, state/exec/kill/pause/delete.
//
// The mount namespace: CRIU restores the container's mount tree itself from the images, on top
// of a root it is given. As runc, tsrun bind-mounts the bundle's rootfs (recursively) on a
// directory of the container's state dir and gives that as the root (CRIU wants a mount point
// whose parent is not over-mounted); mounts CRIU cannot make (bind mounts of host paths, v1
// cgroup hierarchies, devices, masked files) are external and mapped to their host sources.
// This needs no executor: no process of the container exists before CRIU forks it, and the
// bind mount is one mount(2) in tsrun's own namespace, undone once CRIU is finished. Mount
// points a restore needs are those the create made in the rootfs; a copied bundle has them.
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { Spec } from '../spec/types.js';
import { TsrunError, describeSystemError } from '../errors.js';
import { log } from '../log.js';
import { criu } from '../../proto/index.js';
import { loadBundleSpec } from '../spec/load.js';
import { deviceCgroupRules } from '../plan/devices.js';
import { cgroupManager, parseProcCgroup, serializeCgroupPaths, type CgroupManager } from '../cgroups/index.js';
import { criuSyscalls } from '../sys/criu.js';
import { lockContainer } from './lock.js';
import { checkContainerId, makeStateDir, removeStateDir, saveState, stateDir, type ContainerState } from './state.js';
import { procStat, processAlive, waitForExit } from './proc.js';
import { hasHooks, runHooks } from './hooks.js';
import { hookState, rfc3339Nano } from './status.js';
import { checkTerminalUse } from './console.js';
import { writePidFile } from './create.js';
import type { StdioSpec } from './executor.js';
import { checkCriuVersion, criuSwrk, quoteCriuErrors } from './criu.js';
import { restoreExtMounts } from './criu-mounts.js';
import { cgroupsMode, criuConfigFile, emptyNsMask, prepareImagePaths, type CriuCommonOptions } from './checkpoint.js';

export interface RestoreOptions extends CriuCommonOptions {
  root: string;
  id: string;
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  /** tsrun waits for the container (the CLI without --detach) */
  foreground: boolean;
  /** criu's and so the restored tree's stdio pipes (default: ours) */
  stdio?: StdioSpec[];
  /** a library caller takes the pty master itself */
  keepMaster?: boolean;
  systemdCgroup: boolean;
  lsmProfile?: string;
  lsmMountContext?: string;
}

export interface Restored { state: ContainerState; cgroups: CgroupManager; master?: number }

const CRIU_ROOT = 'criu-root';

/** namespace types of the spec as CRIU names them in join_ns */
const NS_NAMES: Record<string, string> = { ipc: 'ipc', uts: 'uts', mount: 'mnt', user: 'user', time: 'time' };

export async function restoreContainer(opts: RestoreOptions): Promise<Restored> {
  checkContainerId(opts.id);
  const loaded = loadBundleSpec(opts.bundle, { unknownCapabilities: 'warn' });
  for (const warning of loaded.warnings) log.warn(warning);
  const { spec, bundle, rootfs } = loaded;
  if (!spec.process) throw TsrunError.invalid('process property must not be empty');
  const terminal = !!spec.process.terminal;
  if (!opts.keepMaster) checkTerminalUse(terminal, !opts.foreground, opts.consoleSocket);
  if (terminal && !opts.consoleSocket && !opts.keepMaster) {
    throw TsrunError.unsupported('tsrun restore: a container with a terminal is restored with --detach and --console-socket');
  }
  const { images } = prepareImagePaths(opts.imagePath, undefined);
  const emptyNs = emptyNsMask(opts.emptyNs);
  const cgroups = cgroupManager({ cgroupsPath: spec.linux?.cgroupsPath, id: opts.id, resources: spec.linux?.resources, systemd: opts.systemdCgroup, annotations: spec.annotations });

  const release = await lockContainer(opts.root, opts.id);
  const fds: number[] = [];
  let criuRoot: string | undefined;
  let mounted = false;
  let pid = 0;
  let master: number | undefined;
  try {
    makeStateDir(opts.root, opts.id);
    const state: ContainerState = {
      version: 1, ociVersion: spec.ociVersion ?? '1.0.2-dev', id: opts.id, bundle, rootfs, pid: 0,
      created: rfc3339Nano(new Date()), owner: '', annotations: spec.annotations, cgroup: serializeCgroupPaths(cgroups),
      creating: true, hooks: spec.hooks, process: spec.process, seccomp: spec.linux?.seccomp,
      resources: spec.linux?.resources as ContainerState['resources'],
    };
    try {
      saveState(opts.root, state);
      const version = await checkCriuVersion();
      const cgMode = cgroupsMode(opts.manageCgroupsMode);
      let imageFd: number;
      try { imageFd = openSync(images, 'r'); } catch (err) { throw new TsrunError(describeSystemError(err)); }
      fds.push(imageFd);
      criuRoot = join(stateDir(opts.root, opts.id), CRIU_ROOT);
      mkdirSync(criuRoot, { mode: 0o755 });
      const o: criu.criu_optsInit = {
        images_dir_fd: imageFd, evasive_devices: true, log_level: 4, log_file: 'restore.log', rst_sibling: true, root: criuRoot,
        manage_cgroups: true, manage_cgroups_mode: cgMode, notify_scripts: true, shell_job: !!opts.shellJob,
        ext_unix_sk: !!opts.extUnixSk, tcp_established: !!opts.tcpEstablished, file_locks: !!opts.fileLocks, empty_ns: emptyNs,
        orphan_pts_master: true, auto_dedup: !!opts.autoDedup, lazy_pages: !!opts.lazyPages,
      };
      const inheritFd: criu.inherit_fdInit[] = [];
      const joinNs: criu.join_namespaceInit[] = [];
      if (opts.lsmProfile) {
        if (version < 31600) throw new TsrunError('--lsm-profile requires at least CRIU 3.16');
        o.lsm_profile = opts.lsmProfile;
      }
      if (opts.lsmMountContext) {
        if (version < 31600) throw new TsrunError('--lsm-mount-context requires at least CRIU 3.16');
        o.lsm_mount_context = opts.lsmMountContext;
      }
      let logDir = images;
      if (opts.workPath) {
        try { mkdirSync(opts.workPath, { mode: 0o700 }); } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; }
        const workFd = openSync(opts.workPath, 'r');
        fds.push(workFd);
        o.work_dir_fd = workFd;
        logDir = opts.workPath;
      }
      const config = criuConfigFile(spec.annotations);
      if (config) o.config_file = config;

      // Namespaces the spec joins: network and pid ones were dumped as external and are handed
      // back as inherited fds under runc's keys; the others CRIU joins itself.
      const extraFds: number[] = [];
      for (const ns of spec.linux?.namespaces ?? []) {
        if (!ns.path) continue;
        if (ns.type === 'network' || ns.type === 'pid') {
          let fd: number;
          try { fd = openSync(ns.path, 'r'); } catch (err) {
            log.error(`If a specific network namespace is defined it must exist: ${describeSystemError(err)}`);
            throw new TsrunError(`Requested network namespace ${ns.path} does not exist`);
          }
          fds.push(fd);
          inheritFd.push({ key: ns.type === 'network' ? 'extRootNetNS' : 'extRootPidNS', fd: 4 + extraFds.length });
          extraFds.push(fd);
        } else if (ns.type === 'cgroup') {
          throw new TsrunError(`Do not know how to handle namespace ${ns.type}`);
        } else if (NS_NAMES[ns.type]) {
          joinNs.push({ ns: NS_NAMES[ns.type], ns_file: ns.path });
        }
      }

      // The init's stdio pipes at checkpoint time become criu's (so the restored tree's) fds 0-2.
      let descriptors: unknown;
      try {
        descriptors = JSON.parse(readFileSync(join(images, 'descriptors.json'), 'utf8'));
      } catch (err) {
        throw new TsrunError(err instanceof SyntaxError ? err.message : describeSystemError(err));
      }
      if (Array.isArray(descriptors)) {
        descriptors.forEach((d, i) => { if (typeof d === 'string' && d.includes('pipe:')) inheritFd.push({ key: d, fd: i }); });
      }

      o.inherit_fd = inheritFd;
      o.join_ns = joinNs;
      makeMountPoints(rootfs, spec);
      criuSyscalls().bindMount(rootfs, criuRoot);
      mounted = true;
      o.ext_mnt = restoreExtMounts({ spec, cgroupPaths: cgroups.paths, cgroupVersion: cgroups.version });

      try {
        const resp = await criuSwrk({ type: criu.criu_req_type.RESTORE, opts: o }, {
          stdio: opts.stdio ?? ['inherit', 'inherit', 'inherit'],
          extraFds,
          onStart: async (criuPid, req) => {
            // criu runs in the container's cgroup, with its limits, and restores the tree there.
            cgroups.create();
            for (const warning of cgroups.apply({ ...spec.linux?.resources, devices: deviceCgroupRules(spec) })) log.warn(warning);
            if (cgroups.attach) {
              for (const warning of await cgroups.attach(criuPid)) log.warn(warning);
            } else {
              for (const procs of cgroups.procsFiles()) writeProcs(procs, criuPid);
            }
            const own = parseProcCgroup(readFileSync(`/proc/${criuPid}/cgroup`, 'utf8'));
            req.opts!.cg_root = Object.entries(own).map(([ctrl, path]) => ({ ctrl, path }));
          },
          onNotify: async (script, notifyPid, got) => {
            if (script === 'setup-namespaces') {
              if (hasHooks(spec.hooks, 'prestart', 'createRuntime')) {
                const s = hookState({ ...state, pid: notifyPid }, 'creating');
                await runHooks(spec.hooks, 'prestart', s);
                await runHooks(spec.hooks, 'createRuntime', s);
              }
            } else if (script === 'post-restore') {
              pid = notifyPid;
            } else if (script === 'orphan-pts-master') {
              const fd = got.shift();
              for (const extra of got) closeSync(extra);
              if (fd === undefined) return;
              if (opts.consoleSocket) {
                try { criuSyscalls().sendFdTo(opts.consoleSocket, fd, 'orphan-pts-master'); } finally { closeSync(fd); }
              } else {
                master = fd;
              }
              return;
            }
            for (const fd of got) closeSync(fd);
          },
        });
        pid = resp.restore?.pid ?? pid;
      } catch (err) {
        quoteCriuErrors(logDir, 'restore.log');
        throw err;
      }
      const st = procStat(pid);
      if (!st) throw new TsrunError('container init exited before it was ready');
      state.pid = pid;
      state.pidStartTime = st.startTime;
      delete state.creating;
      saveState(opts.root, state);
      if (opts.pidFile) writePidFile(opts.pidFile, pid);
      log.debug(`restored container ${opts.id} with init pid ${pid}`);
      return { state, cgroups, master };
    } catch (err) {
      if (master !== undefined) { closeSync(master); master = undefined; }
      if (pid > 0 && processAlive(pid)) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        await waitForExit(pid, undefined, 5000);
      }
      try { await cgroups.destroy(); } catch (e) { log.warn(`cleaning up cgroups of ${opts.id}: ${(e as Error).message}`); }
      if (mounted) { unmountRoot(criuRoot!); mounted = false; }
      removeStateDir(opts.root, opts.id);
      throw err;
    }
  } finally {
    for (const fd of fds) closeSync(fd);
    if (mounted) unmountRoot(criuRoot!);
    if (criuRoot && existsSync(criuRoot)) { try { rmdirSync(criuRoot); } catch { /* removed with the state dir */ } }
    release();
  }
}

/**
 * As runc (prepareCriuRestoreMounts): the mount points a create would have made in the rootfs,
 * for a rootfs that never had the container (a copy made elsewhere, a fresh image), except under
 * a tmpfs, whose content CRIU restores. A path that leaves the rootfs through a symlink is left
 * to CRIU to refuse.
 */
function makeMountPoints(rootfs: string, spec: Spec): void {
  const mounts = spec.mounts ?? [];
  const tmpfs = mounts.filter((m) => m.type === 'tmpfs').map((m) => posix.normalize(m.destination));
  for (const m of mounts) {
    const dest = posix.normalize(posix.join('/', m.destination));
    if (m.type === 'cgroup' || dest === '/' || tmpfs.some((t) => dest.startsWith(`${t}/`))) continue;
    const parts = dest.split('/').filter(Boolean);
    let path = rootfs;
    let ok = true;
    for (let i = 0; i < parts.length && ok; i++) {
      path = join(path, parts[i]);
      let st;
      try { st = lstatSync(path); } catch { st = undefined; }
      if (st?.isSymbolicLink()) ok = false;
      else if (st) continue;
      else if (i < parts.length - 1 || !isFileSource(m)) mkdirSync(path, { mode: 0o755 });
      else closeSync(openSync(path, 'a', 0o755));
    }
  }
}

function isFileSource(m: NonNullable<Spec['mounts']>[number]): boolean {
  const bind = m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
  if (!bind || !m.source) return false;
  try { return !statSync(m.source).isDirectory(); } catch { return false; }
}

function writeProcs(path: string, pid: number): void {
  writeFileSync(path, String(pid));
}

function unmountRoot(dir: string): void {
  try {
    criuSyscalls().detach(dir);
  } catch (err) {
    log.warn(`unmounting ${dir}: ${(err as Error).message}`);
  }
}
