import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync, writeFileSync, mkdirSync, symlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot, tsrun, assertNothingLeft, cgroupDirsNamed, runContainer } from '../helpers/harness.js';
import { fixture } from '../helpers/fixture.js';

const skip = needsRoot;

/** Runs a shell script in a fresh container and returns its output. */
function runScript(script: string, edit?: (c: any) => void, extraArgs: string[] = []) {
  return runContainer((c) => { c.process.args = ['sh', '-c', script]; edit?.(c); }, { args: extraArgs });
}

const value = (out: string, key: string) => out.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1);

test('every namespace, read-only root, masked paths, dropped capabilities, rlimits, identity', { skip }, () => {
  const script = [
    'echo pid=$$', 'echo hostname=$(hostname)', 'echo domain=$(cat /proc/sys/kernel/domainname)',
    'echo capeff=$(grep CapEff /proc/self/status | cut -f2)', 'echo capbnd=$(grep CapBnd /proc/self/status | cut -f2)',
    'echo nnp=$(grep NoNewPrivs /proc/self/status | cut -f2)', 'echo nofile=$(ulimit -n)',
    'echo uid=$(id -u) gid=$(id -g) groups=$(id -G)', 'echo home=$HOME', 'echo cwd=$(pwd)',
    'if touch /rootfs-write 2>/dev/null; then echo rootfs=rw; else echo rootfs=ro; fi',
    'echo kcore=$(wc -c < /proc/timer_list)', 'echo sysrq=$(wc -c < /proc/keys)', 'echo fw=$(ls /sys/firmware | wc -l)',
    'if echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null; then echo procsys=rw; else echo procsys=ro; fi',
    'echo mnt=$(readlink /proc/self/ns/mnt) net=$(readlink /proc/self/ns/net) ipc=$(readlink /proc/self/ns/ipc) uts=$(readlink /proc/self/ns/uts) cgroup=$(readlink /proc/self/ns/cgroup) time=$(readlink /proc/self/ns/time)',
    'echo ifaces=$(ls /sys/class/net | tr "\\n" " ")', 'echo devnull=$(ls -l /dev/null | cut -c1)', 'echo ptmx=$(readlink /dev/ptmx)',
    'echo umask=$(umask)', 'echo shm=$(grep " /dev/shm " /proc/self/mounts | cut -d" " -f3)',
  ].join('; ');
  const r = runScript(script, (c) => {
    c.hostname = 'tsrun-box';
    c.domainname = 'example.test';
    for (const t of ['cgroup', 'time']) c.linux.namespaces.push({ type: t });
    c.process.user = { uid: 1000, gid: 1000, additionalGids: [2000, 3000], umask: 0o027 };
    c.process.cwd = '/tmp';
    c.process.capabilities = { bounding: ['CAP_KILL', 'CAP_CHOWN'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], inheritable: ['CAP_KILL'], ambient: ['CAP_KILL'] };
    c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 321, hard: 654 }];
    c.process.noNewPrivileges = true;
    c.linux.maskedPaths = ['/proc/kcore', '/proc/timer_list', '/proc/keys', '/proc/sysrq-trigger', '/sys/firmware'];
    c.linux.readonlyPaths = ['/proc/sys'];
    c.root.readonly = true;
  });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  assert.equal(value(out, 'pid'), '1');
  assert.equal(value(out, 'hostname'), 'tsrun-box');
  assert.equal(value(out, 'domain'), 'example.test');
  assert.equal(value(out, 'capeff'), (1n << 5n).toString(16).padStart(16, '0'));
  assert.equal(value(out, 'capbnd'), ((1n << 5n) | (1n << 0n)).toString(16).padStart(16, '0'));
  assert.equal(value(out, 'nnp'), '1');
  assert.equal(value(out, 'nofile'), '321');
  assert.match(out, /uid=1000 gid=1000 groups=1000 2000 3000/);
  assert.equal(value(out, 'home'), '/');
  assert.equal(value(out, 'cwd'), '/tmp');
  assert.equal(value(out, 'rootfs'), 'ro');
  assert.equal(value(out, 'kcore'), '0');
  assert.equal(value(out, 'sysrq'), '0');
  assert.equal(value(out, 'fw'), '0');
  assert.equal(value(out, 'procsys'), 'ro');
  const host = (ns: string) => readlinkSync(`/proc/self/ns/${ns}`);
  const nsLine = value(out, 'mnt')!;
  for (const ns of ['mnt', 'net', 'ipc', 'uts', 'cgroup', 'time']) {
    const inside = new RegExp(`${ns === 'mnt' ? '^' : ` ${ns}=`}(\\S+)`).exec(ns === 'mnt' ? nsLine : out)?.[1];
    assert.ok(inside, `${ns} namespace seen`);
    assert.notEqual(inside, host(ns), `${ns} namespace is new`);
  }
  assert.equal(value(out, 'ifaces')?.trim(), 'lo');
  assert.equal(value(out, 'devnull'), 'c');
  assert.equal(value(out, 'ptmx'), 'pts/ptmx');
  assert.equal(value(out, 'umask'), '0027');
  assert.equal(value(out, 'shm'), 'tmpfs');
});

