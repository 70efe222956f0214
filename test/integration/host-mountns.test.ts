// Issue 15 item 8: `linux.namespaces` without `mount`. runc runs such a container with its mounts in
// the host's mount namespace, after making the host's whole tree rslave (a shared mount loses its
// peer group) and leaves every mount behind at delete. tsrun runs it too, in the host's mount
// namespace (chroot, no pivot_root), but changes no existing mount's propagation: its mounts go
// beneath one private bind of the rootfs, the only mount a peer ever sees, and delete detaches it.
// tsrun runs in the test's own (the host's) mount namespace; runc, beside it, only inside a
// throw-away mount namespace (`unshare -m`), where what it does to propagation touches copies.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, assertNothingLeft, makeBundle, makeRoot, needsRoot, processesIn, runToFiles, tsrun, uniqueId } from '../helpers/harness.js';
import { runc13 } from '../helpers/beside.js';

const FAULT_TSRUN = join(REPO, 'build', 'fault', 'tsrun');
const r13 = runc13();
let dir = '';
let shared = '';
let peer = '';
/** A process in a mount namespace of its own whose copy of the shared mount is a peer of ours. */
let other: ChildProcess | undefined;

function sh(cmd: string): void {
  const r = spawnSync('/bin/sh', ['-c', cmd], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
}

const mountinfo = (pid: number | 'self' = 'self') => readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
/** The optional fields (shared:N, master:N) of the mount at `point`. */
function propagationOf(info: string, point: string): string {
  const line = info.split('\n').find((l) => l.split(' ')[4] === point);
  assert.ok(line, `no mount at ${point}`);
  return line.split(' - ')[0].split(' ').slice(6).join(' ');
}
/**
 * The mount table compared with an earlier one, as far as it is ours to judge: other sessions mount
 * and unmount meanwhile. Every mount in both must be unchanged (its propagation too), and beneath
 * the test's directory the tables must be equal.
 */
function assertSameTable(before: string, now: string, what: string): void {
  // Keyed by id, parent, device, root and mount point: an id freed by someone else may come back.
  const byId = (info: string) => new Map(info.split('\n').filter(Boolean).map((l) => [l.split(' ').slice(0, 5).join(' '), l]));
  const a = byId(before);
  for (const [id, line] of byId(now)) if (a.has(id)) assert.equal(line, a.get(id), `${what}: a mount changed`);
  const mine = (info: string) => info.split('\n').filter((l) => (l.split(' ')[4] ?? '').startsWith(dir));
  assert.deepEqual(mine(now), mine(before), `${what}: mounts beneath ${dir}`);
}
const under = (info: string, path: string) => info.split('\n').filter((l) => (l.split(' ')[4] ?? '').startsWith(`${path}/`));

/** A bundle on the shared mount: no mount namespace, no masked or read-only paths (runc refuses those without one). */
function sharedBundle(script: string, readonly = true): string {
  const src = makeBundle((c) => {
    c.process.args = ['sh', '-c', script];
    c.linux.namespaces = c.linux.namespaces.filter((n: any) => n.type !== 'mount');
    delete c.linux.maskedPaths;
    delete c.linux.readonlyPaths;
    c.root.readonly = readonly;
  });
  const bundle = mkdtempSync(join(shared, 'bundle-'));
  cpSync(src, bundle, { recursive: true, verbatimSymlinks: true });
  rmSync(src, { recursive: true, force: true });
  return bundle;
}

const SCRIPT = 'ls /dev; grep -c " /proc " /proc/self/mountinfo; touch /x 2>&1 | sed "s/^.*: //"; cat /proc/self/cgroup | wc -l; echo done';

describe('a container without a mount namespace (issue 15 item 8)', { skip: needsRoot }, () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsrun-hostmnt-'));
    shared = join(dir, 'shared');
    peer = join(dir, 'peer');
    mkdirSync(shared);
    mkdirSync(peer);
    sh(`mount -t tmpfs tsrun-hostmnt ${shared} && mount --make-shared ${shared} && mount --bind ${shared} ${peer}`);
    other = spawn('unshare', ['-m', '--propagation', 'unchanged', 'sleep', '1000'], { stdio: 'ignore' });
  });

  after(() => {
    other?.kill('SIGKILL');
    spawnSync('umount', ['-l', peer]);
    spawnSync('umount', ['-l', shared]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('runs in the host\'s mount namespace; no propagation changed; delete leaves the mount table as it was', async () => {
    // The other namespace's copy is set up once unshare has run.
    for (let i = 0; i < 100 && !(other?.pid && mountinfo(other.pid).includes(` ${shared} `) && readFileSync(`/proc/${other.pid}/comm`, 'utf8').trim() === 'sleep'); i++) await new Promise((r) => setTimeout(r, 50));
    const before = mountinfo();
    const otherBefore = mountinfo(other!.pid!);
    const group = propagationOf(before, shared);
    assert.match(group, /^shared:\d+$/);
    assert.equal(propagationOf(before, peer), group);
    assert.equal(propagationOf(otherBefore, shared), group);

    const bundle = sharedBundle(`${SCRIPT}; sleep 1000`);
    const root = makeRoot();
    const id = uniqueId('hostmnt');
    try {
      let r = tsrun(['--root', root, 'run', '-d', '--bundle', bundle, id]);
      assert.equal(r.status, 0, r.stderr);
      const during = mountinfo();
      // Every existing mount is as it was (same lines); the container's are all beneath its rootfs.
      const added = during.split('\n').filter((l) => !before.split('\n').includes(l) && (l.split(' ')[4] ?? '').startsWith(dir));
      assertSameTable(before, during.split('\n').filter((l) => !added.includes(l)).join('\n'), 'while it runs');
      assert.ok(added.length > 3, added.join('\n'));
      // A peer sees the bind (the host's propagation does that) and nothing beneath it.
      const peerRootfs = join(peer, bundle.slice(shared.length), 'rootfs');
      for (const l of added) assert.ok(l.split(' ')[4].startsWith(join(bundle, 'rootfs')) || l.split(' ')[4] === peerRootfs, `a mount outside the rootfs: ${l}`);
      assert.equal(propagationOf(during, join(bundle, 'rootfs')), '', 'the rootfs bind is private');
      assert.deepEqual(under(during, join(peer, bundle.slice(shared.length))).map((l) => l.split(' ')[4]), [peerRootfs]);
      assert.deepEqual(under(mountinfo(other!.pid!), join(shared, bundle.slice(shared.length))).map((l) => l.split(' ')[4]), [join(bundle, 'rootfs')]);
      // The container's init shares our mount namespace, and is chrooted into its rootfs.
      const [pid] = processesIn(bundle);
      assert.ok(pid > 0);
      assert.equal(spawnSync('readlink', [`/proc/${pid}/ns/mnt`], { encoding: 'utf8' }).stdout, spawnSync('readlink', ['/proc/self/ns/mnt'], { encoding: 'utf8' }).stdout);
      r = tsrun(['--root', root, 'delete', '--force', id]);
      assert.equal(r.status, 0, r.stderr);
      assertSameTable(before, mountinfo(), 'after delete');
      assertSameTable(otherBefore, mountinfo(other!.pid!), 'the other namespace after delete');
      assertNothingLeft(root, id, bundle);
    } finally {
      tsrun(['--root', root, 'delete', '--force', id]);
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('what the container sees is what runc 1.3 gives it (runc in a throw-away mount namespace)', { skip: r13.skip }, () => {
    const out: Record<string, string> = {};
    // runc 1.3 leaves the root writable without a mount namespace (it finalizes the rootfs only with
    // one); tsrun honours root.readonly there too: compared without it, checked with it below.
    const bundle = sharedBundle(SCRIPT, false);
    const copy = sharedBundle(SCRIPT, false);
    const root = makeRoot();
    const id = uniqueId('hostmnt');
    try {
      const before = mountinfo();
      const t = tsrun(['--root', root, 'run', '--bundle', bundle, id]);
      assert.equal(t.status, 0, t.stderr);
      out.tsrun = t.stdout;
      assertSameTable(before, mountinfo(), 'after run');
      assertNothingLeft(root, id, bundle);
      // runc rslaves the namespace's whole tree and leaves its mounts: a throw-away namespace takes both.
      const script = `${r13.bin} --root ${root} run --bundle ${copy} ${id}-runc; s=$?; ${r13.bin} --root ${root} delete -f ${id}-runc; `
        + `echo "left: $(grep -c ${copy}/rootfs /proc/self/mountinfo) group: $(grep " ${shared} " /proc/self/mountinfo | cut -d- -f1 | cut -d' ' -f7)"; exit $s`;
      const r = runToFiles('unshare', ['-m', '--propagation', 'unchanged', '/bin/sh', '-c', script]);
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trimEnd().split('\n');
      const tail = lines.pop()!;
      out.runc = `${lines.join('\n')}\n`;
      // Recorded for the report, not required of runc: what it does to its (copied) mount table.
      assert.match(tail, /^left: \d+ group:( \S+)?$/);
      console.log(`runc 1.3 without a mount namespace: ${tail} (the shared mount's group before: ${propagationOf(before, shared)})`);
      assertSameTable(before, mountinfo(), 'runc in its own namespace');
    } finally {
      tsrun(['--root', root, 'delete', '--force', id]);
    }
    assert.match(out.tsrun, /^fd\nfull\nmqueue\n(.|\n)*\n1\n\d+\ndone\n$/);
    assert.equal(out.tsrun, out.runc);
    const ro = sharedBundle(SCRIPT);
    try {
      const t = tsrun(['--root', root, 'run', '--bundle', ro, id]);
      assert.equal(t.status, 0, t.stderr);
      assert.match(t.stdout, /\n1\nRead-only file system\n\d+\ndone\n$/);
      assertNothingLeft(root, id, ro);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('a create killed after the rootfs bind: delete --force detaches it; a user namespace is refused', { skip: !existsSync(FAULT_TSRUN) && 'needs build/fault/tsrun' }, () => {
    const bundle = sharedBundle('sleep 1000');
    const root = makeRoot();
    const id = uniqueId('hostmnt');
    const before = mountinfo();
    try {
      const r = runToFiles(FAULT_TSRUN, ['--root', root, 'create', '--bundle', bundle, id], { env: { ...process.env, TSRUN_FAULT_AT: 'create:3', TSRUN_EXECUTOR: join(REPO, 'bin/tsrun-executor') } });
      assert.equal(r.status, 137, r.stderr);
      assert.ok(under(mountinfo(), join(bundle, 'rootfs')).length > 0 || mountinfo().includes(` ${join(bundle, 'rootfs')} `), 'the kill came after the bind');
      const d = tsrun(['--root', root, 'delete', '--force', id]);
      assert.equal(d.status, 0, d.stderr);
      assertSameTable(before, mountinfo(), 'after delete --force');
      assertNothingLeft(root, id, bundle);
    } finally {
      tsrun(['--root', root, 'delete', '--force', id]);
    }
    const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
    config.linux.namespaces.push({ type: 'user' });
    config.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    config.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
    const r = tsrun(['--root', root, 'run', '--bundle', bundle, id]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /mounts require a mount namespace: a user namespace cannot mount in the host's mount namespace/);
    assertSameTable(before, mountinfo(), 'after the refusal');
    assertNothingLeft(root, id, bundle);
    rmSync(root, { recursive: true, force: true });
  });
});

