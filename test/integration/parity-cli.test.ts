// Issue 15, CLI: the same command lines given to runc 1.1.5 and to tsrun, each against a
// container of its own made from one bundle.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { needsRoot } from '../helpers/harness.js';
import { both, errorTail, runBoth, skipRunc, startBoth, stopBoth, type BothDetached, type Beside } from '../helpers/beside.js';

const skip = needsRoot || skipRunc;
let c: BothDetached | undefined;

before(() => {
  if (skip) return;
  c = startBoth((cfg) => {
    cfg.process.args = ['sleep', '4327'];
    cfg.linux.resources = { ...cfg.linux.resources, memory: { limit: 128 * 1024 * 1024 } };
  }, 'tsrun-pcli');
});
after(() => { if (c) stopBoth(c); });

function same(r: Beside, what: string): void {
  assert.equal(r.tsrun.status, r.runc.status, `${what}: ${r.runc.stderr} / ${r.tsrun.stderr}`);
  if (r.runc.status !== 0) assert.equal(errorTail(r.tsrun.stderr), errorTail(r.runc.stderr), what);
}

test('flags after the container id, as runc\'s CLI library reorders them', { skip }, () => {
  const u = both(c!, ['update', 'ID', '--memory', '64M']);
  same(u, 'update ID --memory');
  assert.equal(u.tsrun.status, 0, u.tsrun.stderr);
  for (const args of [['kill', 'ID', '0', '--all'], ['state', 'ID'], ['events', 'ID', '--stats'], ['ps', 'ID', '--format', 'json'],
    ['update', 'ID', '--pids-limit=50'], ['delete', 'ID', '--bogus']]) {
    same(both(c!, args), args.join(' '));
  }
  assert.equal(both(c!, ['events', 'ID', '--stats']).tsrun.stdout.includes('"type":"stats"'), true);
});

test('kill with signal 0 (does the process exist?), with and without --all; an invalid number as runc says it', { skip }, () => {
  for (const args of [['kill', 'ID', '0'], ['kill', '--all', 'ID', '0'], ['kill', 'ID', '99'], ['kill', 'ID', 'NOSUCH']]) {
    const r = both(c!, args);
    same(r, args.join(' '));
  }
  assert.equal(both(c!, ['kill', 'ID', '0']).tsrun.status, 0);
});

test('--preserve-fds N beyond the fds given: runc\'s message', { skip }, () => {
  // The test's own spawn gives each runtime fds 0-2 only. runc finds its Go runtime's own fds
  // in the range (and would hand them on): asked for 20, it fails at the first that is not open.
  const r = both(c!, ['exec', '--preserve-fds', '20', 'ID', 'true']);
  assert.equal(r.runc.status, 255);
  assert.match(errorTail(r.runc.stderr), /^exec failed: unable to stat preserved-fd \d+ \(of 20\): stat \/proc\/self\/fd\/\d+: no such file or directory$/);
  assert.equal(r.tsrun.status, 255);
  // Which fd is the first missing one depends on the runtime's own fds (runc's Go runtime has some).
  assert.match(errorTail(r.tsrun.stderr), /^exec failed: unable to stat preserved-fd 0 \(of 20\): stat \/proc\/self\/fd\/3: no such file or directory$/);
});

test('unknown capabilities are dropped with runc\'s warning; a device access of "rwa" is "rw" (cgroup v1), as runc 1.1.5 takes them', { skip: skip || (existsSync('/sys/fs/cgroup/devices/devices.list') ? false : 'no v1 devices hierarchy') }, () => {
  const r = runBoth((cfg) => {
    for (const set of Object.values(cfg.process.capabilities) as string[][]) set.push('CAP_FOO');
    cfg.process.capabilities.bounding.push('CAP_BAR');
    cfg.linux.resources.devices.push({ allow: true, type: 'c', major: 1, minor: 11, access: 'rwa' });
    cfg.process.args = ['sh', '-c', 'grep CapBnd /proc/self/status; grep "^c 1:11 " /sys/fs/cgroup/devices/devices.list'];
  });
  assert.equal(r.runc.status, 0, r.runc.stderr);
  assert.equal(r.tsrun.status, 0, r.tsrun.stderr);
  assert.equal(r.tsrun.stdout, r.runc.stdout);
  assert.match(r.runc.stdout, /^c 1:11 rw$/m);
  for (const x of [r.runc, r.tsrun]) assert.match(x.stderr, /level=warning msg="ignoring unknown or unavailable capabilities: \[CAP_BAR CAP_FOO\]"/);
});

test('exec --cgroup: the process joins sub-cgroups of the container\'s (all, or per controller), as with runc', { skip: skip || (existsSync('/sys/fs/cgroup/memory/cgroup.procs') ? false : 'cgroup v1 only here (v2: the VM)') }, () => {
  const made: string[] = [];
  try {
    // Each init's own memory and pids cgroups, as the host sees them.
    for (const rt of ['runc', 'tsrun'] as const) {
      const pid = JSON.parse(both(c!, ['state', 'ID'])[rt].stdout).pid;
      const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
      for (const ctrl of ['memory', 'pids']) {
        const rel = lines.find((l) => l.split(':')[1] === ctrl)!.split(':')[2];
        const dir = `/sys/fs/cgroup/${ctrl}${rel}/sub`;
        mkdirSync(dir);
        made.push(dir);
      }
    }
    // "pids top", "memory sub": which cgroup of each controller the process is in.
    const grep = ['awk', '-F:', '$2 == "memory" || $2 == "pids" { n = split($3, a, "/"); print $2, (a[n] == "sub" ? "sub" : "top") }', '/proc/self/cgroup'];
    for (const args of [['--cgroup', 'memory:sub'], ['--cgroup', 'memory:sub', '--cgroup', 'pids,memory:sub']]) {
      const r = both(c!, ['exec', ...args, 'ID', ...grep]);
      assert.equal(r.runc.status, 0, r.runc.stderr);
      assert.equal(r.tsrun.status, 0, r.tsrun.stderr);
      assert.equal(r.tsrun.stdout, r.runc.stdout, args.join(' '));
      assert.match(r.tsrun.stdout, /^memory sub$/m);
    }
    for (const args of [['--cgroup', 'a:b:c'], ['--cgroup', 'a', '--cgroup', 'b'], ['--cgroup', 'bogus:sub']]) {
      const r = both(c!, ['exec', ...args, 'ID', 'true']);
      same(r, args.join(' '));
    }
    // Missing below some controllers: refused by both (the wording of the failed write differs).
    const missing = both(c!, ['exec', '--cgroup', 'sub', 'ID', 'true']);
    assert.equal(missing.runc.status, 255);
    assert.equal(missing.tsrun.status, 255);
    assert.match(errorTail(missing.tsrun.stderr), /cgroup\.procs: no such file or directory$/);
    // Never out of the container's cgroup (runc would let this through).
    assert.match(both(c!, ['exec', '--cgroup', 'memory:../../x', 'ID', 'true']).tsrun.stderr, /outside the container's cgroup/);
  } finally {
    for (const d of made.reverse()) rmdirSync(d);
  }
});