test('memory, pids and cpu limits land in the container cgroup and it is removed on delete', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const bundle = f.bundle((c) => {
    c.process.args = ['sleep', '1000'];
    c.linux.resources = { memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 42 }, cpu: { shares: 512, quota: 50000, period: 100000 } };
  });
  const id = f.id();
  assert.equal(tsrun(['--root', root, 'create', '--bundle', bundle, id]).status, 0);
  assert.equal(tsrun(['--root', root, 'start', id]).status, 0);
  const pid = JSON.parse(tsrun(['--root', root, 'state', id]).stdout).pid;
  const dirs = cgroupDirsNamed(id);
  const memory = dirs.find((d) => d.includes('/memory/'));
  assert.ok(memory, `memory cgroup among ${dirs}`);
  assert.equal(readFileSync(join(memory!, 'memory.limit_in_bytes'), 'utf8').trim(), String(64 * 1024 * 1024));
  assert.ok(readFileSync(join(memory!, 'cgroup.procs'), 'utf8').split('\n').includes(String(pid)));
  const pids = dirs.find((d) => d.includes('/pids/'))!;
  assert.equal(readFileSync(join(pids, 'pids.max'), 'utf8').trim(), '42');
  const cpu = dirs.find((d) => d.includes('/cpu/'))!;
  assert.equal(readFileSync(join(cpu, 'cpu.shares'), 'utf8').trim(), '512');
  assert.equal(readFileSync(join(cpu, 'cpu.cfs_quota_us'), 'utf8').trim(), '50000');
  const ps = tsrun(['--root', root, 'ps', '--format', 'json', id]);
  assert.deepEqual(JSON.parse(ps.stdout), [pid]);
  assert.equal(tsrun(['--root', root, 'delete', '--force', id]).status, 0);
  assertNothingLeft(root, id, bundle);
});

test('user namespace with id mappings', { skip }, () => {
  const r = runScript('cat /proc/self/uid_map; cat /proc/self/gid_map; id -u', (c) => {
    c.linux.namespaces.push({ type: 'user' });
    c.linux.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    c.linux.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    c.root.readonly = false;
  });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
  assert.deepEqual(lines, ['0 200000 65536', '0 200000 65536', '0']);
});

test('--no-pivot runs the container with move and chroot', { skip }, () => {
  const r = runScript('cat /proc/self/mountinfo | head -1; echo ok', undefined, ['--no-pivot']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /ok\n$/);
});

test('mount targets are resolved inside the rootfs, symlinks cannot point them at the host', { skip }, (t) => {
  const f = fixture(t);
  const root = f.root;
  const id = f.id();
  const marker = f.remove(`/tmp/tsrun-escape-${process.pid}`);
  mkdirSync(marker, { recursive: true });
  const bundle = f.bundle((c) => {
    c.process.args = ['sh', '-c', 'ls /escape/ && echo inside > /escape/proof'];
    c.root.readonly = false;
    c.mounts.push({ destination: '/escape', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] });
  });
  // A symlink in the image that points at a host directory: the mount must land in the rootfs.
  symlinkSync(marker, join(bundle, 'rootfs', 'escape'));
  const r = tsrun(['--root', root, 'run', '--bundle', bundle, id]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(existsSync(join(marker, 'proof')), false, 'nothing was written to the host path');
  assertNothingLeft(root, id, bundle);
});

test('the container gets stdio and nothing else: no host fd leaks in', { skip }, () => {
  const r = runScript('ls /proc/self/fd | sort -n | tr "\\n" " "');
  assert.equal(r.status, 0, r.stderr);
  // 0-2 and the fd ls itself opens for the directory
  assert.equal(r.stdout.trim(), '0 1 2 3');
});

test('sysctl is written inside the container namespaces', { skip }, () => {
  const r = runScript('cat /proc/sys/net/ipv4/ip_forward; cat /proc/sys/kernel/shmmni', (c) => {
    c.linux.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmni': '1234' };
    c.linux.readonlyPaths = [];
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['1', '1234']);
  assert.notEqual(readFileSync('/proc/sys/kernel/shmmni', 'utf8').trim(), '1234');
});
void writeFileSync;
