// v1 device rules on a running container: only the transition is written, and no access that
// the container keeps is taken away in between (watched through a model of the kernel).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { cgroupManager, type LinuxDeviceCgroup } from '../../runtime/cgroups/index.js';
import { FakeCgroupTree } from '../helpers/fake-cgroup-tree.js';
import { DEFAULT_DEVICE_RULES } from '../../runtime/plan/devices.js';
import { V1DevicesKernel } from '../helpers/devices-v1-kernel.js';

const PROBES: [string, number, number, string][] = [];
for (const type of ['b', 'c']) {
  for (const [major, minor] of [[1, 3], [1, 5], [1, 7], [5, 0], [8, 0], [8, 1], [10, 200], [10, 229], [136, 2], [4, 1]] as const) {
    for (const access of ['r', 'w', 'm', 'rw', 'rwm']) PROBES.push([type, major, minor, access]);
  }
}

/** A v1 tree whose devices files behave as the kernel's; every write is checked against "before" and "after". */
function setup(t: { after(fn: () => void): void }) {
  const tree = new FakeCgroupTree({ mode: 'v1' });
  t.after(() => tree.cleanup());
  const kernel = new V1DevicesKernel();
  const snapshots: string[][] = [];
  /** muted: the kernel ignores device writes (as it does for some it cannot apply). */
  const state = { muted: false };
  const allowedSet = () => PROBES.filter((p) => kernel.allowed(...p)).map((p) => p.join(' '));
  const base = tree.host();
  const host = {
    ...base,
    onWrite: (file: string, value: string) => {
      base.onWrite!(file, value);
      const name = posix.basename(file);
      if ((name === 'devices.allow' || name === 'devices.deny') && !state.muted) {
        kernel.write(name, value);
        writeFileSync(posix.join(posix.dirname(file), 'devices.list'), kernel.list());
        snapshots.push(allowedSet());
      }
    },
  };
  const m = cgroupManager({ id: 'c1', systemd: false }, host);
  m.create();
  const devWrites = () => tree.relWrites().map(([f, v]) => `${posix.basename(f)} ${v}`);
  /** Applies rules; asserts that whatever is allowed before and after stays allowed at every step. */
  const update = (devices: LinuxDeviceCgroup[], first = false) => {
    tree.clearWrites();
    snapshots.length = 0;
    const before = new Set(allowedSet());
    m.apply({ devices });
    const after = new Set(allowedSet());
    // The first rules of a new cgroup (allow-all) start with "deny all": nothing ran there yet.
    if (!first) for (const [i, snap] of snapshots.entries()) {
      const s = new Set(snap);
      for (const p of before) if (after.has(p)) assert.ok(s.has(p), `${p} denied after write ${i} (${devWrites()[i]})`);
    }
    return { writes: devWrites(), before, after };
  };
  return { tree, kernel, m, update, state };
}

const DEFAULTS = DEFAULT_DEVICE_RULES as LinuxDeviceCgroup[];
const DENY_ALL: LinuxDeviceCgroup = { allow: false, access: 'rwm' };

test('v1 create: deny all, then the rules in runc\'s order (so devices.list reads as under runc)', (t) => {
  const { update, kernel } = setup(t);
  const { writes } = update([DENY_ALL, ...DEFAULTS], true);
  assert.deepEqual(writes.slice(0, 4), ['devices.deny a *:* rwm', 'devices.allow b *:* m', 'devices.allow c *:* m', 'devices.allow c 1:3 rwm']);
  assert.equal(writes.at(-1), 'devices.allow c 136:* rwm');
  assert.equal(writes.length, 1 + DEFAULTS.length);
  assert.equal(kernel.allowed('c', 1, 3, 'rw'), true);
  assert.equal(kernel.allowed('b', 8, 0, 'r'), false);
});

test('v1 update of a running container: only the difference, no moment of "deny all"', (t) => {
  const { update, kernel } = setup(t);
  update([DENY_ALL, ...DEFAULTS, { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' }], true);
  const { writes, before, after } = update([DENY_ALL, ...DEFAULTS, { allow: true, type: 'b', major: 8, minor: 0, access: 'rw' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }]);
  assert.deepEqual(writes, ['devices.deny c 1:3 w', 'devices.deny c 10:229 rwm', 'devices.allow b 8:0 rw']);
  assert.ok(before.has('c 1 5 rw') && after.has('c 1 5 rw'));
  assert.equal(kernel.allowed('b', 8, 0, 'rw'), true);
  assert.equal(kernel.allowed('c', 10, 229, 'r'), false);
  assert.equal(kernel.allowed('c', 1, 3, 'w'), false);
  // The same rules again: nothing to write.
  assert.deepEqual(update([DENY_ALL, ...DEFAULTS, { allow: true, type: 'b', major: 8, minor: 0, access: 'rw' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }]).writes, []);
});

test('v1 update to and from "allow all" (privileged) never denies everything first', (t) => {
  const { update, kernel } = setup(t);
  update([DENY_ALL, ...DEFAULTS], true);
  assert.deepEqual(update([{ allow: true, access: 'rwm' }]).writes, ['devices.allow a *:* rwm']);
  assert.equal(kernel.allowAll, true);
  // A privileged container restricted by a black-list: allow all stays, the deny is added.
  assert.deepEqual(update([{ allow: true, access: 'rwm' }, { allow: false, type: 'b', major: 8, access: 'rwm' }]).writes, ['devices.allow a *:* rwm', 'devices.deny b 8:* rwm']);
  assert.equal(kernel.allowed('b', 8, 1, 'r'), false);
  assert.equal(kernel.allowed('b', 9, 1, 'r'), true);
});

test('v1 update refused before any write: a hole in a wildcard rule; a kernel that disagrees is reported', (t) => {
  const { update, m, tree, state } = setup(t);
  update([DENY_ALL, { allow: true, type: 'c', access: 'rwm' }], true);
  tree.clearWrites();
  assert.throws(() => m.apply({ devices: [DENY_ALL, { allow: true, type: 'c', access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'r' }] }), /cannot punch hole in existing wildcard rule "c \*:\* rwm"/);
  assert.deepEqual(tree.relWrites(), []);
  // devices.list not showing what was written is an error (runc's final check).
  state.muted = true;
  assert.throws(() => m.apply({ devices: [DENY_ALL, { allow: true, type: 'c', access: 'rwm' }, { allow: true, type: 'b', major: 7, access: 'r' }] }), /resulting devices cgroup doesn't precisely match target/);
});
