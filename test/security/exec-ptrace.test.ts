// Issue 10, item 1: a container process with CAP_SYS_PTRACE in the initial user namespace may
// open /proc/PID/fd/N, /proc/PID/root and /proc/PID/cwd of any process of its pid namespace,
// non-dumpable or not. Every process the runtime makes that is visible there (the init of an
// exec, the init of a second container sharing the pid namespace) must hold nothing of the
// host at any moment. A probe in the container scans those links in a loop, while the runtime
// runs under strace, which holds every executor process in its first prctl(2) (the first system
// call of each new process) for 300 ms, so that windows of microseconds are hit reliably; it records every link through which a marker file on the host is
// reachable, and every link to a cgroup file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO, needsRoot, tsrun } from '../helpers/harness.js';
import { fixture, type Fixture } from '../helpers/fixture.js';

const hasStrace = existsSync('/usr/bin/strace');
const skip = needsRoot || (!hasStrace && 'needs strace');
// TSRUN_TEST_EXECUTOR runs the probe against another executor build (an older one, to see it fail).
const REAL = process.env.TSRUN_TEST_EXECUTOR ?? join(REPO, 'bin/tsrun-executor');

const PROBE = `#!/bin/sh
M="$1"
while :; do
  for f in /proc/[0-9]*/fd/* /proc/[0-9]*/root /proc/[0-9]*/cwd; do
    if [ -e "$f/1/root$M" ]; then echo "host /proc through $f" >> /hits; fi
    for up in "" /.. /../.. /../../.. /../../../.. /../../../../.. /../../../../../.. /../../../../../../..; do
      if [ -e "$f$up$M" ]; then echo "host root through $f$up" >> /hits; break; fi
    done
    case "$(readlink "$f" 2>/dev/null)" in *cgroup.procs*|/sys/fs/cgroup/*) echo "cgroup file through $f" >> /hits;; esac
  done
  touch /probe-ran
done
`;

function withPtraceCaps(c: any): void {
  for (const set of ['bounding', 'effective', 'permitted']) c.process.capabilities[set].push('CAP_SYS_PTRACE');
}

/** A running container whose probe looks for `marker` (a host path) through /proc. */
function startProbe(f: Fixture, root: string, marker: string): { id: string; bundle: string; pid: number } {
  const id = f.id('tsrun-ptrace', { strict: true });
  const bundle = f.bundle((c: any) => {
    withPtraceCaps(c);
    c.root.readonly = false;
    c.process.args = ['/probe.sh', marker];
  }, { files: { 'probe.sh': { content: PROBE, mode: 0o755 } } });
  const r = tsrun(['--root', root, 'run', '-d', '--bundle', bundle, id]);
  assert.equal(r.status, 0, r.stderr);
  const pid = JSON.parse(tsrun(['--root', root, 'state', id]).stdout).pid;
  // The probe must be scanning before the runtime does anything.
  for (let i = 0; i < 500 && !existsSync(join(bundle, 'rootfs/probe-ran')); i++) spawnSync('sleep', ['0.01']);
  assert.ok(existsSync(join(bundle, 'rootfs/probe-ran')), 'the probe never ran');
  return { id, bundle, pid };
}

function hits(bundle: string): string {
  const p = join(bundle, 'rootfs/hits');
  return existsSync(p) ? readFileSync(p, 'utf8') : '';
}

/**
 * A stand-in executor (TSRUN_EXECUTOR; tsrun gives the executor an empty environment): strace
 * attaches to it from the side before it becomes the real executor, so that tsrun still waits
 * for the executor alone, not for a tracer that lives as long as the container's init.
 */
function slowExecutor(dir: string): Record<string, string> {
  const path = join(dir, 'slow-executor');
  writeFileSync(path, `#!/bin/sh
(
  exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
  exec strace -f -qq -o /dev/null -e trace=prctl -e inject=prctl:delay_enter=300000:when=1 -p $$ </dev/null >/dev/null 2>&1
) &
while ! grep -q "TracerPid:[[:space:]]*[1-9]" /proc/$$/status; do :; done
exec ${REAL} "$@"
`);
  chmodSync(path, 0o755);
  return { TSRUN_EXECUTOR: path };
}

test('exec: no host fd, root or cwd reachable from the container through /proc/PID (CAP_SYS_PTRACE)', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const hostDir = f.remove(mkdtempSync('/tmp/tsrun-escape-'));
  writeFileSync(join(hostDir, 'marker'), 'host');
  const probe = startProbe(f, root, join(hostDir, 'marker'));
  for (let i = 0; i < 3; i++) {
    const r = tsrun(['--root', root, 'exec', probe.id, 'true'], { env: slowExecutor(hostDir) });
    assert.equal(r.status, 0, r.stderr);
  }
  for (let i = 0; i < 10; i++) {
    const r = tsrun(['--root', root, 'exec', probe.id, 'true']);
    assert.equal(r.status, 0, r.stderr);
  }
  assert.equal(hits(probe.bundle), '', 'the container reached the host');
});

test('create: a second container joining the pid namespace shows the first one nothing of the host', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const hostDir = f.remove(mkdtempSync('/tmp/tsrun-escape-'));
  writeFileSync(join(hostDir, 'marker'), 'host');
  const probe = startProbe(f, root, join(hostDir, 'marker'));
  const id = f.id('tsrun-ptrace-join');
  const bundle = f.bundle((c: any) => {
    c.linux.namespaces = c.linux.namespaces.map((ns: any) => ns.type === 'pid' ? { type: 'pid', path: `/proc/${probe.pid}/ns/pid` } : ns);
    c.process.args = ['sleep', '1'];
  });
  const r = tsrun(['--root', root, 'create', '--bundle', bundle, id], { env: slowExecutor(hostDir) });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(hits(probe.bundle), '', 'the first container reached the host through the second one');
});
