// The Checkpoint RPC as containerd's runc shim answers it (process/init.go checkpoint): runc
// checkpoint with criu's work files in the bundle unless the caller names a work path, the
// container left running unless `exit`, and the dump log copied to the bundle on failure.
// Create with `checkpoint` set makes nothing, as the runc shim's "created checkpoint" state;
// Start restores the container (service.ts restoreTask) with the task's new stdio pipes.
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Container } from '../runtime/index.js';
import type { CgroupsMode } from '../runtime/container/checkpoint.js';
import type { runc_options } from '../proto/index.js';
import { TtrpcError, Code } from './ttrpc/index.js';

export async function checkpointTask(container: Container, bundle: string, path: string, o: runc_options.CheckpointOptions | undefined): Promise<void> {
  // containerd always names one; a default in the shim's working directory would be nobody's.
  // The caller's image_path first: containerd 1.6 reads it only for runtimes named
  // io.containerd.runc* (getCheckpointPath) and otherwise sends a temporary directory that it
  // stores in its content store (an empty checkpoint then); 2.x sends image_path as the path.
  if (!path && !o?.image_path) throw new TtrpcError(Code.InvalidArgument, 'checkpoint: an image path is required');
  const work = o?.work_path || join(bundle, 'criu-work');
  try {
    await container.checkpoint({
      imagePath: o?.image_path || path, workPath: work, leaveRunning: !o?.exit, tcpEstablished: !!o?.open_tcp,
      extUnixSk: !!o?.external_unix_sockets, shellJob: !!o?.terminal, fileLocks: !!o?.file_locks,
      emptyNs: o?.empty_namespaces ?? [], manageCgroupsMode: (o?.cgroups_mode || '') as CgroupsMode | '',
    });
  } catch (err) {
    const dumpLog = join(bundle, 'criu-dump.log');
    try { copyFileSync(join(work, 'dump.log'), dumpLog); } catch { /* no log */ }
    throw new TtrpcError(Code.Unknown, `${(err as Error).message} path= ${dumpLog}`);
  } finally {
    if (!o?.work_path) rmSync(work, { recursive: true, force: true });
  }
}
