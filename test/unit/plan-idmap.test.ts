// Id-mapped mounts (options idmap/ridmap, mount-level uidMappings/gidMappings) in the compiled plan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileInitPlan, type InitPlanInput } from '../../runtime/plan/compile.js';
import { encodePlan } from '../../runtime/plan/encode.js';
import { MS } from '../../runtime/plan/mount-options.js';
import { MAX_IDMAP_USERNS } from '../../runtime/plan/mounts.js';
import { Tag, type PlanRecord } from '../../runtime/plan/records.js';
import { defaultSpec } from '../../runtime/spec/default-config.js';
import { realHostView } from '../../runtime/host-view.js';

const dir = mkdtempSync(join(tmpdir(), 'tsrun-plan-idmap-'));
const rootfs = join(dir, 'rootfs');
const vol = join(dir, 'vol');
const file = join(dir, 'file');
mkdirSync(join(rootfs, 'etc'), { recursive: true });
writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
mkdirSync(vol);
writeFileSync(file, '');
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const MAP = [{ containerID: 0, hostID: 100000, size: 65536 }];
const MAP_CONTENT = '0 100000 65536\n';

function compile(edit: (spec: any) => void): PlanRecord[] {
  const spec: any = defaultSpec({ rootless: false });
  spec.process.terminal = false;
  edit(spec);
  const input: InitPlanInput = {
    host: realHostView, id: 'c1', spec, bundle: dir, rootfs, execFifo: '/run/tsrun/c1/exec.fifo', cgroupProcs: [],
    cgroups: { version: 2, paths: { '': '/sys/fs/cgroup/c1' } },
    noPivot: false, noNewKeyring: false, preserveFds: 0, foreground: false, hookBarrier: false,
  };
  return compileInitPlan(input);
}

function bind(destination: string, options: string[], extra: object = {}): object {
  return { destination, type: 'bind', source: vol, options, ...extra };
}

