// The same mistakes given to runc and to tsrun get the same error message (runc 1.1.5 is
// installed on the development machines; skipped where it is not).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { hasRunc, needsRoot, tsrun } from '../helpers/harness.js';
import { fixture } from '../helpers/fixture.js';
import { detectCgroupLayout } from '../../runtime/cgroups/index.js';

const skip = needsRoot || (!hasRunc ? 'runc is not installed' : false) || (detectCgroupLayout().mode === 'v2' ? 'v1 host only' : false);

/** The msg of the logrus line, with the program name made neutral. */
function message(stderr: string): string {
  const m = /msg="((?:[^"\\]|\\.)*)"|msg=(\S+)/.exec(stderr);
  assert.ok(m, stderr);
  const text = m[1] !== undefined ? JSON.parse(`"${m[1]}"`) as string : m[2];
  return text.replace(/^(runc|tsrun): /, 'PROG: ');
}

test('update and events: error messages and exit codes as runc\'s', { skip }, (t) => {
  const f = fixture(t);
  const bundle = f.bundle((c) => { c.process.args = ['sleep', '1000']; });
  const rroot = f.newRoot();
  const troot = f.root;
  const id = f.id('tsrun-runcdiff');
  const runc = (args: string[], input?: string) => spawnSync('runc', ['--root', rroot, ...args], { encoding: 'utf8', input: input ?? '', cwd: bundle });
  // The same id under runc, deleted by runc before anything is checked.
  f.defer(() => { runc(['delete', '--force', id]); });
  // The container inherits runc's stdio: no pipes, or waiting for them to close would hang.
  // runc's twin in a cgroup of its own: a cgroup that already holds a process is refused (runc 1.3, and tsrun).
  const runcBundle = f.bundle((c) => { c.process.args = ['sleep', '1000']; c.linux.cgroupsPath = `/${id}-runc`; });
  const r = spawnSync('runc', ['--root', rroot, 'run', '-d', '--bundle', runcBundle, id], { stdio: 'ignore' });
  assert.equal(r.status, 0);
  const tr = tsrun(['--root', troot, 'run', '-d', '--bundle', bundle, id]);
  assert.equal(tr.status, 0, tr.stderr);

  const cases: Array<{ args: string[]; input?: string }> = [
    { args: ['update', '--memory', 'abc', id] },
    { args: ['update', '--memory-swap', '1.2.3', id] },
    { args: ['update', '--cpu-share', '-5', id] },
    { args: ['update', '--cpu-quota', '1e3', id] },
    { args: ['update', '--cpu-rt-period', 'x', id] },
    { args: ['update', '-r', '-', id], input: '' },
    { args: ['update', '-r', '-', id], input: 'nope' },
    { args: ['update', '-r', '-', id], input: '{"memory":' },
    { args: ['update', '-r', '-', id], input: '{"memory":{"limit":"64M"}}' },
    { args: ['update', '-r', '-', id], input: '{"cpu":{"shares":-2}}' },
    { args: ['update', '-r', '-', id], input: '{"pids":{"limit":1.5}}' },
    { args: ['update', '-r', '/nonexistent/res.json', id] },
    { args: ['update', '--pids-limit', '5', 'tsrun-no-such-container'] },
    { args: ['update', id, 'extra'] },
    { args: ['update', '--l3-cache-schema', 'L3:0=f', id] },
    { args: ['events', '--interval', '5', id] },
    { args: ['events', '--interval', '-1s', id] },
    { args: ['events', '--stats', 'tsrun-no-such-container'] },
  ];
  // events --stats: the same JSON keys once the fields Go leaves out when zero are set aside
  // (and memory.raw, which is memory.stat, the same keys from the same kernel).
  const OMITEMPTY = /^(cpu\.usage\.(total|percpu|percpu_kernel|percpu_user)|cpu\.throttling\..*|cpuset\.(cpus|mems)|memory\.cache|memory\.\w+\.(usage|max)|pids\..*|blkio\..*)$/;
  const keys = (v: unknown, at = ''): string[] => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return [];
    return Object.entries(v).flatMap(([k, x]) => {
      const path = at === '' ? k : `${at}.${k}`;
      return OMITEMPTY.test(path) ? [] : [path, ...keys(x, path)];
    });
  };
  const rs = JSON.parse(spawnSync('runc', ['--root', rroot, 'events', '--stats', id], { encoding: 'utf8' }).stdout);
  const ts = JSON.parse(tsrun(['--root', troot, 'events', '--stats', id]).stdout);
  assert.deepEqual(keys({ ...ts, id: '' }), keys({ ...rs, id: '' }));
  assert.ok(keys(ts).some((k) => k.startsWith('data.memory.raw.total_')), 'memory.stat keys are compared');

  for (const c of cases) {
    const want = runc(c.args, c.input);
    const got = tsrun(['--root', troot, ...c.args], { input: c.input ?? '' });
    const what = `${c.args.join(' ')} <<< ${c.input ?? ''}`;
    assert.equal(got.status, want.status, `${what}: exit status`);
    assert.equal(message(got.stderr), message(want.stderr), what);
  }
});
