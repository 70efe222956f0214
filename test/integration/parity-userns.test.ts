// Issue 15 item 7: bind mounts into a user-namespaced container whose root cannot reach the
// source (it sits under a 0700 directory of host root), beside runc 1.1.5.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, runContainer } from '../helpers/harness.js';
import { both, runBoth, skipRunc, startBoth, stopBoth } from '../helpers/beside.js';

const skip = needsRoot || skipRunc;
const MAP = [{ containerID: 0, hostID: 100000, size: 65536 }];

function privateSource(): { dir: string; vol: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-private-'));
  chmodSync(dir, 0o700);
  const vol = join(dir, 'vol');
  mkdirSync(vol, { mode: 0o755 });
  writeFileSync(join(vol, 'f'), 'through-the-bind\n', { mode: 0o644 });
  return { dir, vol, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const userns = (c: any) => {
  c.linux.namespaces.push({ type: 'user' });
  c.linux.uidMappings = MAP;
  c.linux.gidMappings = MAP;
};

test('a bind source under a 0700 directory of host root reaches a user-namespaced container (create and exec), as with runc', { skip }, () => {
  const src = privateSource();
  try {
    const r = runBoth((c) => {
      userns(c);
      c.mounts.push({ destination: '/mnt', type: 'bind', source: src.vol, options: ['rbind', 'ro'] });
      c.process.args = ['cat', '/mnt/f'];
    }, { before: (bundle) => mkdirSync(join(bundle, 'rootfs/mnt'), { recursive: true }) });
    assert.equal(r.runc.status, 0, r.runc.stderr);
    assert.equal(r.runc.stdout, 'through-the-bind\n');
    assert.equal(r.tsrun.status, 0, r.tsrun.stderr);
    assert.equal(r.tsrun.stdout, r.runc.stdout);

    const c = startBoth((cfg) => {
      userns(cfg);
      cfg.mounts.push({ destination: '/mnt', type: 'bind', source: src.vol, options: ['rbind', 'ro'] });
      cfg.process.args = ['sleep', '4326'];
    }, 'tsrun-puserns', (bundle) => mkdirSync(join(bundle, 'rootfs/mnt'), { recursive: true }));
    try {
      const e = both(c, ['exec', 'ID', 'cat', '/mnt/f']);
      assert.equal(e.runc.status, 0, e.runc.stderr);
      assert.equal(e.tsrun.status, 0, e.tsrun.stderr);
      assert.equal(e.tsrun.stdout, e.runc.stdout);
    } finally {
      stopBoth(c);
    }
  } finally {
    src.remove();
  }
});

test('an id-mapped bind through a symlinked source under a 0700 directory (runc 1.1 has no idmap: tsrun alone)', { skip: needsRoot }, () => {
  const src = privateSource();
  const link = join(src.dir, 'link');
  symlinkSync(src.vol, link);
  try {
    const r = runContainer((c) => {
      userns(c);
      c.mounts.push({ destination: '/data', type: 'bind', source: link, options: ['rbind', 'idmap'] });
      c.process.args = ['sh', '-c', 'cat /data/f; stat -c %u /data/f'];
    }, { before: (bundle) => mkdirSync(join(bundle, 'rootfs/data')), idPrefix: 'tsrun-pidmap' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'through-the-bind\n0\n');
  } finally {
    src.remove();
  }
});

test('/dev/mqueue in a user namespace is owned as under runc (uid 0 inside; runc 1.1.5 and 1.3.6 both leave the overflow gid)', { skip }, () => {
  const r = runBoth((c) => {
    userns(c);
    c.process.args = ['stat', '-c', '%u %g', '/dev/mqueue'];
  });
  assert.equal(r.runc.status, 0, r.runc.stderr);
  assert.equal(r.runc.stdout, '0 65534\n');
  assert.equal(r.tsrun.status, 0, r.tsrun.stderr);
  assert.equal(r.tsrun.stdout, r.runc.stdout);
});
