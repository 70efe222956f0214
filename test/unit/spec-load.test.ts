// config.json loading: valid configs from runc, Docker and containerd pass; JSON syntax errors and
// schema errors give one line naming the position or the JSON path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsrunError } from '../../runtime/errors.js';
import { defaultSpec } from '../../runtime/spec/default-config.js';
import { findJsonSyntaxError, loadBundleSpec, parseProcess, parseResources, parseSpec } from '../../runtime/spec/load.js';

const tmp = mkdtempSync(join(tmpdir(), 'tsrun-spec-load-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
let bundles = 0;

/** A bundle directory with a rootfs/ and the given config.json (an object, or raw text). */
function bundle(config: unknown, opts: { rootfs?: boolean } = {}): string {
  const dir = join(tmp, `b${bundles++}`);
  mkdirSync(dir);
  if (opts.rootfs ?? true) mkdirSync(join(dir, 'rootfs'));
  if (config !== undefined) writeFileSync(join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config, null, '\t'));
  return dir;
}

/** Asserts that fn throws a TsrunError with exit code 1 and exactly this message. */
function throwsMessage(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TsrunError, `expected TsrunError, got ${String(err)}`);
    assert.equal(err.exitCode, 1);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

const dockerCaps = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** x86_64 syscall names, about as many as Docker's default seccomp profile allows. */
const SYSCALLS = `read write open close stat fstat lstat poll lseek mmap mprotect munmap brk rt_sigaction rt_sigprocmask
  rt_sigreturn ioctl pread64 pwrite64 readv writev access pipe select sched_yield mremap msync mincore madvise
  shmget shmat shmctl dup dup2 pause nanosleep getitimer alarm setitimer getpid sendfile socket connect accept
  sendto recvfrom sendmsg recvmsg shutdown bind listen getsockname getpeername socketpair setsockopt getsockopt
  fork vfork execve exit wait4 kill uname semget semop semctl shmdt msgget msgsnd msgrcv msgctl fcntl flock
  fsync fdatasync truncate ftruncate getdents getcwd chdir fchdir rename mkdir rmdir creat link unlink symlink
  readlink chmod fchmod chown fchown lchown umask gettimeofday getrlimit getrusage sysinfo times getuid getgid
  setuid setgid geteuid getegid setpgid getppid getpgrp setsid setreuid setregid getgroups setgroups setresuid
  getresuid setresgid getresgid getpgid setfsuid setfsgid getsid capget capset rt_sigpending rt_sigtimedwait
  rt_sigqueueinfo rt_sigsuspend sigaltstack utime mknod statfs fstatfs getpriority setpriority sched_setparam
  sched_getparam sched_setscheduler sched_getscheduler sched_get_priority_max sched_get_priority_min
  sched_rr_get_interval mlock munlock mlockall munlockall prctl setrlimit chroot sync gettid readahead setxattr
  lsetxattr fsetxattr getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr
  fremovexattr tkill time futex sched_setaffinity sched_getaffinity set_thread_area io_setup io_destroy
  io_getevents io_submit io_cancel get_thread_area epoll_create remap_file_pages getdents64 set_tid_address
  restart_syscall semtimedop fadvise64 timer_create timer_settime timer_gettime timer_getoverrun timer_delete
  clock_gettime clock_getres clock_nanosleep exit_group epoll_wait epoll_ctl tgkill utimes mq_open mq_unlink
  mq_timedsend mq_timedreceive mq_notify mq_getsetattr waitid ioprio_set ioprio_get inotify_init
  inotify_add_watch inotify_rm_watch migrate_pages openat mkdirat mknodat fchownat futimesat newfstatat unlinkat
  renameat linkat symlinkat readlinkat fchmodat faccessat pselect6 ppoll set_robust_list get_robust_list splice
  tee sync_file_range vmsplice utimensat epoll_pwait signalfd timerfd_create eventfd fallocate timerfd_settime
  timerfd_gettime accept4 signalfd4 eventfd2 epoll_create1 dup3 pipe2 inotify_init1 preadv pwritev
  rt_tgsigqueueinfo recvmmsg prlimit64 syncfs sendmmsg getcpu sched_setattr sched_getattr renameat2 seccomp
  getrandom memfd_create execveat membarrier mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc
  pkey_free statx io_pgetevents rseq pidfd_send_signal io_uring_setup io_uring_enter io_uring_register
  pidfd_open close_range openat2 pidfd_getfd faccessat2 process_madvise epoll_pwait2 landlock_create_ruleset
  landlock_add_rule landlock_restrict_self memfd_secret process_mrelease`.split(/\s+/);

/** What `docker run --ulimit memlock=-1 --memory 512m ... busybox` hands runc (Docker 24), as JSON text. */
function dockerConfigText(rootfs: string): string {
  const id = '4f6d9bd2e1b3c2a1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7';
  const dir = `/var/lib/docker/containers/${id}`;
  const bind = (destination: string, source: string) => ({ destination, type: 'bind', source, options: ['rbind', 'rprivate'] });
  const dev = (type: string, major: number, minor: number | undefined, allow = true) =>
    minor === undefined ? { allow, type, major, access: 'rwm' } : { allow, type, major, minor, access: 'rwm' };
  const personality = (value: number) => ({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] });
  const config = {
    ociVersion: '1.0.2-dev',
    process: {
      user: { uid: 0, gid: 0, additionalGids: [0, 1, 2, 3, 4, 6, 10, 11, 20, 26, 27] },
      args: ['sh', '-c', 'echo hello'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=4f6d9bd2e1b3'],
      cwd: '/',
      capabilities: { bounding: dockerCaps, effective: dockerCaps, permitted: dockerCaps },
      rlimits: [
        { type: 'RLIMIT_NOFILE', hard: 1048576, soft: 1048576 },
        { type: 'RLIMIT_MEMLOCK', hard: 'UINT64_MAX', soft: 'UINT64_MAX' },
      ],
      apparmorProfile: 'docker-default',
      oomScoreAdj: 0,
    },
    root: { path: rootfs },
    hostname: '4f6d9bd2e1b3',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      bind('/dev/shm', `${dir}/mounts/shm`),
      bind('/etc/resolv.conf', `${dir}/resolv.conf`),
      bind('/etc/hostname', `${dir}/hostname`),
      bind('/etc/hosts', `${dir}/hosts`),
    ],
    hooks: {
      prestart: [{ path: '/proc/4242/exe', args: ['libnetwork-setkey', '-exec-root=/var/run/docker', id.slice(0, 12), 'f00dcafe1234'] }],
    },
    linux: {
      sysctl: { 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647' },
      resources: {
        devices: [
          { allow: false, access: 'rwm' },
          dev('c', 1, 5), dev('c', 1, 3), dev('c', 1, 9), dev('c', 1, 8), dev('c', 5, 0), dev('c', 5, 1),
          dev('c', 10, 229, false), dev('c', 136, undefined), dev('c', 5, 2), dev('c', 10, 200),
        ],
        memory: { limit: 536870912, swap: 1073741824, disableOOMKiller: false },
        cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0-1', mems: '0' },
        pids: { limit: 100 },
        blockIO: { weight: 500, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }] },
        hugepageLimits: [{ pageSize: '2MB', limit: 0 }],
      },
      cgroupsPath: `system.slice:docker:${id}`,
      namespaces: [{ type: 'mount' }, { type: 'network' }, { type: 'uts' }, { type: 'pid' }, { type: 'ipc' }, { type: 'cgroup' }],
      devices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 438, uid: 0, gid: 0 }],
      seccomp: {
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 1,
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
        syscalls: [
          { names: SYSCALLS, action: 'SCMP_ACT_ALLOW' },
          personality(0), personality(8), personality(131072), personality(131080), personality(4294967295),
          { names: ['arch_prctl', 'modify_ldt'], action: 'SCMP_ACT_ALLOW' },
          { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
          { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
        ],
      },
      rootfsPropagation: 'rslave',
      maskedPaths: [
        '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  // Go writes uint64 max as the exact integer, which a JS number cannot hold.
  return JSON.stringify(config).replace(/"UINT64_MAX"/g, '18446744073709551615');
}

/** What `ctr run docker.io/library/busybox:latest c1` hands runc (containerd 1.7 defaults). */
function containerdConfig(): Record<string, unknown> {
  const caps = [
    'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
    'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
  ];
  return {
    ociVersion: '1.1.0',
    process: {
      user: { uid: 0, gid: 0, additionalGids: [10] },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs' },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      cgroupsPath: '/default/c1',
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }],
      maskedPaths: [
        '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi', '/sys/devices/virtual/powercap',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

function runcSpec(): any {
  const spec: any = defaultSpec({ rootless: false });
  spec.process.terminal = false;
  return spec;
}

// ---------------------------------------------------------------- valid configs

test('runc spec output loads; bundle and rootfs come back absolute', () => {
  const dir = bundle(runcSpec());
  const r = loadBundleSpec(dir);
  assert.equal(r.bundle, dir);
  assert.equal(r.rootfs, join(dir, 'rootfs'));
  assert.deepEqual(r.warnings, []);
  assert.deepEqual(r.spec, runcSpec());
});

test('runc spec --rootless output loads', () => {
  const spec: any = defaultSpec({ rootless: true });
  const r = loadBundleSpec(bundle(spec));
  assert.deepEqual(r.spec, spec);
});

test('a relative bundle path is made absolute', () => {
  const dir = bundle(runcSpec());
  const cwd = process.cwd();
  process.chdir(tmp);
  try {
    const r = loadBundleSpec(dir.slice(tmp.length + 1));
    assert.equal(r.bundle, dir);
    assert.equal(r.rootfs, join(dir, 'rootfs'));
  } finally {
    process.chdir(cwd);
  }
});

test('a Docker config (hooks, seccomp, devices, sysctl, resources, uint64 max rlimit) loads', () => {
  const dir = bundle(undefined);
  const text = dockerConfigText(join(dir, 'rootfs'));
  writeFileSync(join(dir, 'config.json'), text);
  const r = loadBundleSpec(dir);
  assert.deepEqual(r.warnings, []);
  assert.equal(r.spec.linux?.seccomp?.syscalls?.[0].names.length, SYSCALLS.length);
  assert.equal(r.spec.process?.rlimits?.[1].hard, 2 ** 64); // 18446744073709551615 as a double
  assert.equal(r.spec.hooks?.prestart?.[0].path, '/proc/4242/exe');
  assert.deepEqual(r.spec, JSON.parse(text));
});

test('a containerd (ctr) config loads', () => {
  const r = loadBundleSpec(bundle(containerdConfig()));
  assert.deepEqual(r.spec, containerdConfig());
});

test('unknown properties are accepted everywhere (spec extensibility, as runc)', () => {
  const spec = runcSpec();
  spec.someFutureField = { a: 1 };
  spec.process.bogus = [1, 2];
  spec.process.user.extra = 'x';
  spec.linux.netDevices = { eth0: { name: 'eth1' } };
  spec.linux.memoryPolicy = { mode: 'MPOL_INTERLEAVE', nodes: '0-1' };
  spec.linux.resources.devices[0].weird = true;
  spec.mounts[0].future = null;
  spec.windows = { layerFolders: ['C:\\x'] };
  assert.doesNotThrow(() => loadBundleSpec(bundle(spec)));
});

test('null properties are treated as absent, like Go does', () => {
  const spec = runcSpec();
  spec.hooks = null;
  spec.annotations = null;
  spec.linux.seccomp = null;
  spec.linux.resources = { devices: null, memory: { limit: null } };
  spec.process.capabilities.ambient = null;
  const r = loadBundleSpec(bundle(spec));
  assert.equal('hooks' in r.spec, false);
  assert.equal('seccomp' in r.spec.linux!, false);
  assert.deepEqual(r.spec.linux?.resources, { memory: {} });
  assert.equal('ambient' in r.spec.process!.capabilities!, false);
});

test('a UTF-8 byte order mark is tolerated', () => {
  assert.doesNotThrow(() => loadBundleSpec(bundle('\ufeff' + JSON.stringify(runcSpec()))));
});

// ---------------------------------------------------------------- file errors (runc's messages)

test('missing config.json: runc\'s message', () => {
  throwsMessage(() => loadBundleSpec(bundle(undefined)), 'JSON specification file config.json not found');
});

test('config.json that is a directory: runc\'s read error', () => {
  const dir = bundle(undefined);
  mkdirSync(join(dir, 'config.json'));
  throwsMessage(() => loadBundleSpec(dir), 'read config.json: is a directory');
});

test('missing or non-directory bundle: chdir error naming the given path', () => {
  throwsMessage(() => loadBundleSpec(join(tmp, 'nope')), `chdir ${join(tmp, 'nope')}: no such file or directory`);
  const file = join(tmp, 'a-file');
  writeFileSync(file, '');
  throwsMessage(() => loadBundleSpec(file), `chdir ${file}: not a directory`);
});

// ---------------------------------------------------------------- JSON syntax errors

test('JSON syntax errors name line and column', () => {
  throwsMessage(() => loadBundleSpec(bundle('{\n\t"ociVersion": "1.0.2",\n\t"process": {,}\n}')),
    `config.json: invalid JSON at line 3, column 14: expected a property name in double quotes, found ','`);
  throwsMessage(() => loadBundleSpec(bundle('{"ociVersion": "1.0.2",}')),
    `config.json: invalid JSON at line 1, column 24: expected a property name in double quotes, found '}'`);
  throwsMessage(() => loadBundleSpec(bundle('{"ociVersion": "1.0.2"')),
    'config.json: invalid JSON at line 1, column 23: unexpected end of input');
  throwsMessage(() => loadBundleSpec(bundle('')), 'config.json: invalid JSON at line 1, column 1: unexpected end of input');
  throwsMessage(() => loadBundleSpec(bundle('{"a": 1} x')),
    `config.json: invalid JSON at line 1, column 10: unexpected 'x' after the end of the JSON value`);
  throwsMessage(() => loadBundleSpec(bundle("{'a': 1}")),
    `config.json: invalid JSON at line 1, column 2: expected a property name in double quotes, found '''`);
  throwsMessage(() => loadBundleSpec(bundle('{"a": [1 2]}')),
    `config.json: invalid JSON at line 1, column 10: expected ',' or ']' after an array element, found '2'`);
  throwsMessage(() => loadBundleSpec(bundle('{"a": "x\ty"}')),
    'config.json: invalid JSON at line 1, column 9: control character in string (escape it)');
  throwsMessage(() => loadBundleSpec(bundle('{"a": tru}')),
    `config.json: invalid JSON at line 1, column 7: unexpected 't' where a value was expected`);
});

test('the syntax scanner agrees with JSON.parse', () => {
  const good = ['{}', '[]', '0', '-1.5e+10', '"\\u00e9\\n"', '{"a":[true,false,null,{"b":"c"}]}', ' \n{ "a" : 1 }\n'];
  for (const text of good) assert.equal(findJsonSyntaxError(text), null, text);
  const bad = ['{', '[1,]', '01', '1.', '"\\x"', '{"a" 1}', 'nul', '"abc', '{"a":1}}', '-'];
  for (const text of bad) {
    assert.throws(() => JSON.parse(text));
    assert.notEqual(findJsonSyntaxError(text), null, text);
  }
});

// ---------------------------------------------------------------- schema errors

/** Loads the runc spec after `edit`, expecting this error. */
function rejects(edit: (spec: any) => void, message: string | RegExp): void {
  const spec = runcSpec();
  edit(spec);
  throwsMessage(() => loadBundleSpec(bundle(spec)), message);
}

test('schema: wrong types name the JSON path and what was expected', () => {
  rejects((s) => { s.process.args = ['sh', 1]; }, 'config.json: /process/args/1: must be a string, got number 1');
  rejects((s) => { s.process.terminal = 'yes'; }, 'config.json: /process/terminal: must be a boolean (true or false), got string "yes"');
  rejects((s) => { s.mounts = {}; }, 'config.json: /mounts: must be an array, got an object');
  rejects((s) => { s.linux = []; }, 'config.json: /linux: must be an object, got an array');
  rejects((s) => { s.process.args = ['sh', null]; }, 'config.json: /process/args/1: must be a string, got null');
  rejects((s) => { s.annotations = { 'com.example': 1 }; }, 'config.json: /annotations/com.example: must be a string, got number 1');
  rejects((s) => { s.linux.sysctl = { 'net.ipv4.ip_forward': 1 }; }, 'config.json: /linux/sysctl/net.ipv4.ip_forward: must be a string, got number 1');
  throwsMessage(() => loadBundleSpec(bundle('[]')), 'config.json: must be an object, got an array');
});

test('schema: integer ranges are the Go types\'', () => {
  rejects((s) => { s.process.user.uid = -1; },
    'config.json: /process/user/uid: must be an unsigned 32-bit integer (0 to 4294967295), got number -1');
  rejects((s) => { s.process.user.gid = 1.5; },
    'config.json: /process/user/gid: must be an unsigned 32-bit integer (0 to 4294967295), got number 1.5');
  rejects((s) => { s.process.user.additionalGids = [4294967296]; },
    'config.json: /process/user/additionalGids/0: must be an unsigned 32-bit integer (0 to 4294967295), got number 4294967296');
  rejects((s) => { s.process.rlimits[0].hard = -1; },
    'config.json: /process/rlimits/0/hard: must be an unsigned 64-bit integer (0 to 18446744073709551615), got number -1');
  rejects((s) => { s.process.oomScoreAdj = 5000; }, 'config.json: /process/oomScoreAdj: must be an integer from -1000 to 1000, got number 5000');
  rejects((s) => { s.linux.resources.memory = { limit: '1g' }; },
    'config.json: /linux/resources/memory/limit: must be a signed 64-bit integer (-9223372036854775808 to 9223372036854775807), got string "1g"');
  rejects((s) => { s.linux.resources.blockIO = { weight: 70000 }; },
    'config.json: /linux/resources/blockIO/weight: must be an unsigned 16-bit integer (0 to 65535), got number 70000');
  rejects((s) => { s.hooks = { poststop: [{ path: '/bin/true', timeout: 0 }] }; },
    'config.json: /hooks/poststop/0/timeout: must be an integer greater than 0, got number 0');
  rejects((s) => { s.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: -1 }]; },
    'config.json: /linux/uidMappings/0/size: must be an unsigned 32-bit integer (0 to 4294967295), got number -1');
  rejects((s) => { s.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 8 }; },
    'config.json: /process/ioPriority/priority: must be an integer from 0 (highest priority) to 7 (lowest), got number 8');
});

test('schema: enums list the allowed values', () => {
  rejects((s) => { s.linux.namespaces.push({ type: 'foo' }); },
    'config.json: /linux/namespaces/5/type: must be one of "pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"; got string "foo"');
  rejects((s) => { s.linux.rootfsPropagation = 'bogus'; },
    'config.json: /linux/rootfsPropagation: must be one of "", "shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable"; got string "bogus"');
  rejects((s) => { s.linux.devices = [{ path: '/dev/x', type: 'x', major: 1, minor: 1 }]; },
    'config.json: /linux/devices/0/type: must be one of "c", "b", "u", "p"; got string "x"');
  rejects((s) => { s.linux.resources.devices.push({ allow: true, type: 'x' }); },
    'config.json: /linux/resources/devices/1/type: must be one of "a", "c", "b"; got string "x"');
  rejects((s) => { s.linux.seccomp = { defaultAction: 'SCMP_ACT_BOGUS' }; },
    'config.json: /linux/seccomp/defaultAction: must be one of "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"; got string "SCMP_ACT_BOGUS"');
  rejects((s) => { s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_Z80'] }; },
    /^config\.json: \/linux\/seccomp\/architectures\/0: must be one of "SCMP_ARCH_X86", .*"SCMP_ARCH_SHEB"; got string "SCMP_ARCH_Z80"$/);
  rejects((s) => {
    s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_BOGUS' }] }] };
  }, 'config.json: /linux/seccomp/syscalls/0/args/0/op: must be one of "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"; got string "SCMP_CMP_BOGUS"');
  rejects((s) => { s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_BOGUS'] }; },
    'config.json: /linux/seccomp/flags/0: must be one of "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"; got string "SECCOMP_FILTER_FLAG_BOGUS"');
  rejects((s) => { s.linux.personality = { domain: 'BOGUS' }; },
    'config.json: /linux/personality/domain: must be one of "LINUX", "LINUX32"; got string "BOGUS"');
  rejects((s) => { s.process.scheduler = { policy: 'SCHED_FAST' }; },
    'config.json: /process/scheduler/policy: must be one of "SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO", "SCHED_IDLE", "SCHED_DEADLINE"; got string "SCHED_FAST"');
});

test('schema: required properties', () => {
  rejects((s) => { delete s.ociVersion; }, 'config.json: missing required property "ociVersion"');
  rejects((s) => { delete s.process.cwd; }, 'config.json: /process: missing required property "cwd"');
  rejects((s) => { delete s.root.path; }, 'config.json: /root: missing required property "path"');
  rejects((s) => { s.mounts.push({ type: 'tmpfs' }); }, 'config.json: /mounts/7: missing required property "destination"');
  rejects((s) => { s.process.rlimits = [{ type: 'RLIMIT_CORE', hard: 1 }]; }, 'config.json: /process/rlimits/0: missing required property "soft"');
  rejects((s) => { s.linux.devices = [{ path: '/dev/null', type: 'c', major: 1 }]; }, 'config.json: /linux/devices/0: missing required property "minor"');
  rejects((s) => { s.linux.resources.pids = {}; }, 'config.json: /linux/resources/pids: missing required property "limit"');
  rejects((s) => { s.linux.seccomp = { syscalls: [] }; }, 'config.json: /linux/seccomp: missing required property "defaultAction"');
  rejects((s) => { s.hooks = { createRuntime: [{ args: ['x'] }] }; }, 'config.json: /hooks/createRuntime/0: missing required property "path"');
  rejects((s) => { s.process.user = { uid: 0 }; }, 'config.json: /process/user: missing required property "gid"');
});

test('schema: a FIFO device needs no major/minor', () => {
  const spec = runcSpec();
  spec.linux.devices = [{ path: '/dev/fifo', type: 'p' }];
  assert.doesNotThrow(() => loadBundleSpec(bundle(spec)));
});

test('schema: patterns and non-empty values explain the expected form', () => {
  rejects((s) => { s.ociVersion = '1.0'; }, 'config.json: /ociVersion: must be a SemVer 2.0.0 version such as "1.0.2-dev", got string "1.0"');
  rejects((s) => { s.linux.resources.devices[0].access = 'r-w'; },
    'config.json: /linux/resources/devices/0/access: must be letters, a combination of "r", "w" and "m" such as "rwm", got string "r-w"');
  rejects((s) => { s.linux.resources.devices[0].access = ''; },
    'config.json: /linux/resources/devices/0/access: must be letters, a combination of "r", "w" and "m" such as "rwm", got string ""');
  rejects((s) => { s.linux.resources.hugepageLimits = [{ pageSize: '2M', limit: 1 }]; },
    'config.json: /linux/resources/hugepageLimits/0/pageSize: must be a page size such as "64KB", "2MB" or "1GB", got string "2M"');
  rejects((s) => { s.linux.resources.cpu = { cpus: '0-3,' }; },
    'config.json: /linux/resources/cpu/cpus: must be a list of CPUs or nodes such as "0-3,7", got string "0-3,"');
  rejects((s) => { s.process.execCPUAffinity = { initial: 'x' }; },
    'config.json: /process/execCPUAffinity/initial: must be a list of CPUs or nodes such as "0-3,7", got string "x"');
  rejects((s) => { s.linux.intelRdt = { memBwSchema: 'L3:0=7f' }; },
    'config.json: /linux/intelRdt/memBwSchema: must be a single line starting with "MB:", got string "L3:0=7f"');
  rejects((s) => { s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ERRNO' }] }; },
    'config.json: /linux/seccomp/syscalls/0/names: must not be empty');
  rejects((s) => {
    s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] };
  }, 'config.json: /linux/seccomp/syscalls/0/args/0/index: must be a syscall argument index from 0 to 5, got number 6');
  rejects((s) => { s.root.path = ''; }, 'config.json: /root/path: must not be empty');
  rejects((s) => { s.mounts[0].destination = ''; }, 'config.json: /mounts/0/destination: must not be empty');
  rejects((s) => { s.annotations = { '': 'x' }; }, 'config.json: /annotations: property names must not be empty');
});

test('schema: JSON Pointer escaping in paths', () => {
  rejects((s) => { s.linux.resources.unified = { 'a/b~c': 5 }; }, 'config.json: /linux/resources/unified/a~1b~0c: must be a string, got number 5');
});

test('schema: 18446744073709551615 is a valid uint64, 2^65 is not', () => {
  const text = JSON.stringify(runcSpec()).replace('"hard":1024', '"hard":18446744073709551615');
  assert.doesNotThrow(() => loadBundleSpec(bundle(text)));
  const big = JSON.stringify(runcSpec()).replace('"hard":1024', '"hard":36893488147419103232');
  throwsMessage(() => loadBundleSpec(bundle(big)),
    'config.json: /process/rlimits/0/hard: must be an unsigned 64-bit integer (0 to 18446744073709551615), got number 36893488147419103000');
});

// ---------------------------------------------------------------- other documents

test('parseSpec checks only syntax and schema', () => {
  const spec = runcSpec();
  delete spec.root; // a semantic error, not a schema one
  assert.deepEqual(parseSpec(JSON.stringify(spec)), spec);
  throwsMessage(() => parseSpec('{"ociVersion": 1}', 'x.json'), 'x.json: /ociVersion: must be a string, got number 1');
});

test('parseProcess: exec --process documents', () => {
  const { process: p, warnings } = parseProcess(JSON.stringify({ cwd: '/', args: ['ls'], env: ['A=1'], user: { uid: 1, gid: 1 } }));
  assert.deepEqual(p.args, ['ls']);
  assert.deepEqual(warnings, []);
  throwsMessage(() => parseProcess('{"args": ["ls"]}'), 'process.json: missing required property "cwd"');
  throwsMessage(() => parseProcess('{"cwd": "/", "args": []}'), 'args must not be empty');
  throwsMessage(() => parseProcess('{"cwd": "/", "args": ["ls"], "capabilities": {"bounding": ["CAP_NOPE"]}}'),
    'process.json: /capabilities/bounding/0: unknown capability "CAP_NOPE"');
  throwsMessage(() => parseProcess('{"cwd": "/", "args": ["ls"], "rlimits": [{"type": "RLIMIT_X", "soft": 1, "hard": 1}]}'), 'wrong rlimit value: RLIMIT_X');
});

test('parseResources: update --resources documents', () => {
  const r = parseResources(JSON.stringify({ memory: { limit: 1024, swap: -1 }, pids: { limit: 10 }, cpu: { quota: -1, cpus: '0' } }));
  assert.equal(r.memory?.swap, -1);
  throwsMessage(() => parseResources('{"memory": {"limit": "x"}}'),
    'resources.json: /memory/limit: must be a signed 64-bit integer (-9223372036854775808 to 9223372036854775807), got string "x"');
  throwsMessage(() => parseResources('{"blockIO": {"weightDevice": [{"major": 8, "minor": 0}]}}'),
    'resources.json: /blockIO/weightDevice/0: must have weight or leafWeight (or both)');
});

// ---------------------------------------------------------------- speed

test('loading a Docker config takes well under 5 ms once warm', () => {
  const dir = bundle(undefined);
  writeFileSync(join(dir, 'config.json'), dockerConfigText(join(dir, 'rootfs')));
  loadBundleSpec(dir);
  const n = 50;
  const start = performance.now();
  for (let i = 0; i < n; i++) loadBundleSpec(dir);
  const each = (performance.now() - start) / n;
  assert.ok(each < 5, `loadBundleSpec took ${each.toFixed(2)} ms per call`);
});
