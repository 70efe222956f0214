// Issue 10's attack numbers beside today's runc (1.3, scripts/modern-stack.sh): the attacks of
// test/security that are a matter of the bundle (config cwd through a leaked fd, /proc forms,
// inheritable capabilities, cgroupsPath traversal, mknod) given to both runtimes as the same
// bundle (test/helpers/beside.ts runBoth). tsrun must hold every one; runc's count is printed
// beside it for the report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, cgroupDirsNamed, makeBundle, makeRoot, uniqueId, tsrun, assertNothingLeft, cleanup, type RunResult } from '../helpers/harness.js';
import { runc, runc13 } from '../helpers/beside.js';

const r13 = runc13();
const dir = mkdtempSync(join(tmpdir(), 'tsrun-beside-sec-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const marker = join(dir, 'marker');
writeFileSync(marker, 'HOST-SECRET');
const reach = `${'../'.repeat(12)}${marker.slice(1)}`;

interface Attack { name: string; edit: (c: any) => void; before?: (bundle: string) => void; held: (r: RunResult, bundle: string) => boolean }

const plant = (d: string) => { mkdirSync(join(d, 'sys/kernel'), { recursive: true }); writeFileSync(join(d, 'sys/kernel/shmmax'), 'planted'); };
const planted = (p: string) => readFileSync(p, 'utf8') === 'planted';

const ATTACKS: Attack[] = [
  // CVE-2024-21626: the config's cwd through a leaked fd.
  ...Array.from({ length: 10 }, (_, i): Attack => ({
    name: `CVE-2024-21626 cwd /proc/self/fd/${i + 3}`,
    edit: (c) => { c.process.cwd = `/proc/self/fd/${i + 3}`; c.process.args = ['sh', '-c', `cat ${reach}; true`]; },
    held: (r) => !r.stdout.includes('HOST-SECRET'),
  })),
  // CVE-2019-16884 class: /proc a symlink to a planted directory.
  {
    name: '/proc symlinked to a plant',
    edit: (c) => { c.linux.sysctl = { 'kernel.shmmax': '4096' }; },
    before: (b) => { rmSync(join(b, 'rootfs/proc'), { recursive: true, force: true }); plant(join(b, 'rootfs/fakeproc')); symlinkSync('/fakeproc', join(b, 'rootfs/proc')); },
    held: (_r, b) => planted(join(b, 'rootfs/fakeproc/sys/kernel/shmmax')),
  },
  // /proc bind-mounted from a host directory with a planted sysctl file.
  {
    name: '/proc bound from a host directory',
    edit: (c) => {
      const host = join(dir, `fakeproc-${Math.random().toString(36).slice(2)}`);
      plant(host);
      c.mounts[0] = { destination: '/proc', type: 'bind', source: host, options: ['rbind'] };
      c.linux.sysctl = { 'kernel.shmmax': '4096' };
      c.annotations = { host };
    },
    held: (_r, b) => planted(join(JSON.parse(readFileSync(join(b, 'config.json'), 'utf8')).annotations.host, 'sys/kernel/shmmax')),
  },
  // CVE-2022-29162: no inheritable capabilities unless asked.
  {
    name: 'CVE-2022-29162 inheritable capabilities',
    edit: (c) => { c.process.capabilities.inheritable = []; c.process.args = ['sh', '-c', 'grep CapInh /proc/self/status']; },
    held: (r) => /^CapInh:\s+0+$/m.test(r.stdout) || r.status !== 0,
  },
  // cgroupsPath with ../ must stay below the hierarchies.
  {
    name: 'cgroupsPath ../ traversal',
    edit: (c) => { c.linux.cgroupsPath = `/../../../../../tmp/tsrun-beside-escape-${process.pid}`; c.process.args = ['cat', '/proc/self/cgroup']; },
    // The container's cgroup is below a hierarchy (its /proc/self/cgroup names it); nothing was made in the host's /tmp.
    held: (r) => !existsSync(`/tmp/tsrun-beside-escape-${process.pid}`) && (r.status !== 0 || r.stdout.includes(`/tmp/tsrun-beside-escape-${process.pid}`)),
  },
  // mknod of a disk without CAP_MKNOD (the default set lacks it) and /dev/mem absent.
  {
    name: 'mknod of a block device, /dev/mem',
    edit: (c) => { c.process.args = ['sh', '-c', 'mknod /tmp/sda b 8 0 2>/dev/null && echo MADE; ls /dev/mem 2>/dev/null && echo MEM; true']; },
    held: (r) => !/MADE|MEM/.test(r.stdout),
  },
];

test(`beside runc 1.3: ${ATTACKS.length} bundle-borne attacks, each held by tsrun`, { skip: needsRoot || r13.skip }, () => {
  const held = { tsrun: 0, runc: 0 };
  const lost: Record<string, string[]> = { tsrun: [], runc: [] };
  for (const a of ATTACKS) {
    for (const which of ['runc', 'tsrun'] as const) {
      // A bundle (and any host plant) of its own per runtime: one's damage is not the other's.
      const bundle = makeBundle(a.edit);
      const root = makeRoot();
      const id = uniqueId('tsrun-beside-sec');
      try {
        a.before?.(bundle);
        const r = which === 'tsrun' ? tsrun(['--root', root, 'run', '--bundle', bundle, id]) : runc(['--root', root, 'run', '--bundle', bundle, id], { bin: r13.bin });
        if (which === 'tsrun') assertNothingLeft(root, id, bundle);
        else runc(['--root', root, 'delete', '--force', id], { bin: r13.bin });
        if (a.held(r, bundle)) held[which]++;
        else lost[which].push(a.name);
      } finally {
        if (which === 'tsrun') cleanup(root, id, bundle);
        rmSync(bundle, { recursive: true, force: true });
        rmSync(root, { recursive: true, force: true });
      }
    }
  }
  for (const p of cgroupDirsNamed(`tsrun-beside-escape-${process.pid}`)) try { rmdirSync(p); } catch { /* busy or gone */ }
  console.log(`# security beside runc 1.3: ${ATTACKS.length} attacks; held: tsrun ${held.tsrun}, runc ${held.runc}; runc lost: ${JSON.stringify(lost.runc)}`);
  assert.deepEqual(lost.tsrun, []);
});