function withUserns(spec: any, map = MAP): void {
  spec.linux.namespaces.push({ type: 'user' });
  spec.linux.uidMappings = map;
  spec.linux.gidMappings = map;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const find = (plan: PlanRecord[], tag: number): any[] => plan.filter((r) => r.tag === tag);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const mountAt = (plan: PlanRecord[], target: string): { index: number; record: any } => {
  const index = plan.findIndex((r) => r.tag === Tag.MOUNT && r.target === target);
  assert.ok(index > 0, `no MOUNT for ${target}`);
  return { index, record: plan[index] };
};
/** The MOUNT_IDMAP right before the MOUNT at target, if any. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const idmapOf = (plan: PlanRecord[], target: string): any => {
  const prev = plan[mountAt(plan, target).index - 1];
  return prev.tag === Tag.MOUNT_IDMAP ? prev : undefined;
};

test('idmap and ridmap: one IDMAP_USERNS among the executor records, MOUNT_IDMAP right before each bind', () => {
  const plan = compile((s) => {
    s.mounts.push(bind('/a', ['bind', 'idmap'], { uidMappings: MAP, gidMappings: MAP }));
    s.mounts.push(bind('/b', ['rbind', 'ridmap'], { uidMappings: MAP, gidMappings: MAP }));
    s.mounts.push(bind('/c', ['rbind', 'ro']));
  });
  assert.deepEqual(find(plan, Tag.IDMAP_USERNS), [{ tag: Tag.IDMAP_USERNS, uidMap: MAP_CONTENT, gidMap: MAP_CONTENT }]);
  // Group 1: after the exec fifo, before the rootfs.
  const tags = plan.map((r) => r.tag);
  assert.equal(tags.indexOf(Tag.IDMAP_USERNS), tags.indexOf(Tag.EXEC_FIFO) + 1);
  assert.ok(tags.indexOf(Tag.IDMAP_USERNS) < tags.indexOf(Tag.ROOTFS));

  assert.deepEqual(idmapOf(plan, '/a'), { tag: Tag.MOUNT_IDMAP, userns: 0, recursive: false });
  assert.deepEqual(idmapOf(plan, '/b'), { tag: Tag.MOUNT_IDMAP, userns: 0, recursive: true });
  assert.equal(idmapOf(plan, '/c'), undefined);
  const a = mountAt(plan, '/a').record;
  assert.equal(a.source, vol);
  assert.equal(a.flags & MS.REC, 0n);
  assert.equal(mountAt(plan, '/b').record.flags & MS.REC, MS.REC);
  assert.equal(find(plan, Tag.MOUNT_IDMAP).length, 2);
});

test('idmap with rbind: the bind is recursive, the mapping is not; a file source stays a file', () => {
  const plan = compile((s) => {
    s.mounts.push(bind('/a', ['rbind', 'idmap', 'ro'], { uidMappings: MAP, gidMappings: MAP }));
    s.mounts.push({ destination: '/f', type: 'none', source: file, options: ['bind', 'ridmap'], uidMappings: MAP, gidMappings: MAP });
  });
  assert.deepEqual(idmapOf(plan, '/a'), { tag: Tag.MOUNT_IDMAP, userns: 0, recursive: false });
  const a = mountAt(plan, '/a').record;
  assert.equal(a.flags & (MS.REC | MS.RDONLY), MS.REC | MS.RDONLY);
  assert.ok(a.options & 2, 'read-only is a remount after the move');
  const f = mountAt(plan, '/f').record;
  assert.equal(f.create, 2);
  assert.deepEqual(idmapOf(plan, '/f'), { tag: Tag.MOUNT_IDMAP, userns: 0, recursive: true });
});

test('identical mappings share one user namespace; different ones get their own, in first-use order', () => {
  const other = [{ containerID: 0, hostID: 200000, size: 1000 }, { containerID: 1000, hostID: 300000, size: 10 }];
  const plan = compile((s) => {
    s.mounts.push(bind('/a', ['idmap'], { uidMappings: MAP, gidMappings: MAP }));
    s.mounts.push(bind('/b', ['idmap'], { uidMappings: other, gidMappings: other }));
    s.mounts.push(bind('/c', ['ridmap'], { uidMappings: MAP, gidMappings: MAP }));
    // Same uid map, other gid map: a different namespace.
    s.mounts.push(bind('/d', ['idmap'], { uidMappings: MAP, gidMappings: other }));
  });
  assert.deepEqual(find(plan, Tag.IDMAP_USERNS).map((r) => [r.uidMap, r.gidMap]), [
    [MAP_CONTENT, MAP_CONTENT],
    ['0 200000 1000\n1000 300000 10\n', '0 200000 1000\n1000 300000 10\n'],
    [MAP_CONTENT, '0 200000 1000\n1000 300000 10\n'],
  ]);
  assert.deepEqual(['/a', '/b', '/c', '/d'].map((t) => idmapOf(plan, t).userns), [0, 1, 0, 2]);
});

test("without mappings on the mount, the container's user namespace mappings are used (and shared)", () => {
  const plan = compile((s) => {
    withUserns(s);
    s.mounts.push(bind('/a', ['rbind', 'ridmap']));
    s.mounts.push(bind('/b', ['idmap'], { uidMappings: MAP, gidMappings: MAP }));
  });
  assert.deepEqual(find(plan, Tag.IDMAP_USERNS), [{ tag: Tag.IDMAP_USERNS, uidMap: MAP_CONTENT, gidMap: MAP_CONTENT }]);
  assert.deepEqual(idmapOf(plan, '/a'), { tag: Tag.MOUNT_IDMAP, userns: 0, recursive: true });
  assert.equal(idmapOf(plan, '/b').userns, 0);
  // The container's own maps are still written for C.
  assert.equal(find(plan, Tag.UID_MAP)[0].content, MAP_CONTENT);
});

test('mount mappings win over the container ones', () => {
  const plan = compile((s) => {
    withUserns(s, [{ containerID: 0, hostID: 500000, size: 65536 }]);
    s.mounts.push(bind('/a', ['idmap'], { uidMappings: MAP, gidMappings: MAP }));
  });
  assert.deepEqual(find(plan, Tag.IDMAP_USERNS).map((r) => r.uidMap), [MAP_CONTENT]);
});

test('a joined user namespace is opened by path', () => {
  const plan = compile((s) => {
    s.linux.namespaces.push({ type: 'user', path: '/proc/4242/ns/user' });
    s.mounts.push(bind('/a', ['idmap']));
    s.mounts.push(bind('/b', ['ridmap']));
  });
  assert.deepEqual(find(plan, Tag.IDMAP_USERNS_PATH), [{ tag: Tag.IDMAP_USERNS_PATH, path: '/proc/4242/ns/user' }]);
  assert.equal(find(plan, Tag.IDMAP_USERNS).length, 0);
  assert.deepEqual([idmapOf(plan, '/a').userns, idmapOf(plan, '/b').userns], [0, 0]);
});

test('mappings without idmap/ridmap make a non-recursive id-mapped mount, as runc 1.2 does', () => {
  const plan = compile((s) => { s.mounts.push(bind('/a', ['rbind'], { uidMappings: MAP, gidMappings: MAP })); });
  assert.deepEqual(idmapOf(plan, '/a'), { tag: Tag.MOUNT_IDMAP, userns: 0, recursive: false });
});

test('a plan without id-mapped mounts has none of the new records', () => {
  const plan = compile((s) => { s.mounts.push(bind('/a', ['rbind'])); });
  for (const tag of [Tag.IDMAP_USERNS, Tag.IDMAP_USERNS_PATH, Tag.MOUNT_IDMAP]) assert.equal(find(plan, tag).length, 0);
});

test('refusals', () => {
  assert.throws(() => compile((s) => { s.mounts.push({ destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['idmap'], uidMappings: MAP, gidMappings: MAP }); }),
    { message: 'invalid mount /t: id-mapped mounts are only supported for bind-mounts' });
  assert.throws(() => compile((s) => { withUserns(s); s.mounts.push({ destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['ridmap'] }); }),
    /only supported for bind-mounts/);
  // Mappings alone make it id-mapped too, so a non-bind with mappings is refused as well.
  assert.throws(() => compile((s) => { s.mounts.push({ destination: '/t', type: 'tmpfs', source: 'tmpfs', uidMappings: MAP, gidMappings: MAP }); }),
    /only supported for bind-mounts/);
  assert.throws(() => compile((s) => { s.mounts.push({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['idmap'], uidMappings: MAP, gidMappings: MAP }); }),
    /invalid mount \/sys\/fs\/cgroup: id-mapped mounts are only supported for bind-mounts/);
  assert.throws(() => compile((s) => { s.mounts.push(bind('/a', ['idmap'])); }),
    /invalid mount \/a: id-mapped mounts must have both uid and gid mappings specified: the mount has none, and the container has no user namespace/);
  assert.throws(() => compile((s) => { s.mounts.push(bind('/a', ['ridmap'], { uidMappings: [], gidMappings: [] })); }),
    /invalid mount \/a: id-mapped mounts must have both uid and gid mappings specified \(none on the mount\)/);
  assert.throws(() => compile((s) => {
    for (let i = 0; i <= MAX_IDMAP_USERNS; i++) {
      const map = [{ containerID: 0, hostID: 100000 + i, size: 1 }];
      s.mounts.push(bind(`/m${i}`, ['idmap'], { uidMappings: map, gidMappings: map }));
    }
  }), /id-mapped mounts use more than 64 different mappings/);
});

test('encoding: IDMAP_USERNS is two strings, IDMAP_USERNS_PATH one, MOUNT_IDMAP index and flags', () => {
  const body = encodePlan([
    { tag: Tag.IDMAP_USERNS, uidMap: '0 1 2\n', gidMap: '3 4 5\n' },
    { tag: Tag.IDMAP_USERNS_PATH, path: '/p' },
    { tag: Tag.MOUNT_IDMAP, userns: 1, recursive: true },
    { tag: Tag.MOUNT_IDMAP, userns: 0, recursive: false },
  ]).subarray(16);
  const rec = (tag: number, payload: Buffer) => {
    const h = Buffer.alloc(8);
    h.writeUInt16LE(tag, 0);
    h.writeUInt32LE(payload.length, 4);
    return Buffer.concat([h, payload]);
  };
  const str = (s: string) => { const b = Buffer.alloc(4); b.writeUInt32LE(s.length); return Buffer.concat([b, Buffer.from(s)]); };
  const u32s = (...v: number[]) => { const b = Buffer.alloc(4 * v.length); v.forEach((x, i) => b.writeUInt32LE(x, 4 * i)); return b; };
  assert.deepEqual(body, Buffer.concat([
    rec(18, Buffer.concat([str('0 1 2\n'), str('3 4 5\n')])),
    rec(19, str('/p')),
    rec(26, u32s(1, 1)),
    rec(26, u32s(0, 0)),
  ]));
});
