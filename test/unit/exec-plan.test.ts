import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture } from '../helpers/fixture.js';
import { compileExecPlan, execProcessFromFlags, namespacesToJoin, type ExecFlags, type Process } from '../../runtime/plan/exec-plan.js';
import { execProcessSpec } from '../../runtime/cli/exec.js';
import { parseFlags } from '../../runtime/cli/args.js';
import { exec } from '../../runtime/cli/exec.js';
import { encodePlan } from '../../runtime/plan/encode.js';
import { Tag, type PlanRecord } from '../../runtime/plan/records.js';
import { CLONE_NEW } from '../../runtime/plan/namespaces.js';
import { realHostView } from '../../runtime/host-view.js';

const base: Process = {
  terminal: false, cwd: '/', args: ['sleep', '1000'], env: ['PATH=/bin', 'TERM=xterm'],
  user: { uid: 0, gid: 0 },
  capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], inheritable: [], ambient: [] },
  rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }],
  noNewPrivileges: false,
};

const noFlags: ExecFlags = { args: ['ls'], env: [], additionalGids: [], caps: [], noNewPrivs: false, tty: false };

test('namespacesToJoin joins what differs from our own, user first and mount last', () => {
  const ids: Record<string, string> = {};
  for (const f of ['user', 'ipc', 'uts', 'net', 'pid', 'cgroup', 'time', 'mnt']) {
    ids[`/proc/self/ns/${f}`] = `host-${f}`;
    ids[`/proc/42/ns/${f}`] = ['user', 'net', 'time'].includes(f) ? `host-${f}` : `ctr-${f}`;
  }
  delete ids['/proc/42/ns/cgroup']; // a kernel without cgroup namespaces: skipped
  const joined = namespacesToJoin(42, (p) => ids[p]);
  assert.deepEqual(joined, [
    { type: 'ipc', path: '/proc/42/ns/ipc' }, { type: 'uts', path: '/proc/42/ns/uts' },
    { type: 'pid', path: '/proc/42/ns/pid' }, { type: 'mount', path: '/proc/42/ns/mnt' },
  ]);
  ids['/proc/42/ns/user'] = 'ctr-user';
  assert.equal(namespacesToJoin(42, (p) => ids[p])[0].type, 'user');
});

