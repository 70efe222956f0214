// Id-mapped bind mounts (options idmap/ridmap) through the real tsrun and executor.
//
// With an id mapping "container 0 -> host 100000", a file that host root owns on disk shows up
// through the mount as owned by 100000 in the host's terms: to a container without a user
// namespace that is uid 100000, to a container whose own user namespace maps 0 -> 100000 it is
// its root. Files the container root creates through the mount land on disk owned by host root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, runContainer } from '../helpers/harness.js';

const skip = needsRoot;
const MAP = [{ containerID: 0, hostID: 100000, size: 65536 }];

/**
 * A host directory (on /tmp's filesystem, which supports id-mapped mounts) with a file owned by
 * host root, and a tmpfs mounted on its "sub" directory holding another root-owned file.
 */
function makeSource(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-idmap-src-'));
  // A user-namespaced container's root must be able to reach it for a plain bind.
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'f'), 'host\n');
  chownSync(join(dir, 'f'), 0, 0);
  mkdirSync(join(dir, 'sub'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'mode=0755,size=1m', 'tsrun-idmap-test', join(dir, 'sub')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  writeFileSync(join(dir, 'sub', 'g'), 'sub\n');
  return {
    dir,
    remove: () => {
      spawnSync('umount', [join(dir, 'sub')]);
      if (spawnSync('mountpoint', ['-q', join(dir, 'sub')]).status === 0) spawnSync('umount', ['-l', join(dir, 'sub')]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function run(edit: (c: any) => void, before?: (bundle: string) => void) {
  return runContainer(edit, { before, idPrefix: 'tsrun-idmap' });
}

function values(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
}

test('idmap maps the top mount, ridmap the submounts too; a plain bind shows the disk ids', { skip }, () => {
  const src = makeSource();
  try {
    const r = run((c) => {
      c.mounts.push({ destination: '/idmap', type: 'bind', source: src.dir, options: ['rbind', 'idmap'], uidMappings: MAP, gidMappings: MAP });
      c.mounts.push({ destination: '/ridmap', type: 'bind', source: src.dir, options: ['rbind', 'ridmap'], uidMappings: MAP, gidMappings: MAP });
      c.mounts.push({ destination: '/plain', type: 'bind', source: src.dir, options: ['rbind'] });
      c.process.args = ['sh', '-c',
        'for m in idmap ridmap plain; do echo $m=$(stat -c %u:%g /$m/f),$(stat -c %u:%g /$m/sub/g),$(cat /$m/f); done;'
        + ' echo tagged=$(grep -c idmapped /proc/self/mountinfo)'];
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(values(r.stdout), {
      idmap: '100000:100000,0:0,host', // the tmpfs below came along unmapped
      ridmap: '100000:100000,100000:100000,host',
      plain: '0:0,0:0,host',
      tagged: '3', // /idmap, /ridmap and /ridmap/sub
    });
  } finally {
    src.remove();
  }
});

test("in a user namespace with the same mapping, host root's files are the container root's", { skip }, () => {
  const src = makeSource();
  try {
    const r = run((c) => {
      c.linux.namespaces.push({ type: 'user' });
      c.linux.uidMappings = MAP;
      c.linux.gidMappings = MAP;
      c.root.readonly = false;
      // No mappings on the mount: the container's are used.
      c.mounts.push({ destination: '/data', type: 'bind', source: src.dir, options: ['rbind', 'ridmap'] });
      c.mounts.push({ destination: '/plain', type: 'bind', source: src.dir, options: ['rbind'] });
      c.process.args = ['sh', '-c',
        'echo data=$(stat -c %u:%g /data/f); echo sub=$(stat -c %u /data/sub/g); echo plain=$(stat -c %u /plain/f);'
        + ' echo new > /data/new && echo created=$(stat -c %u:%g /data/new)'];
    }, (bundle) => {
      // Its root (host uid 100000) may not create them in the host-owned rootfs.
      mkdirSync(join(bundle, 'rootfs', 'data'));
      mkdirSync(join(bundle, 'rootfs', 'plain'));
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(values(r.stdout), { data: '0:0', sub: '0', plain: '65534', created: '0:0' });
    const st = statSync(join(src.dir, 'new'));
    assert.deepEqual([st.uid, st.gid], [0, 0]);
  } finally {
    src.remove();
  }
});

test('id-mapped mounts that cannot be made are refused with one clear error and leave nothing', { skip }, () => {
  const src = makeSource();
  try {
    const cases: [(c: any) => void, RegExp][] = [
      [(c) => { c.mounts.push({ destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['idmap'], uidMappings: MAP, gidMappings: MAP }); },
        /invalid mount \/t: id-mapped mounts are only supported for bind-mounts/],
      [(c) => { c.mounts.push({ destination: '/d', type: 'bind', source: src.dir, options: ['bind', 'idmap'] }); },
        /option idmap needs uidMappings and gidMappings on the mount, or a user namespace/],
      // procfs cannot be id-mapped: the executor's error, after it made the fifo and helper namespaces.
      [(c) => { c.mounts.push({ destination: '/p', type: 'bind', source: '/proc', options: ['bind', 'idmap'], uidMappings: MAP, gidMappings: MAP }); },
        /failed to set MOUNT_ATTR_IDMAP on \/proc: invalid argument \(maybe the filesystem used doesn't support idmap mounts on this kernel\?\)/],
    ];
    for (const [edit, want] of cases) {
      const r = run(edit);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, want);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.equal(existsSync(join(src.dir, 'new')), false);
  } finally {
    src.remove();
  }
});
