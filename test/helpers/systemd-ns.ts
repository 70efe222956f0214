// A real systemd as pid 1 of a pid and mount namespace of its own (with a /run of its own and a
// target that starts nothing), inside ../shared/vm/run-in-cgroup2-vm: test/vm/systemd.vm.ts and
// test/vm/systemd-user.vm.ts run `--systemd-cgroup` containers under it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let unshare: ChildProcess | undefined;
let systemdPid = 0;

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A command in systemd's pid and mount namespaces (pids given to systemd are read in its namespace). */
export function inSystemd(cmd: string[]): { status: number; stdout: string; stderr: string } {
  // Files, not pipes: a container started by the command keeps its stdio open long after.
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-sd-out-'));
  const out = openSync(join(dir, 'out'), 'w+');
  const err = openSync(join(dir, 'err'), 'w+');
  try {
    const r = spawnSync('nsenter', ['-t', String(systemdPid), '-m', '-p', '--', ...cmd], { stdio: ['ignore', out, err], timeout: 120_000 });
    return { status: r.status ?? -1, stdout: readFileSync(join(dir, 'out'), 'utf8'), stderr: readFileSync(join(dir, 'err'), 'utf8') };
  } finally {
    closeSync(out);
    closeSync(err);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startSystemd(): Promise<void> {
  const setup = [
    'mount -t tmpfs tmpfs /run',
    'mkdir -p /run/systemd/system',
    'printf "[Unit]\\nDescription=tsrun test target\\n" > /run/systemd/system/tsrun-test.target',
    'exec env container=tsrun-test /lib/systemd/systemd --system --unit=tsrun-test.target --log-level=warning',
  ].join(' && ');
  unshare = spawn('unshare', ['--pid', '--fork', '--mount', '--mount-proc', '--propagation', 'private', 'sh', '-c', setup], { stdio: 'ignore' });
  for (let i = 0; i < 600; i++) {
    await sleep(100);
    if (!systemdPid) {
      try {
        systemdPid = Number(readFileSync(`/proc/${unshare.pid}/task/${unshare.pid}/children`, 'utf8').trim().split(' ')[0]) || 0;
      } catch { /* not yet */ }
      continue;
    }
    if (inSystemd(['systemctl', 'is-system-running']).stdout.trim() === 'running') return;
  }
  throw new Error(`systemd did not come up: ${inSystemd(['systemctl', 'is-system-running']).stdout}`);
}

export async function stopSystemd(): Promise<void> {
  if (systemdPid) try { process.kill(systemdPid, 'SIGKILL'); } catch { /* gone */ }
  if (unshare && unshare.exitCode === null) await new Promise((r) => unshare!.once('exit', r));
}