test('compileExecPlan: mode 1, joins, cgroups, then the process; no keyring, no rootfs', () => {
  const plan = compileExecPlan({
    host: realHostView, process: base, namespaces: [{ type: 'pid', path: '/proc/42/ns/pid' }, { type: 'mount', path: '/proc/42/ns/mnt' }],
    cgroupProcs: ['/sys/fs/cgroup/pids/c/cgroup.procs'], preserveFds: 2, foreground: true, home: '/root',
  });
  assert.deepEqual(plan[0], { tag: Tag.MODE, mode: 1, flags: 1 });
  assert.deepEqual(plan[1], { tag: Tag.NS_JOIN, flag: CLONE_NEW.pid, path: '/proc/42/ns/pid' });
  assert.deepEqual(plan[2], { tag: Tag.NS_JOIN, flag: CLONE_NEW.mount, path: '/proc/42/ns/mnt' });
  assert.deepEqual(plan[3], { tag: Tag.CGROUP_PROCS, path: '/sys/fs/cgroup/pids/c/cgroup.procs' });
  const tags = plan.map((r) => r.tag);
  for (const t of [Tag.ROOTFS, Tag.CHANGE_ROOT, Tag.EXEC_FIFO, Tag.SESSION_KEYRING, Tag.NS_CLONE]) assert.ok(!tags.includes(t));
  const env = plan.flatMap((r: PlanRecord) => (r.tag === Tag.ENV ? [r.value] : []));
  assert.deepEqual(env, ['PATH=/bin', 'TERM=xterm', 'HOME=/root']);
  assert.ok(plan.some((r) => r.tag === Tag.PRESERVE_FDS && r.count === 2));
  assert.ok(plan.some((r) => r.tag === Tag.RLIMIT));
  const detached = compileExecPlan({ host: realHostView, process: base, namespaces: [], cgroupProcs: [], preserveFds: 0, foreground: false, home: '/' });
  assert.deepEqual(detached[0], { tag: Tag.MODE, mode: 1, flags: 0 });
  assert.ok(encodePlan(plan).length > 16);
  // The container's profile is compiled into the exec's plan too (runc filters exec'd processes).
  const filtered = compileExecPlan({ host: realHostView, process: base, namespaces: [], cgroupProcs: [], preserveFds: 0, foreground: false, home: '/', seccomp: { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW' }] } });
  const last = filtered[filtered.length - 1];
  assert.equal(last.tag, Tag.SECCOMP);
  assert.ok(last.tag === Tag.SECCOMP && last.program.length > 0 && last.program.length % 8 === 0);
  assert.ok(!filtered.some((r) => r.tag === Tag.SECCOMP_LISTENER), 'no listener without a notifying rule');
});

test('execProcessFromFlags follows runc 1.1', () => {
  const p = execProcessFromFlags(base, { ...noFlags, args: ['id'], env: ['A=1'], cwd: '/tmp', user: '5:6', additionalGids: ['7'], noNewPrivs: true, apparmor: 'prof' });
  assert.deepEqual(p.args, ['id']);
  assert.deepEqual(p.env, ['PATH=/bin', 'TERM=xterm', 'A=1']);
  assert.equal(p.cwd, '/tmp');
  assert.deepEqual(p.user, { uid: 5, gid: 6, additionalGids: [7] });
  assert.equal(p.noNewPrivileges, true);
  assert.equal(p.apparmorProfile, 'prof');
  assert.deepEqual(p.rlimits, base.rlimits);
  assert.deepEqual(base.env, ['PATH=/bin', 'TERM=xterm'], 'the container\'s process is not changed');
  // -u UID keeps the container's gid
  assert.deepEqual(execProcessFromFlags({ ...base, user: { uid: 1, gid: 9 } }, { ...noFlags, user: '1000' }).user, { uid: 1000, gid: 9 });
});

test('execProcessFromFlags: -c adds to bounding/effective/permitted, unknown names are dropped with a warning', () => {
  const warnings: string[] = [];
  const p = execProcessFromFlags(base, { ...noFlags, caps: ['CAP_SYS_ADMIN', 'CAP_BOGUS'] }, (w) => warnings.push(w));
  assert.deepEqual(p.capabilities, {
    bounding: ['CAP_KILL', 'CAP_SYS_ADMIN'], effective: ['CAP_KILL', 'CAP_SYS_ADMIN'], permitted: ['CAP_KILL', 'CAP_SYS_ADMIN'],
    inheritable: [], ambient: [],
  });
  assert.deepEqual(warnings, ['ignoring unknown or unavailable capabilities: [CAP_BOGUS]']);
});

test('execProcessFromFlags refuses what runc refuses', () => {
  assert.throws(() => execProcessFromFlags(base, { ...noFlags, args: [] }), /process args cannot be empty/);
  assert.throws(() => execProcessFromFlags(base, { ...noFlags, cwd: 'rel' }), /Cwd must be an absolute path/);
  assert.throws(() => execProcessFromFlags(base, { ...noFlags, user: 'abc' }), /parsing abc as int for uid failed: strconv.Atoi: parsing "abc": invalid syntax/);
  assert.throws(() => execProcessFromFlags(base, { ...noFlags, user: '1:x' }), /parsing x as int for gid failed/);
  assert.equal(execProcessFromFlags(base, { ...noFlags, tty: true }).terminal, true);
});

test('exec flags parse like runc\'s, and --process wins over them', (t) => {
  const f = fixture(t);
  const { flags, rest } = parseFlags(['-t', '--console-socket', '/s', '-d', '--pid-file', 'p', '-e', 'A=1', '-e', 'B=2', '-u', '1:2', '-c', 'CAP_KILL',
    '--additional-gids', '3', '--no-new-privs', '--apparmor', 'x', '--process-label', 'l', '--preserve-fds', '1', '--ignore-paused', '--cwd', '/w', 'ctr', 'ls', '-l'], exec.flags, 'exec');
  assert.deepEqual(rest, ['ctr', 'ls', '-l']);
  assert.deepEqual(flags.env, ['A=1', 'B=2']);
  assert.equal(flags['preserve-fds'], 1);
  assert.equal(flags.tty, true);
  const p = execProcessSpec(flags, rest.slice(1), () => base);
  assert.deepEqual(p.args, ['ls', '-l']);
  assert.equal(p.terminal, true);

  const dir = f.dir('tsrun-exec-unit-');
  const file = join(dir, 'p.json');
  writeFileSync(file, JSON.stringify({ args: ['echo'], cwd: '/', env: ['X=1'] }));
  const fromFile = execProcessSpec({ ...flags, process: file }, ['ignored'], () => base);
  assert.deepEqual(fromFile.args, ['echo']);
  assert.deepEqual(fromFile.env, ['X=1']);
  assert.ok(!fromFile.terminal);
  assert.throws(() => execProcessSpec({ process: join(dir, 'missing.json') }, [], () => base), /open .*missing.json: no such file or directory/);
});
